"""google/cel-spec's own conformance tests (vendored under tests/data/cel-spec) on the fast evaluator."""

from __future__ import annotations

import collections

import pytest

from .celspec import FILES, run_suite

# Everything the engine refuses is refused for one of these reasons, at load time, with a message.
REJECTION_KINDS = (
    "needs container",  # protobuf message types
    "message construction",  # google.protobuf.Int64Value{...} and friends
    "unsupported function 'timestamp'",
    "unsupported function 'duration'",
    "undeclared reference",  # unbound names are load-time errors here, not run-time ones
    "unsupported function 'f_unknown'",
    "syntax error",  # backquoted field names (a newer syntax the grammar lacks)
)


@pytest.fixture(scope="module")
def results() -> list:  # type: ignore[type-arg]
    return run_suite()


def test_no_conformance_test_is_evaluated_wrongly(results: list) -> None:  # type: ignore[type-arg]
    failures = [
        f"{r.file}/{r.section}/{r.name}: {r.expr!r}: {r.detail}" for r in results if r.outcome == "fail"
    ]
    assert failures == []


def test_pass_count_does_not_regress(results: list) -> None:  # type: ignore[type-arg]
    counts = collections.Counter(r.outcome for r in results)
    assert counts["pass"] >= 758
    assert counts["pass"] + counts["rejected"] == len(results) == 846
    per_file = collections.Counter(r.file for r in results if r.outcome == "pass")
    # The core files run completely.
    for name in ("logic", "lists", "string", "integer_math", "macros"):
        assert per_file[name] == sum(1 for r in results if r.file == name), name
    assert set(per_file) == set(FILES)


def test_every_rejection_is_a_clear_load_time_refusal(results: list) -> None:  # type: ignore[type-arg]
    unexplained = [
        f"{r.name}: {r.detail}"
        for r in results
        if r.outcome == "rejected" and not any(kind in r.detail for kind in REJECTION_KINDS)
    ]
    assert unexplained == []
