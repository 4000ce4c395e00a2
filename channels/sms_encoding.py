"""SMS encoding and segment counting (pure functions; the gateway stores the figures with the message).

Rules (3GPP TS 23.038 / 23.040):

- **GSM-7** when every character is in the GSM 03.38 default alphabet or its extension table. Default
  characters cost 1 septet; extension characters (``^ { } \\ [ ~ ] | €`` and form feed) cost 2, because
  they are sent as ESC + character.
- **UCS-2** otherwise (a single character outside GSM-7 switches the whole message). Length is counted
  in UTF-16 code units, as handsets and AWS do, so a character outside the BMP (most emoji) costs 2.
- One SMS holds 160 septets / 70 units. A longer message is concatenated and each part loses room to
  the 6-byte concatenation header: 153 septets / 67 units per part.
- A part never ends between the two septets of an escape pair or the two halves of a surrogate pair;
  such a character moves whole to the next part (leaving the previous part one unit short).

Counting is per code point (Python ``str``), so a grapheme built from several code points (flags,
ZWJ emoji sequences, combining accents) may still be split between parts — exactly as handsets do.
The figures are our estimate of what AWS will bill; AWS decides the real encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7: Encoding = "GSM-7"
UCS2: Encoding = "UCS-2"

SINGLE_LIMIT: dict[Encoding, int] = {GSM7: 160, UCS2: 70}
PART_LIMIT: dict[Encoding, int] = {GSM7: 153, UCS2: 67}

# GSM 03.38 default alphabet, in code order (0x1B, the escape, is not a character and is left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + code, 2 septets.
GSM7_EXTENSION = frozenset("\x0c^{}\\[~]|€")


@dataclass(frozen=True)
class Segmentation:
    encoding: Encoding
    characters: int  # code points
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment_limit: int  # 160/70 for a single SMS, 153/67 per part otherwise

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "perSegmentLimit": self.per_segment_limit,
        }


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encoding_of(text: str) -> Encoding:
    return GSM7 if is_gsm7(text) else UCS2


def char_units(ch: str, encoding: Encoding) -> int:
    """What one character costs: septets for GSM-7, UTF-16 code units for UCS-2."""
    if encoding == GSM7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def total_units(text: str, encoding: Encoding | None = None) -> int:
    enc = encoding or encoding_of(text)
    return sum(char_units(ch, enc) for ch in text)


def split_segments(text: str) -> list[str]:
    """The parts the text is sent as; ``"".join(parts) == text`` and each part fits its limit."""
    enc = encoding_of(text)
    if total_units(text, enc) <= SINGLE_LIMIT[enc]:
        return [text]
    limit = PART_LIMIT[enc]
    parts: list[str] = []
    start = 0
    used = 0
    for index, ch in enumerate(text):
        cost = char_units(ch, enc)
        if used + cost > limit:  # the whole character moves on: pairs are never split
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


def analyze(text: str) -> Segmentation:
    enc = encoding_of(text)
    units = total_units(text, enc)
    if units <= SINGLE_LIMIT[enc]:
        return Segmentation(enc, len(text), units, 1, SINGLE_LIMIT[enc])
    return Segmentation(enc, len(text), units, len(split_segments(text)), PART_LIMIT[enc])


def segment_count(text: str) -> int:
    return analyze(text).segments
