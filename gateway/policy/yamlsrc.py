"""YAML text → plain values, remembering the line of every value so problems point at file:line.

Pure (text in, values out). Duplicate keys are an error rather than a silent overwrite, and
only JSON-shaped values are produced (dates stay the strings they were written as).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class Located:
    """A parsed YAML document and where each of its values starts (1-based lines)."""

    value: Any
    lines: dict[Path, int] = field(default_factory=dict)
    block: dict[Path, bool] = field(default_factory=dict)  # value is a block scalar (| or >)
    folded: dict[Path, list[str]] = field(default_factory=dict)  # content lines of a '>' scalar

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def text_line(self, path: Path, line_in_text: int, column: int = 1) -> int:
        """The file line of (``line_in_text``, ``column``), both 1-based, in the string at ``path``."""
        start = self.line(path)
        if not self.block.get(path):
            return start + line_in_text - 1
        source = self.folded.get(path)
        if source is None or line_in_text > 1:
            return start + line_in_text  # a literal block: content starts on the next line
        # A folded block joins its lines with single spaces: find the line holding ``column``.
        offset = column - 1
        for i, text in enumerate(source):
            if offset <= len(text):
                return start + 1 + i
            offset -= len(text) + 1
        return start + len(source)


class YamlError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def load(text: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"not valid YAML: {problem}", line) from None
    located = Located(None)
    if node is None:
        return located
    constructor = yaml.SafeLoader("")
    located.value = _convert(node, (), located, constructor, text.splitlines())
    return located


def _convert(
    node: yaml.Node, path: Path, located: Located, constructor: yaml.SafeLoader, source: list[str]
) -> Any:
    located.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("mapping keys must be plain names", key_node.start_mark.line + 1)
            key = str(key_node.value)
            if key in out:
                raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            out[key] = _convert(value_node, (*path, key), located, constructor, source)
            located.lines[(*path, key)] = (
                value_node.start_mark.line + 1
                if not isinstance(value_node, yaml.ScalarNode) or value_node.style not in ("|", ">")
                else key_node.start_mark.line + 1
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), located, constructor, source) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    if node.style in ("|", ">"):
        located.block[path] = True
        if node.style == ">":
            content = source[node.start_mark.line + 1 : node.end_mark.line + 1]
            located.folded[path] = [line.strip() for line in content if line.strip()]
    if node.tag not in _SCALAR_TAGS:
        return str(node.value)  # timestamps and other exotic tags stay as written
    return constructor.construct_object(node, deep=True)
