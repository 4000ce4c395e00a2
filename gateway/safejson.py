"""JSON from outside (webhooks, cursors, files, queue payloads, config values), decoded defensively.

``json.loads`` is recursive: a document of a few thousand ``[`` raises ``RecursionError``, and one just
under the interpreter's limit parses but then breaks whatever walks it next (validation, ``json.dumps``
when it is stored, a dead letter). So nesting is bounded *before* parsing, with a linear scan that skips
string contents, and every failure is one :class:`JsonInputError` (a ``ValueError``) carrying a message a
person can act on. Callers map it to their own bad-input outcome (400/422, a dead letter, a CLI error).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # far deeper than any payload we accept (EUM events nest about 8 levels)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


class JsonInputError(ValueError):
    """Not JSON we accept: malformed, not UTF-8, or nested deeper than allowed."""


def nesting_depth(text: str, *, stop_after: int | None = None) -> int:
    """The deepest ``[``/``{`` nesting of ``text``, ignoring brackets inside strings.

    Each pass deletes the innermost bracket pairs (in C, via ``re``), so the passes are the depth; with
    ``stop_after`` it gives up one pass past that bound. Mismatched brackets stop the count early: such
    text is not JSON, and the parser says so.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    while brackets and (stop_after is None or depth <= stop_after):
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            break
        depth += 1
    return depth


def loads(data: str | bytes | bytearray, what: str = "the document", *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ``data``; any problem is a :class:`JsonInputError` naming ``what``."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInputError(f"{what} is not UTF-8 text") from None
    else:
        text = data
    if "[" in text or "{" in text:
        depth = nesting_depth(text, stop_after=max_depth)
        if depth > max_depth:
            raise JsonInputError(f"{what} nests more than {max_depth} levels deep, which is not accepted")
    try:
        return json.loads(text)
    except RecursionError:  # only reachable with a max_depth above the interpreter's limit
        raise JsonInputError(f"{what} nests too deeply") from None
    except ValueError as exc:
        raise JsonInputError(f"{what} is not valid JSON: {exc}") from None
