"""``wecare policy test|lint|explain|replay`` end to end through the command line entry point."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from gateway.cli.main import main
from gateway.clock import FakeClock
from gateway.policy.engine import PolicyEngine
from gateway.store.sqlite import SqliteTables

from .conftest import CASES, POLICIES, policy_input


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def policies_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def test_policy_test_passes_with_full_coverage_and_no_surviving_mutant(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "reports" / "policy.xml"
    code, out, _ = run(
        capsys,
        "policy",
        "test",
        "--policies",
        str(POLICIES),
        "--cases",
        str(CASES),
        "--min-coverage",
        "100",
        "--mutate",
        "--junit",
        str(junit),
    )
    assert code == 0, out
    assert "PASS  free-form text at exactly 24 hours needs a template" in out
    assert "rule coverage: 24/24 rules seen both passing and failing (100.0 %)" in out
    assert "mutation check: 48/48 mutants killed" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"


def test_policy_test_runs_in_the_repository_by_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(POLICIES.parent)
    code, out, _ = run(capsys, "policy", "test", "--quiet", "--format", "json", "--engine", "celpy")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["engine"] == "celpy" and doc["coverage"]["percent"] == 100.0


def test_a_failing_case_prints_expected_and_actual_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "wrong.yaml").write_text(
        "cases:\n  - name: consent is not needed (wrong)\n"
        "    input: {contact: {optInWhatsApp: false}}\n    expect: {allowed: true}\n"
    )
    code, out, _ = run(capsys, "policy", "test", "--policies", str(POLICIES), "--cases", str(tmp_path))
    assert code == 1
    assert f"FAIL  consent is not needed (wrong)  ({tmp_path}/wrong.yaml:2)" in out
    assert "allowed: expected true, got false" in out and out.rstrip().endswith("FAILED")


def test_min_coverage_fails_the_run_below_the_threshold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copy(CASES / "send-mode.yaml", tmp_path / "send-mode.yaml")
    code, out, _ = run(
        capsys,
        "policy",
        "test",
        "--policies",
        str(POLICIES),
        "--cases",
        str(tmp_path),
        "--min-coverage",
        "100",
    )
    assert code == 1
    assert "not covered: contact/contact-exists" in out and "is below the minimum 100 %" in out
    code, _, _ = run(capsys, "policy", "test", "--policies", str(POLICIES), "--cases", str(tmp_path))
    assert code == 0  # no threshold, the cases themselves pass


def test_a_bundle_that_does_not_load_is_reported_with_file_line(
    capsys: pytest.CaptureFixture[str], policies_copy: Path
) -> None:
    path = policies_copy / "opt-in.yaml"
    path.write_text(path.read_text().replace("contact.optInSms", "contact.optinSms"))
    code, _, err = run(capsys, "policy", "test", "--policies", str(policies_copy), "--cases", str(CASES))
    assert code == 1 and f"{path}:" in err and "optinSms" in err
    code, out, _ = run(capsys, "policy", "lint", "--policies", str(policies_copy))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "optinSms" in text)
    assert code == 1
    assert f"{path}:{line}: error: contact has no field 'optinSms' (did you mean 'optInSms'?)" in out
    code, out, _ = run(capsys, "policy", "lint", "--policies", str(policies_copy), "--format", "json")
    assert json.loads(out)["problems"][0]["line"] == line


def test_lint_of_the_shipped_bundle_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "lint", "--policies", str(POLICIES))
    assert code == 0 and "every expression compiles and type-checks" in out


def test_explain_prints_every_rule_and_variable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = tmp_path / "input.json"
    document.write_text(json.dumps(policy_input(contact={"lastInboundMessageAt": 0})))
    code, out, _ = run(capsys, "policy", "explain", str(document), "--policies", str(POLICIES))
    assert code == 0
    assert out.startswith("decision: DENY  reasons: TEMPLATE_REQUIRED  warnings: FREE_FORM_OUTSIDE_WINDOW")
    assert "    variable windowOpen = false" in out
    assert "  FAIL     template-outside-window" in out and "  SKIPPED  sms-opt-in" in out
    message = tmp_path / "message.json"
    message.write_text(json.dumps({"messageId": "m", "policyInput": policy_input()}))
    code, out, _ = run(
        capsys, "policy", "explain", str(message), "--policies", str(POLICIES), "--format", "json"
    )
    assert code == 0 and json.loads(out)["decision"]["allowed"] is True


def test_explain_refuses_unreadable_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "policy", "explain", str(bad), "--policies", str(POLICIES))
    assert code == 1 and "cannot read the policy input" in err


def _candidate(policies_copy: Path) -> Path:
    params = policies_copy / "params.yaml"
    params.write_text(params.read_text().replace("textMaxChars: 4096", "textMaxChars: 100"))
    bundle = policies_copy / "bundle.yaml"
    bundle.write_text(
        bundle.read_text()
        .replace("version: 1.2.0", "version: 1.3.0")
        .replace(
            "changelog:\n",
            "changelog:\n  - version: 1.3.0\n    changes: [WhatsApp text limited to 100 characters]\n",
        )
    )
    return policies_copy


def test_replay_a_file_of_inputs(
    capsys: pytest.CaptureFixture[str], policies_copy: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        "\n".join(
            json.dumps(doc)
            for doc in (
                policy_input(request={"bodyLength": 500}),
                {
                    "messageId": "msg-2",
                    "policyInput": policy_input(request={"bodyLength": 50}),
                    "decision": {"allowed": True},
                },
            )
        )
        + "\n"
    )
    code, out, _ = run(
        capsys,
        "policy",
        "replay",
        "--candidate",
        str(_candidate(policies_copy)),
        "--policies",
        str(POLICIES),
        "--inputs",
        str(inputs),
    )
    assert code == 0
    assert "2 recorded decisions re-evaluated" in out
    assert "flips: 1 allow→deny, 0 deny→allow" in out
    assert "now refused because of CONTENT_TOO_LONG   e.g. line 1" in out


def test_replay_reads_recorded_messages_from_the_data_dir(
    capsys: pytest.CaptureFixture[str], policies_copy: Path, tmp_path: Path, fast: PolicyEngine
) -> None:
    data_dir = tmp_path / "data"
    tables = SqliteTables(data_dir / "wecare.db", FakeClock(time.time()))
    try:
        for i, length in enumerate((20, 700, 3000)):
            doc = policy_input(request={"bodyLength": length})
            tables["Messages"].put(
                {
                    "messageId": f"msg-{i}",
                    "kind": "message",
                    "direction": "outbound",
                    "contactId": "ct_1",
                    "channel": "whatsapp",
                    "timestamp": time.time(),
                    "status": "sent",
                    "decision": fast.evaluate(doc).to_dict(),
                    "policyInput": doc,
                    "expiresAt": int(time.time()) + 3600,
                }
            )
    finally:
        tables.close()
    code, out, _ = run(
        capsys,
        "policy",
        "replay",
        "--candidate",
        str(_candidate(policies_copy)),
        "--policies",
        str(POLICIES),
        "--data-dir",
        str(data_dir),
        "--format",
        "json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["total"] == 3
    assert report["flips"] == {"allow→deny": 2, "deny→allow": 0}
    assert sorted(report["examples"]["allow→deny"]["CONTENT_TOO_LONG"]) == ["msg-1", "msg-2"]
    assert report["candidate"]["version"] == "1.3.0"


def test_replay_without_recorded_messages_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "policy",
        "replay",
        "--candidate",
        str(POLICIES),
        "--policies",
        str(POLICIES),
        "--data-dir",
        str(tmp_path / "empty"),
    )
    assert code == 1 and "pass --inputs FILE.jsonl" in err
    assert not (tmp_path / "empty").exists()  # replay never creates a store
