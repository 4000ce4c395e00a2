"""The policy input schema: API validation, the linter's types, and fail-closed normalisation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from gateway.policy.schema import INPUT_NAMES, INPUT_TYPES, PolicyInput, normalize

from .conftest import BASE_INPUT, policy_input
from .strategies import corrupted_inputs


def test_the_design_document_example_is_a_valid_input() -> None:
    PolicyInput.model_validate(BASE_INPUT)
    assert {"now", "request", "contact", "environment", "tier"} == INPUT_NAMES
    assert INPUT_TYPES["contact"]["optInSms"] == "bool"
    assert INPUT_TYPES["request"]["channel"] == "string"
    assert INPUT_TYPES["tier"]["used24h"] == "int"
    assert INPUT_TYPES["now"] == "int"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"contact": {"optInSms": "true"}}, "contact.optInSms"),
        ({"contact": {"optInSms": 1}}, "contact.optInSms"),
        ({"request": {"channel": "fax"}}, "request.channel"),
        ({"request": {"bodyLength": -1}}, "request.bodyLength"),
        ({"tier": {"limit": "250"}}, "tier.limit"),
        ({"tier": {"extra": 1}}, "tier.extra"),
        ({"now": None}, "now"),
    ],
)
def test_strict_validation_names_the_field(patch: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        PolicyInput.model_validate(policy_input(**patch))
    assert field in {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}


def test_a_conforming_document_is_used_as_it_is() -> None:
    doc = policy_input()
    normalized, problems = normalize(doc)
    assert normalized is doc and problems == ()


def test_wrong_types_are_dropped_not_coerced() -> None:
    doc = policy_input(
        contact={"optInWhatsApp": "true", "optInSms": 1}, tier={"used24h": 12.5, "limit": 2**70}
    )
    normalized, problems = normalize(doc)
    assert "optInWhatsApp" not in normalized["contact"] and "optInSms" not in normalized["contact"]
    assert "used24h" not in normalized["tier"] and "limit" not in normalized["tier"]
    assert len(problems) == 4
    assert doc["contact"]["optInWhatsApp"] == "true"  # the caller's document is untouched


def test_times_are_truncated_and_unknown_fields_dropped() -> None:
    normalized, problems = normalize({**policy_input(now=1.7e9 + 0.9), "params": {"x": 1}})
    assert normalized["now"] == 1_700_000_000
    assert "params" not in normalized
    assert problems == ("params: unknown field; ignored",)
    normalized, problems = normalize(policy_input(now=float("nan")))
    assert "now" not in normalized and problems


@settings(max_examples=300, deadline=None, database=None)
@given(doc=corrupted_inputs())
def test_normalized_documents_are_always_well_typed(doc: dict[str, Any]) -> None:
    normalized, _ = normalize(doc)
    expected = {"int": int, "bool": bool, "string": str}
    for name, value in normalized.items():
        spec = INPUT_TYPES[name]
        if isinstance(spec, dict):
            for field, item in value.items():
                assert type(item) is expected[spec[field]], (name, field, item)
        else:
            assert type(value) is expected[spec]
    assert normalize(normalized) == (normalized, ())


def test_a_document_from_before_a_field_existed_gets_its_default_and_still_evaluates() -> None:
    doc = policy_input()
    del doc["contact"]["whatsappUnreachable"]  # a stored input from bundle 1.0.0
    normalized, problems = normalize(doc)
    assert normalized["contact"]["whatsappUnreachable"] is False and problems == ()
    assert normalize(normalized) == (normalized, ())
