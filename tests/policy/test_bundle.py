"""Loading the bundle: schema validation with file:line, the digest, params, header comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy.bundle import Bundle, digest, parse_bundle
from gateway.policy.errors import BundleError
from gateway.policy.lint import lint_bundle
from gateway.policy.loader import load_bundle

from .conftest import POLICIES


def problems_of(files: dict[str, str]) -> list[str]:
    with pytest.raises(BundleError) as info:
        parse_bundle(files)
    return [str(p) for p in info.value.problems]


def edit(files: dict[str, str], name: str, old: str, new: str) -> dict[str, str]:
    assert old in files[name], f"{old!r} not in {name}"
    return {**files, name: files[name].replace(old, new, 1)}


def test_the_shipped_bundle_loads(bundle: Bundle) -> None:
    assert bundle.name == "wecare"
    assert bundle.version == "1.2.0"
    assert bundle.digest.startswith("sha256:") and len(bundle.digest) == 7 + 64
    assert len(bundle.rules()) >= 14
    assert bundle.changelog[0].version == bundle.version
    assert "bundle.yaml" in bundle.files and "params.yaml" in bundle.files


def test_params_hold_every_limit_the_code_reads(bundle: Bundle) -> None:
    params = bundle.params
    assert params["whatsapp"]["allowlist"] == [
        "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54",
        "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06",
    ]
    assert params["rateLimits"]["whatsapp"] == {"perPhoneNumberPerSecond": 80, "accountPerSecond": 1000}
    assert params["rateLimits"]["sms"]["perSecond"] == 5
    assert params["rateLimits"]["email"]["perSecond"] == 10
    assert params["tier"] == {"defaultLimit": 250, "windowSeconds": 86400, "warnAtPercent": 80}
    assert params["content"]["whatsapp"] == {"textMaxChars": 4096, "captionMaxChars": 1024}
    assert params["content"]["sms"]["maxChars"] == 1600


def test_every_policy_file_carries_a_header_for_the_compliance_officer(bundle: Bundle) -> None:
    for policy in bundle.policies:
        assert "Requirement" in policy.header, policy.file
        assert len(policy.header.splitlines()) >= 3, policy.file


def test_any_edit_changes_the_digest_even_a_comment(bundle_files: dict[str, str]) -> None:
    original = digest(bundle_files)
    assert parse_bundle(bundle_files).digest == original
    commented = edit(bundle_files, "window.yaml", "# The WhatsApp", "# The  WhatsApp")
    assert parse_bundle(commented).digest != original
    limit = edit(bundle_files, "params.yaml", "warnAtPercent: 80", "warnAtPercent: 81")
    assert parse_bundle(limit).digest != original


def test_the_digest_ignores_line_endings_and_byte_order_marks(bundle_files: dict[str, str]) -> None:
    windows = {name: "\ufeff" + text.replace("\n", "\r\n") for name, text in bundle_files.items()}
    assert parse_bundle(windows).digest == parse_bundle(bundle_files).digest


def test_unknown_keys_are_errors_with_file_line_and_a_suggestion(bundle_files: dict[str, str]) -> None:
    files = edit(
        bundle_files,
        "opt-in.yaml",
        "    action: deny\n  - name: sms-opt-in",
        "    action: deny\n    mesage: typo\n  - name: sms-opt-in",
    )
    (problem,) = problems_of(files)
    line = files["opt-in.yaml"].splitlines().index("    mesage: typo") + 1
    assert problem.startswith(f"opt-in.yaml:{line}: error: unknown key 'mesage' in a rule")
    assert "did you mean 'message'" in problem


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("    action: deny\n", "    action: block\n", "action must be one of deny, warn, audit"),
        ("    reason: OPT_IN_REQUIRED\n", "    reason: POLICY_ERROR\n", "POLICY_ERROR is reserved"),
        ("    reason: OPT_IN_REQUIRED\n", "    reason: opt-in\n", "must be an upper-case code"),
        ("  - name: sms-opt-in\n", "  - name: whatsapp-opt-in\n", "defined twice"),
        ("name: opt-in\n", "name: Opt In\n", "lower-case words"),
        ("    expression: contact.optInSms\n", "    expression: 12\n", "must be a non-empty string"),
        ("rules:\n", "rulez:\n", "unknown key 'rulez'"),
    ],
)
def test_policy_schema_violations_are_reported(
    bundle_files: dict[str, str], old: str, new: str, fragment: str
) -> None:
    problems = problems_of(edit(bundle_files, "opt-in.yaml", old, new))
    assert any(fragment in p and p.startswith("opt-in.yaml:") for p in problems), problems


def test_bundle_yaml_is_validated(bundle_files: dict[str, str]) -> None:
    assert any(
        "semantic version" in p for p in problems_of(edit(bundle_files, "bundle.yaml", "1.2.0", "one"))
    )
    bumped = edit(bundle_files, "bundle.yaml", "version: 1.2.0", "version: 1.3.0")
    assert any("no entry for version 1.3.0" in p for p in problems_of(bumped))
    missing = edit(bundle_files, "bundle.yaml", "  - tier.yaml\n", "  - tier.yaml\n  - nowhere.yaml\n")
    assert any("nowhere.yaml does not exist" in p for p in problems_of(missing))
    stray = {**bundle_files, "extra.yaml": "name: extra\n"}
    assert any(p.startswith("extra.yaml") and "not listed" in p for p in problems_of(stray))
    no_bundle = {k: v for k, v in bundle_files.items() if k != "bundle.yaml"}
    assert any("no bundle.yaml" in p for p in problems_of(no_bundle))


def test_params_are_validated_with_lines(bundle_files: dict[str, str]) -> None:
    files = edit(bundle_files, "params.yaml", "    perSecond: 5", "    perSecond: five")
    (problem,) = problems_of(files)
    line = files["params.yaml"].splitlines().index("    perSecond: five") + 1
    assert problem.startswith(f"params.yaml:{line}:") and "rateLimits.sms.perSecond" in problem
    unknown = edit(
        bundle_files, "params.yaml", "  windowSeconds: 86400\n", "  windowSeconds: 86400\n  extra: 1\n"
    )
    assert any("whatsapp.extra: unknown key" in p for p in problems_of(unknown))
    empty = edit(
        bundle_files,
        "params.yaml",
        "    - phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54\n"
        "    - phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06\n",
        "    []\n",
    )
    assert problems_of(empty)


def test_yaml_errors_and_duplicate_keys_point_at_their_line(bundle_files: dict[str, str]) -> None:
    dup = edit(
        bundle_files, "contact.yaml", "description: The recipient", "name: again\ndescription: The recipient"
    )
    assert any("duplicate key 'name'" in p and p.startswith("contact.yaml:") for p in problems_of(dup))
    broken = {**bundle_files, "contact.yaml": "name: [unclosed\n"}
    assert any(p.startswith("contact.yaml:") and "not valid YAML" in p for p in problems_of(broken))


def test_cel_errors_point_at_the_file_line_of_the_expression(
    tmp_path: Path, bundle_files: dict[str, str]
) -> None:
    files = edit(
        bundle_files,
        "tier.yaml",
        "    expression: tier.used24h < tier.limit",
        "    expression: tier.used24h < < tier.limit",
    )
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(BundleError) as info:
        load_bundle(tmp_path)
    line = files["tier.yaml"].splitlines().index("    expression: tier.used24h < < tier.limit") + 1
    assert [(p.file, p.line) for p in info.value.problems] == [("tier.yaml", line)]
    assert "syntax error" in info.value.problems[0].message


def test_a_misspelt_field_stops_the_bundle_from_loading(tmp_path: Path, bundle_files: dict[str, str]) -> None:
    files = edit(bundle_files, "opt-in.yaml", "expression: contact.optInSms", "expression: contact.optinSms")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(BundleError) as info:
        load_bundle(tmp_path)
    (problem,) = info.value.problems
    assert problem.file == "opt-in.yaml"
    assert files["opt-in.yaml"].splitlines()[problem.line - 1].strip() == "expression: contact.optinSms"
    assert "did you mean 'optInSms'" in problem.message


def test_a_block_scalar_expression_reports_the_line_inside_it(bundle_files: dict[str, str]) -> None:
    files = edit(
        bundle_files,
        "send-mode.yaml",
        "|| (environment.sendMode == 'LIVE' && environment.name",
        "|| (environment.sendMode == 'LIVE' && environment.nam",
    )
    problems = [p for p in lint_bundle(parse_bundle(files)) if p.severity == "error"]
    (problem,) = problems
    assert "environment.nam" in files["send-mode.yaml"].splitlines()[problem.line - 1]


def test_load_bundle_reports_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such policy folder"):
        load_bundle(tmp_path / "absent")


def test_loading_reads_the_folder_not_a_cached_copy(tmp_path: Path) -> None:
    for path in POLICIES.iterdir():
        (tmp_path / path.name).write_text(path.read_text())
    first = load_bundle(tmp_path)
    text = (tmp_path / "params.yaml").read_text().replace("maxChars: 1600", "maxChars: 1500")
    (tmp_path / "params.yaml").write_text(text)
    second = load_bundle(tmp_path)
    assert second.params["content"]["sms"]["maxChars"] == 1500
    assert second.digest != first.digest


def test_with_rule_expression_changes_one_rule_only(bundle: Bundle) -> None:
    mutant = bundle.with_rule_expression("opt-in", "sms-opt-in", "true")
    changed = [
        (p.name, r.name)
        for (p, r), (_, o) in zip(mutant.rules(), bundle.rules(), strict=True)
        if r.expression.source != o.expression.source
    ]
    assert changed == [("opt-in", "sms-opt-in")]
    assert mutant.digest != bundle.digest
