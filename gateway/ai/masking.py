"""Masking a customer's phone numbers and e-mail addresses before text leaves for a model.

What was masked is returned beside the text (kinds and counts, never the values), so the stored
interaction can say what the knowledge base and the agent did not see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# An e-mail address: local part, @, a dotted domain. Deliberately loose: masking too much is harmless.
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# A phone number: 7 or more digits, optionally led by + and broken by spaces, dots, dashes or
# parentheses (E.164, national formats). Order numbers are rarely this long and unbroken; when they
# are, masking one is the safe mistake.
_PHONE = re.compile(r"(?<![\w@])\+?\(?\d(?:[\s().\-]{0,2}\d){6,14}(?!\w)")

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


@dataclass(frozen=True)
class Masked:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # {"email": 1, "phone": 2}

    def to_json(self) -> dict[str, int]:
        return dict(self.counts)


def mask(text: str) -> Masked:
    counts: dict[str, int] = {}
    out, n = _EMAIL.subn(EMAIL_MASK, text)
    if n:
        counts["email"] = n
    out, n = _PHONE.subn(PHONE_MASK, out)
    if n:
        counts["phone"] = n
    return Masked(out, counts)
