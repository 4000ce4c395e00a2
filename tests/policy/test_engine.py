"""The engine: decisions, fail-closed errors naming the rule, actions, explain, describe."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy.bundle import POLICY_ERROR, Bundle, parse_bundle
from gateway.policy.decision import ERROR, FAIL, PASS, SKIPPED
from gateway.policy.engine import PolicyEngine

from .conftest import ALLOWLISTED, NOW, policy_input
from .test_bundle import edit

ENGINES = ("fast", "celpy")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, fast: PolicyEngine, celpy_engine: PolicyEngine) -> PolicyEngine:
    return fast if request.param == "fast" else celpy_engine


def test_an_allowed_decision_names_the_bundle_and_every_rule(engine: PolicyEngine, bundle: Bundle) -> None:
    decision = engine.evaluate(policy_input())
    assert decision.allowed is True
    assert decision.reasons == [] and decision.violations == [] and decision.warnings == []
    doc = decision.to_dict()
    assert doc["bundle"] == {"name": "wecare", "version": "1.2.0", "digest": bundle.digest}
    assert [(e["policy"], e["rule"]) for e in doc["evaluated"]] == [
        (p.name, r.name) for p, r in bundle.rules()
    ]
    outcomes = {(e["policy"], e["rule"]): e["outcome"] for e in doc["evaluated"]}
    assert outcomes[("opt-in", "whatsapp-opt-in")] == PASS
    assert outcomes[("opt-in", "sms-opt-in")] == SKIPPED


def test_a_deny_reports_every_failing_rule_not_just_the_first(engine: PolicyEngine) -> None:
    decision = engine.evaluate(
        policy_input(
            request={"phoneNumberId": "phone-number-id-unknown", "bodyLength": 5000, "origin": "ai"},
            contact={"optInWhatsApp": False, "lastInboundMessageAt": 0},
            environment={"name": "preview", "sendMode": "LIVE"},
        )
    )
    assert decision.allowed is False
    assert decision.reasons == [
        "OPT_IN_REQUIRED",
        "NOT_ALLOWLISTED",
        "TEMPLATE_REQUIRED",
        "SEND_MODE_FORBIDDEN",
        "CONTENT_TOO_LONG",
        "AI_APPROVAL_REQUIRED",
    ]
    assert decision.warnings == ["FREE_FORM_OUTSIDE_WINDOW"]
    violation = decision.to_dict()["violations"][0]
    assert violation == {
        "policy": "opt-in",
        "rule": "whatsapp-opt-in",
        "reason": "OPT_IN_REQUIRED",
        "message": "The contact has not opted in to WhatsApp messages.",
    }


def test_message_expressions_fill_in_the_details(engine: PolicyEngine) -> None:
    decision = engine.evaluate(policy_input(request={"phoneNumberId": "phone-number-id-x"}))
    assert (
        decision.violations[0].message
        == "Phone-number-id phone-number-id-x is not on the WhatsApp allowlist."
    )
    decision = engine.evaluate(policy_input(tier={"used24h": 240}))
    (notice,) = decision.notices
    assert (
        notice.message
        == "WhatsApp tier use is 240 of 250 business-initiated conversations in the last 24 hours."
    )
    assert notice.action == "warn"


@pytest.mark.parametrize(
    ("patch", "rule"),
    [
        ({"contact": {"optInWhatsApp": None}}, ("opt-in", "whatsapp-opt-in")),
        ({"contact": {"optInWhatsApp": "true"}}, ("opt-in", "whatsapp-opt-in")),
        ({"contact": {"optInWhatsApp": 1}}, ("opt-in", "whatsapp-opt-in")),
        ({"environment": {"sendMode": None}}, ("send-mode", "live-only-in-production")),
        ({"request": {"phoneNumberId": 7}}, ("allowlist", "phone-number-id-allowlisted")),
    ],
)
def test_bad_input_denies_with_policy_error_naming_the_rule(
    engine: PolicyEngine, patch: dict[str, Any], rule: tuple[str, str]
) -> None:
    decision = engine.evaluate(policy_input(**patch))
    assert decision.allowed is False
    assert decision.reasons == [POLICY_ERROR]
    (violation,) = decision.violations
    assert (violation.policy, violation.rule) == rule
    assert "fail closed" in violation.message and violation.error
    assert decision.outcome(*rule) == ERROR


def test_a_wrong_typed_field_is_reported_as_an_input_problem(engine: PolicyEngine) -> None:
    decision = engine.evaluate(policy_input(contact={"optInSms": "yes"}))
    assert decision.input_problems == (
        "contact.optInSms: expected a boolean, got a string; treated as missing",
    )
    assert decision.to_dict()["inputProblems"] == list(decision.input_problems)


@pytest.mark.parametrize("document", [{}, {"request": "whatsapp"}, [], "text", None])
def test_any_document_at_all_is_denied_never_raises(engine: PolicyEngine, document: Any) -> None:
    decision = engine.evaluate(document)
    assert decision.allowed is False
    assert POLICY_ERROR in decision.reasons


def _custom(bundle_files: dict[str, str], old: str, new: str, file: str = "contact.yaml") -> Bundle:
    return parse_bundle(edit(bundle_files, file, old, new))


def test_a_rule_that_returns_a_non_bool_denies(bundle_files: dict[str, str]) -> None:
    for name in ENGINES:
        engine = PolicyEngine(
            _custom(bundle_files, "expression: contact.found", "expression: request.channel"), name
        )
        decision = engine.evaluate(policy_input())
        assert decision.reasons == [POLICY_ERROR]
        assert decision.violations[0].rule == "contact-exists"
        assert "expected a bool" in decision.violations[0].error


def test_an_erroring_policy_match_denies_and_names_the_match(bundle_files: dict[str, str]) -> None:
    bundle = _custom(
        bundle_files,
        "match: request.channel == 'whatsapp'",
        "match: request.channel / 2 == 1",
        "allowlist.yaml",
    )
    for name in ENGINES:
        decision = PolicyEngine(bundle, name).evaluate(policy_input())
        assert [(v.policy, v.rule, v.reason) for v in decision.violations] == [
            ("allowlist", "match", POLICY_ERROR)
        ]
        assert decision.outcome("allowlist", "phone-number-id-allowlisted") == ERROR


def test_a_failing_message_expression_falls_back_to_the_message(bundle_files: dict[str, str]) -> None:
    bundle = _custom(
        bundle_files,
        "'Phone-number-id ' + request.phoneNumberId",
        "'Phone-number-id ' + now",
        "allowlist.yaml",
    )
    for name in ENGINES:
        decision = PolicyEngine(bundle, name).evaluate(policy_input(request={"phoneNumberId": "nope"}))
        assert decision.reasons == ["NOT_ALLOWLISTED"]  # the message never changes the decision
        assert (
            decision.violations[0].message == "The sending phone-number-id is not on the WhatsApp allowlist."
        )


def test_warn_and_audit_never_block(engine: PolicyEngine) -> None:
    decision = engine.evaluate(
        policy_input(
            request={"kind": "template", "templateName": "t"},
            tier={"used24h": 249, "opensConversation": True},
        )
    )
    assert decision.allowed is True
    assert decision.warnings == ["TIER_NEAR_LIMIT"]
    assert decision.audits == ["TEMPLATE_MESSAGE"]
    assert {(n.reason, n.action) for n in decision.notices} == {
        ("TIER_NEAR_LIMIT", "warn"),
        ("TEMPLATE_MESSAGE", "audit"),
    }


def test_times_may_be_floats_and_are_truncated(engine: PolicyEngine) -> None:
    inside = engine.evaluate(policy_input(now=NOW + 0.999, contact={"lastInboundMessageAt": NOW - 3600.7}))
    closed = engine.evaluate(policy_input(now=NOW + 0.25, contact={"lastInboundMessageAt": NOW - 86400.5}))
    assert closed.reasons == ["TEMPLATE_REQUIRED"]
    assert inside.allowed is True and inside.input_problems == ()


def test_the_caller_document_is_never_modified(engine: PolicyEngine) -> None:
    document = policy_input(contact={"optInSms": "yes"})
    snapshot = repr(document)
    engine.evaluate(document)
    engine.explain(document)
    assert repr(document) == snapshot


def test_explain_shows_every_rule_and_the_variables(engine: PolicyEngine) -> None:
    explanation = engine.explain(policy_input(contact={"lastInboundMessageAt": 0}, tier={"used24h": 200}))
    assert explanation["engine"] == engine.engine
    assert explanation["decision"]["reasons"] == ["TEMPLATE_REQUIRED"]
    window = next(p for p in explanation["policies"] if p["policy"] == "window")
    assert window["match"] == {"value": True}
    assert window["variables"] == {"windowOpen": {"value": False}, "freeForm": {"value": True}}
    rules = {r["rule"]: r for r in window["rules"]}
    assert rules["template-outside-window"]["outcome"] == FAIL
    assert rules["template-outside-window"]["message"].startswith(
        "The 24-hour customer service window is closed"
    )
    tier = next(p for p in explanation["policies"] if p["policy"] == "tier")
    assert tier["variables"] == {"nearLimit": {"value": True}}
    contact = next(p for p in explanation["policies"] if p["policy"] == "contact")
    assert contact["match"]["value"] is True and "note" in contact["match"]


def test_explain_reports_variable_errors(engine: PolicyEngine) -> None:
    explanation = engine.explain(policy_input(tier={"used24h": None}))
    tier = next(p for p in explanation["policies"] if p["policy"] == "tier")
    assert "error" in tier["variables"]["nearLimit"]


def test_describe_lists_bundle_files_policies_and_rules(fast: PolicyEngine, bundle: Bundle) -> None:
    doc = fast.describe()
    assert doc["version"] == "1.2.0" and doc["digest"] == bundle.digest
    assert "params.yaml" in doc["files"]
    assert doc["params"]["whatsapp"]["allowlist"][0] == ALLOWLISTED
    window = next(p for p in doc["policies"] if p["name"] == "window")
    assert window["file"] == "window.yaml" and "Requirement 16" in window["header"]
    assert {r["name"] for r in window["rules"]} >= {"template-outside-window"}
    assert "POLICY_ERROR" in doc["reasons"] and "TEMPLATE_REQUIRED" in doc["reasons"]


def test_engine_name_is_validated(bundle: Bundle) -> None:
    with pytest.raises(ValueError, match="engine must be one of fast, celpy"):
        PolicyEngine(bundle, "native")  # type: ignore[arg-type]
