from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sms_encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    PART_LIMIT,
    SINGLE_LIMIT,
    analyze,
    char_units,
    encoding_of,
    segment_count,
    split_segments,
    total_units,
)

GSM_ALPHABET = sorted(GSM7_BASIC | GSM7_EXTENSION)

# (text, encoding, units, segments)
REFERENCE = [
    ("", "GSM-7", 0, 1),
    ("Hello", "GSM-7", 5, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("a" * 459, "GSM-7", 459, 3),
    ("a" * 460, "GSM-7", 460, 4),
    ("a" * 1600, "GSM-7", 1600, 11),
    ("ж" * 70, "UCS-2", 70, 1),
    ("ж" * 71, "UCS-2", 71, 2),
    ("ж" * 134, "UCS-2", 134, 2),
    ("ж" * 135, "UCS-2", 135, 3),
    ("ж" * 1600, "UCS-2", 1600, 24),
    ("€", "GSM-7", 2, 1),
    ("€" * 80, "GSM-7", 160, 1),
    ("€" * 81, "GSM-7", 162, 2),
    ("{}[]~|^\\\x0c", "GSM-7", 18, 1),
    ("😀", "UCS-2", 2, 1),
    ("😀" * 35, "UCS-2", 70, 1),
    ("😀" * 36, "UCS-2", 72, 2),
    ("Grüße aus Köln, ça va? Ñaño £5 ¥3 §2 ¿¡", "UCS-2", 39, 1),  # ç is not in GSM-7 (only Ç)
    ("Grüße aus Köln, Ça va? Ñaño £5 ¥3 §2 ¿¡", "GSM-7", 39, 1),
    ("Price: 10€ {promo}", "GSM-7", 21, 1),
    ("Hello á", "UCS-2", 7, 1),
    ("ΔΦΓΛΩΠΨΣΘΞ", "GSM-7", 10, 1),
    ("a" * 159 + "😀", "UCS-2", 161, 3),  # one emoji turns 160 septets into UCS-2
]


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), REFERENCE)
def test_reference_table(text: str, encoding: str, units: int, segments: int) -> None:
    result = analyze(text)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)
    assert segment_count(text) == segments
    assert result.characters == len(text)


def test_single_and_concatenated_limits() -> None:
    assert analyze("a" * 160).per_segment_limit == 160
    assert analyze("a" * 161).per_segment_limit == 153
    assert analyze("ж" * 70).per_segment_limit == 70
    assert analyze("ж" * 71).per_segment_limit == 67
    assert analyze("ж" * 71).as_dict() == {
        "encoding": "UCS-2",
        "characters": 71,
        "units": 71,
        "segments": 2,
        "perSegmentLimit": 67,
    }


def test_escape_pair_is_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro sign would occupy septets 153 and 154
    parts = split_segments(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert total_units(parts[0], "GSM-7") == 152


def test_surrogate_pair_is_never_split_across_parts() -> None:
    text = "a" * 66 + "😀" + "b" * 10  # the emoji would occupy units 67 and 68
    parts = split_segments(text)
    assert parts == ["a" * 66, "😀" + "b" * 10]


def test_each_extension_char_costs_two_septets_and_basic_one() -> None:
    assert all(char_units(ch, "GSM-7") == 1 for ch in GSM7_BASIC)
    assert all(char_units(ch, "GSM-7") == 2 for ch in GSM7_EXTENSION)
    assert len(GSM7_BASIC) == 127  # 128 codes minus the escape
    assert GSM7_BASIC.isdisjoint(GSM7_EXTENSION)


@given(st.text())
def test_at_least_one_segment(text: str) -> None:
    assert segment_count(text) >= 1


@given(st.text(), st.text(min_size=1))
def test_segments_monotone_in_length(text: str, more: str) -> None:
    assert segment_count(text) <= segment_count(text + more)


@given(st.text(alphabet=GSM_ALPHABET))
def test_gsm7_text_is_never_ucs2(text: str) -> None:
    assert encoding_of(text) == "GSM-7"


@given(st.text(alphabet=GSM_ALPHABET), st.characters(exclude_characters=GSM_ALPHABET))
def test_one_foreign_character_switches_to_ucs2(text: str, foreign: str) -> None:
    assert encoding_of(text + foreign) == "UCS-2"


@given(st.text())
def test_ucs2_units_are_utf16_code_units(text: str) -> None:
    if encoding_of(text) == "UCS-2":
        assert total_units(text) == len(text.encode("utf-16-le")) // 2


def _split_property(text: str) -> None:
    result = analyze(text)
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == result.segments
    limit = SINGLE_LIMIT[result.encoding] if result.segments == 1 else PART_LIMIT[result.encoding]
    assert all(total_units(p, result.encoding) <= limit for p in parts)
    if len(parts) > 1:
        assert all(parts)
        # Greedy: each part is as full as it can be without splitting the next character.
        for part, following in itertools.pairwise(parts):
            assert total_units(part, result.encoding) + char_units(following[0], result.encoding) > limit


@given(st.text(alphabet=GSM_ALPHABET, min_size=140, max_size=700))
def test_split_gsm_parts_reproduce_text_within_limits(text: str) -> None:
    _split_property(text)


@given(st.text(min_size=50, max_size=400))
def test_split_any_parts_reproduce_text_within_limits(text: str) -> None:
    _split_property(text)


@given(st.lists(st.sampled_from(["a", "€", "{", "ж", "😀", " "]), min_size=60, max_size=500).map("".join))
def test_split_with_pairs_reproduces_text_within_limits(text: str) -> None:
    _split_property(text)
