"""The embedded store's item encoder: orjson's speed, the standard library's output and refusals."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import itemjson

_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_it_writes_what_the_standard_encoder_writes(item: dict[str, Any]) -> None:
    doc = itemjson.dumps(item)
    assert json.loads(doc) == json.loads(_STRICT(item))
    assert "\n" not in doc and ", " not in doc.replace('", "', "")  # compact like the strict encoder


def test_non_ascii_text_is_written_as_utf8_not_escaped() -> None:
    assert itemjson.dumps({"name": "Zoë", "city": "東京"}) == '{"name":"Zoë","city":"東京"}'


def test_integers_beyond_64_bits_are_kept_exactly() -> None:
    doc = itemjson.dumps({"n": 2**70 + 1})
    assert doc == '{"n":1180591620717411303425}'
    assert itemjson.loads(doc) == {"n": 2**70 + 1}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_even_beside_a_null(bad: float) -> None:
    for item in ({"x": bad}, {"x": bad, "y": None}, {"nested": [None, {"x": bad}]}):
        with pytest.raises(ValueError):
            itemjson.dumps(item)


@dataclasses.dataclass
class _Point:
    x: int


class _Name(str):
    pass


@pytest.mark.parametrize(
    "bad",
    [datetime.datetime(2026, 1, 1), datetime.date(2026, 1, 1), _Point(1), {1, 2}, b"bytes", object()],
    ids=["datetime", "date", "dataclass", "set", "bytes", "object"],
)
def test_what_the_standard_encoder_refuses_is_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        itemjson.dumps({"x": bad})


def test_a_str_subclass_is_written_as_its_text() -> None:
    assert itemjson.dumps({"x": _Name("a")}) == '{"x":"a"}'
