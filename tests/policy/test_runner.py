"""The case runner: expectations, rule coverage, the mutation check, and the shipped cases."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from gateway.policy.bundle import Bundle
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import CaseFileError
from gateway.policy.loader import read_case_files
from gateway.policy.runner import (
    Case,
    Expect,
    check_case,
    merge,
    mutate,
    parse_cases,
    reason_codes,
    run_cases,
)

from .conftest import CASES, policy_input

# Every deny reason code DESIGN.md names; the cases must exercise each one.
DESIGN_REASONS = {
    "CONTACT_NOT_FOUND",
    "CONTACT_DELETED",
    "OPT_IN_REQUIRED",
    "RECIPIENT_ADDRESS_MISSING",
    "NOT_ALLOWLISTED",
    "TEMPLATE_REQUIRED",
    "TIER_LIMIT",
    "SEND_MODE_FORBIDDEN",
    "CONTENT_EMPTY",
    "CONTENT_TOO_LONG",
    "AI_APPROVAL_REQUIRED",
    "POLICY_ERROR",
}


@pytest.fixture(scope="module")
def shipped_cases(bundle: Bundle) -> list[Case]:
    return parse_cases(read_case_files(CASES), reason_codes(bundle))


def case(expect: Expect, **patch: object) -> Case:
    return Case("c", "f.yaml", 1, policy_input(**patch), expect)


def test_merge_patches_recursively_and_null_removes() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge(base, {"a": {"b": 9}, "d": None, "e": [1]}) == {"a": {"b": 9, "c": 2}, "e": [1]}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}


def test_listed_codes_must_be_present_and_exact_forbids_others(fast: PolicyEngine) -> None:
    decision = fast.evaluate(policy_input(contact={"lastInboundMessageAt": 0}))
    assert check_case(case(Expect(False, ("TEMPLATE_REQUIRED",))), decision) == []
    assert check_case(case(Expect(False, ())), decision) == []  # subset: nothing listed, nothing required
    assert check_case(case(Expect(False, (), exact=True)), decision) == [
        "reasons: expected exactly [], got ['TEMPLATE_REQUIRED'] (unexpected ['TEMPLATE_REQUIRED'])"
    ]
    assert check_case(case(Expect(False, ("TEMPLATE_REQUIRED",), warnings=(), exact=True)), decision) == [
        "warnings: expected exactly [], got ['FREE_FORM_OUTSIDE_WINDOW'] "
        "(unexpected ['FREE_FORM_OUTSIDE_WINDOW'])"
    ]
    mismatches = check_case(case(Expect(True, ())), decision)
    assert mismatches == ["allowed: expected true, got false"]
    assert check_case(case(Expect(False, ("TIER_LIMIT",))), decision) == [
        "reasons: expected ['TIER_LIMIT'], got ['TEMPLATE_REQUIRED'] (missing ['TIER_LIMIT'])"
    ]


def test_case_files_are_validated_with_file_and_line(bundle: Bundle) -> None:
    text = """cases:
  - name: ok
    input: {}
    expect: {allowed: false}
  - name: typo
    input: {}
    expect: {allowed: false, reasons: [TEMPLATE_REQUIRD]}
  - name: no expectation
    input: {}
  - name: ok
    inputs: {}
    expect: {allowed: false}
"""
    with pytest.raises(CaseFileError) as info:
        parse_cases({"bad.yaml": text}, reason_codes(bundle))
    problems = [str(p) for p in info.value.problems]
    assert any(
        p.startswith("bad.yaml:7:") and "unknown reason code 'TEMPLATE_REQUIRD'" in p for p in problems
    )
    assert any(p.startswith("bad.yaml:8:") and "expect needs allowed" in p for p in problems)
    assert any(p.startswith("bad.yaml:11:") and "unknown key 'inputs'" in p for p in problems)
    assert any("case name 'ok' is also used at bad.yaml:2" in p for p in problems)


def test_an_allowed_case_cannot_expect_reasons() -> None:
    with pytest.raises(CaseFileError, match="cannot expect deny reasons"):
        parse_cases({"x.yaml": "cases:\n  - name: a\n    expect: {allowed: true, reasons: [TIER_LIMIT]}\n"})


def test_the_shipped_cases_all_pass_on_both_engines(
    shipped_cases: list[Case], fast: PolicyEngine, celpy_engine: PolicyEngine
) -> None:
    for engine in (fast, celpy_engine):
        report = run_cases(engine, shipped_cases, min_coverage=100)
        assert [r.case.name for r in report.failures] == []
        assert report.coverage_percent == 100.0
        assert report.ok


def test_the_shipped_cases_cover_every_reason_code(shipped_cases: list[Case], bundle: Bundle) -> None:
    expected = {
        code
        for c in shipped_cases
        for code in (*c.expect.reasons, *(c.expect.warnings or ()), *(c.expect.audits or ()))
    }
    assert expected >= DESIGN_REASONS
    assert reason_codes(bundle) <= expected  # and every code of the bundle, warnings and audits included
    assert all(
        any(c.expect.allowed for c in shipped_cases if c.file == f) or f.endswith("errors.yaml")
        for f in {c.file for c in shipped_cases}
    )


def test_every_mutant_of_the_shipped_bundle_is_killed(shipped_cases: list[Case], bundle: Bundle) -> None:
    mutants = mutate(bundle, shipped_cases)
    assert len(mutants) == 2 * len(bundle.rules())
    assert [(m.policy, m.rule, m.mutation) for m in mutants if not m.killed] == []


def test_a_weak_suite_leaves_surviving_mutants_and_low_coverage(
    shipped_cases: list[Case], bundle: Bundle, fast: PolicyEngine
) -> None:
    # Only the allow cases: no rule is ever seen failing, and every "true" mutant survives.
    weak = [c for c in shipped_cases if c.expect.allowed]
    report = run_cases(fast, weak, min_coverage=100)
    assert report.coverage_percent < 100 and not report.ok
    report.mutants = mutate(bundle, weak)
    survivors = {(m.rule, m.mutation) for m in report.surviving_mutants}
    assert ("sms-opt-in", "true") in survivors
    assert ("sms-opt-in", "negated") not in survivors  # negation breaks the allowed SMS case
    assert "untested rule: opt-in/sms-opt-in" in report.text()


def test_reports_render_as_text_json_and_junit(shipped_cases: list[Case], fast: PolicyEngine) -> None:
    broken = [
        *shipped_cases[:3],
        Case("wrong on purpose", "x.yaml", 4, policy_input(), Expect(False, ("TIER_LIMIT",))),
    ]
    report = run_cases(fast, broken)
    text = report.text()
    assert "FAIL  wrong on purpose  (x.yaml:4)" in text
    assert 'expected: {"allowed": false, "reasons": ["TIER_LIMIT"]}' in text
    assert '"allowed": true' in text and text.endswith("FAILED")
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["ok"] is False and doc["cases"] == {"total": 4, "passed": 3, "failed": 1}
    root = ET.fromstring(report.junit())
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failed = [tc for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert [tc.get("name") for tc in failed] == ["wrong on purpose"]
