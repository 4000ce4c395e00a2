"""``wecare policy lint``: type errors at file:line instead of POLICY_ERROR in production."""

from __future__ import annotations

import pytest

from gateway.policy.bundle import Bundle, parse_bundle
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import Problem
from gateway.policy.lint import lint_bundle

from .conftest import policy_input
from .test_bundle import edit


def lint(files: dict[str, str]) -> list[Problem]:
    return lint_bundle(parse_bundle(files))


def errors(files: dict[str, str]) -> list[Problem]:
    return [p for p in lint(files) if p.severity == "error"]


def line_of(files: dict[str, str], name: str, text: str) -> int:
    return next(i for i, line in enumerate(files[name].splitlines(), 1) if text in line)


def test_the_shipped_bundle_lints_clean(bundle: Bundle) -> None:
    assert lint_bundle(bundle) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "fragment"),
    [
        (
            "opt-in.yaml",
            "contact.optInSms",
            "contact.optinSms",
            "contact has no field 'optinSms' (did you mean 'optInSms'?)",
        ),
        (
            "opt-in.yaml",
            "contact.optInSms",
            "contacts.optInSms",
            "undeclared reference to 'contacts' (did you mean",
        ),
        (
            "allowlist.yaml",
            "params.whatsapp.allowlist",
            "params.whatsapp.allowlst",
            "params.whatsapp has no field",
        ),
        ("tier.yaml", "tier.used24h < tier.limit", "tier.used24h < 'x'", "cannot order int and string"),
        (
            "tier.yaml",
            "tier.used24h < tier.limit",
            "tier.used24h + 1",
            "rule tier-limit must be a bool, but this is a int",
        ),
        (
            "contact.yaml",
            "expression: contact.found",
            "expression: contact.found == 'yes'",
            "comparing bool with string",
        ),
        (
            "window.yaml",
            "now < contact.lastInboundMessageAt",
            "now + 0.5 < contact.lastInboundMessageAt",
            "no '+' for int and double",
        ),
        (
            "window.yaml",
            'variables.windowOpen"\n    reason: TEMPLATE_REQUIRED',
            'variables.windowOpn"\n    reason: TEMPLATE_REQUIRED',
            "variables has no field 'windowOpn'",
        ),
        ("content.yaml", "request.bodyLength > 0", "size(request.bodyLength) > 0", "size() needs a string"),
        (
            "ai-approval.yaml",
            "request.approvedBy.matches('\\\\S')",
            "request.approvedBy.matches('(')",
            "invalid regular expression",
        ),
        (
            "content.yaml",
            "request.kind == 'email'",
            "request.kind == 'email' && !request.channel",
            "'!' needs bool",
        ),
    ],
)
def test_type_errors_are_reported_at_their_line(
    bundle_files: dict[str, str], file: str, old: str, new: str, fragment: str
) -> None:
    files = edit(bundle_files, file, old, new)
    found = errors(files)
    assert len(found) == 1, found
    (problem,) = found
    assert fragment in problem.message
    assert problem.file == file
    assert problem.line == line_of(files, file, new.split("\n", maxsplit=1)[0])


def test_a_message_expression_must_be_a_string(bundle_files: dict[str, str]) -> None:
    files = edit(
        bundle_files,
        "tier.yaml",
        "      'WhatsApp tier use is ' + string(tier.used24h)",
        "      tier.used24h",
    )
    files = edit(
        files, "tier.yaml", "      + ' business-initiated conversations in the last 24 hours.'\n", ""
    )
    files = edit(files, "tier.yaml", "+ ' of ' + string(tier.limit)", "")
    (problem,) = errors(files)
    assert "messageExpression of rule tier-near-limit must be a string" in problem.message


def test_warnings_for_missing_headers_and_unused_variables(bundle_files: dict[str, str]) -> None:
    text = bundle_files["contact.yaml"]
    body = text[text.index("name: contact") :]
    files = {**bundle_files, "contact.yaml": body}
    files = edit(
        files, "window.yaml", "variables:\n", "variables:\n  - name: spare\n    expression: now > 0\n"
    )
    problems = lint(files)
    assert all(p.severity == "warning" for p in problems)
    messages = {(p.file, p.message.split(":")[0]) for p in problems}
    assert ("contact.yaml", "no header comment") in messages
    assert ("window.yaml", "variable 'spare' is never used") in messages


def test_unsupported_cel_is_an_error_not_a_runtime_surprise(bundle_files: dict[str, str]) -> None:
    files = edit(bundle_files, "contact.yaml", "expression: contact.found", "expression: timestamp(now) > 0")
    (problem,) = errors(files)
    assert "unsupported function 'timestamp'" in problem.message
    assert problem.line == line_of(files, "contact.yaml", "timestamp(now)")


def test_without_lint_a_misspelt_field_would_deny_every_sms(bundle_files: dict[str, str]) -> None:
    files = edit(bundle_files, "opt-in.yaml", "contact.optInSms", "contact.optinSms")
    # The evaluator compiles it (it does not know field names) and fails closed at run time …
    engine = PolicyEngine(parse_bundle(files))
    decision = engine.evaluate(policy_input(request={"channel": "sms", "phoneNumberId": ""}))
    assert decision.reasons == ["POLICY_ERROR"]
    assert [(v.policy, v.rule) for v in decision.violations] == [("opt-in", "sms-opt-in")]
    # … which lint (and therefore load_bundle) turns into an error before anything runs.
    assert [p.message for p in errors(files)] == [
        "contact has no field 'optinSms' (did you mean 'optInSms'?); it has: "
        + ", ".join(
            sorted(
                [
                    "found",
                    "deleted",
                    "optInWhatsApp",
                    "optInSms",
                    "optInEmail",
                    "hasPhone",
                    "hasEmail",
                    "lastInboundMessageAt",
                    "whatsappUnreachable",
                ]
            )
        ),
    ]
