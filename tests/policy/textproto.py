"""A small reader for protobuf text format, enough for the CEL conformance data files.

Every field maps to a list of values (fields may repeat); a value is a dict (message), ``bytes``
(a quoted string, undecoded: string fields are UTF-8, bytes fields raw) or ``str`` (a bare
token: number, enum, identifier).
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<ext>\[[^\]]*\])"""
    r"""|(?P<punct>[{}<>:,;\[\]])|(?P<word>[-+]?[\w.]+(?:(?<=[eE])[-+]\d+)?)""",
    re.DOTALL,
)

Message = dict[str, list[Any]]


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read text proto at {text[pos : pos + 40]!r}")
        pos = m.end()
        for kind in ("str", "ext", "punct", "word"):
            if m.group(kind) is not None:
                out.append((kind, m.group(kind)))
                break
    return out


def _unescape(quoted: str) -> bytes:
    body = quoted[1:-1]
    out = bytearray()
    i = 0
    simple = {
        "n": b"\n",
        "t": b"\t",
        "r": b"\r",
        "a": b"\a",
        "b": b"\b",
        "f": b"\f",
        "v": b"\v",
        "\\": b"\\",
        "'": b"'",
        '"': b'"',
        "?": b"?",
    }
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        esc = body[i + 1]
        if esc in simple:
            out += simple[esc]
            i += 2
        elif esc in "xX":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])
            assert m
            out.append(int(m.group(), 16))
            i += 2 + len(m.group())
        elif esc in "uU":
            width = 4 if esc == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode("utf-8")
            i += 2 + width
        else:
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            if not m:
                raise ValueError(f"bad escape in {quoted!r}")
            out.append(int(m.group(), 8))
            i += 1 + len(m.group())
    return bytes(out)


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def message(self, closing: str | None) -> Message:
        msg: Message = {}
        while True:
            tok = self.peek()
            if tok is None:
                if closing is not None:
                    raise ValueError("unexpected end of text proto")
                return msg
            if tok[0] == "punct" and tok[1] == closing:
                self.take()
                return msg
            if tok[0] == "punct" and tok[1] in ",;":
                self.take()
                continue
            kind, name = self.take()
            if kind not in ("ext", "word"):
                raise ValueError(f"expected a field name, got {name!r}")
            nxt = self.peek()
            if nxt is not None and nxt == ("punct", ":"):
                self.take()
                nxt = self.peek()
            assert nxt is not None
            values = msg.setdefault(name, [])
            if nxt[0] == "punct" and nxt[1] == "[":
                self.take()
                while self.peek() != ("punct", "]"):
                    if self.peek() == ("punct", ","):
                        self.take()
                        continue
                    values.append(self.value())
                self.take()
            else:
                values.append(self.value())

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "punct" and text in "{<":
            return self.message("}" if text == "{" else ">")
        if kind == "str":
            data = _unescape(text)
            while self.peek() is not None and self.peek()[0] == "str":  # type: ignore[index]
                data += _unescape(self.take()[1])
            return data
        return text


def parse(text: str) -> Message:
    return _Reader(text).message(None)
