"""Small pre-flight checks shared by the drivers; each raises ContentInvalid with a stable code."""

from __future__ import annotations

import re

from channels.errors import ContentInvalid

_E164 = re.compile(r"\+?([1-9][0-9]{6,14})")
_LINE_BREAKS = ("\r", "\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029")


def e164(number: str, *, field: str = "to") -> str:
    """``+<digits>`` for an E.164 number given with or without the ``+``.

    Formatting characters are refused rather than stripped: a number reaching a driver should already
    be normalised, and guessing here could message the wrong person.
    """
    match = _E164.fullmatch(number)
    if match is None:
        raise ContentInvalid(
            f"{field} must be an E.164 phone number (+ and 7-15 digits), got {number!r}",
            code="RecipientInvalid",
        )
    return "+" + match.group(1)


def single_line(value: str, field: str) -> str:
    """Refuse line breaks, which would let a value inject extra mail headers."""
    if any(ch in value for ch in _LINE_BREAKS) or "\x00" in value:
        raise ContentInvalid(f"{field} must be a single line (no CR/LF)", code="HeaderInjection")
    return value


def non_empty(value: str | None, field: str, *, max_chars: int | None = None) -> str:
    """A text that is not blank and at most ``max_chars`` characters (code points)."""
    if value is None or not value.strip():
        raise ContentInvalid(f"{field} must not be empty", code="ContentEmpty")
    if max_chars is not None and len(value) > max_chars:
        raise ContentInvalid(
            f"{field} is {len(value)} characters; the limit is {max_chars}", code="ContentTooLong"
        )
    return value
