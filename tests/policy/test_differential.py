"""The fast evaluator against cel-python, the reference: identical decisions on generated inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.policy.engine import PolicyEngine

from .strategies import cheap_policy_inputs, comparable, corrupted_inputs

_SETTINGS = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}


@pytest.mark.slow
# Not traced for coverage: tracing every cel-python call doubles the suite's time for 0.01 % of coverage.
@pytest.mark.no_cover
@settings(max_examples=10_000, **_SETTINGS)  # type: ignore[arg-type]
@given(document=cheap_policy_inputs)
def test_fast_and_reference_engines_decide_identically(
    document: dict[str, Any], fast: PolicyEngine, celpy_engine: PolicyEngine
) -> None:
    assert comparable(fast.evaluate(document).to_dict()) == comparable(
        celpy_engine.evaluate(document).to_dict()
    )


@settings(max_examples=300, **_SETTINGS)  # type: ignore[arg-type]
@given(document=corrupted_inputs())
def test_engines_agree_on_malformed_input_too(
    document: dict[str, Any], fast: PolicyEngine, celpy_engine: PolicyEngine
) -> None:
    expected = comparable(celpy_engine.evaluate(document).to_dict())
    assert comparable(fast.evaluate(document).to_dict()) == expected
