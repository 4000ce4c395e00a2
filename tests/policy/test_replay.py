"""Replay: flips between the current and a candidate bundle, by reason, with examples; no side effects."""

from __future__ import annotations

from gateway.policy.bundle import parse_bundle
from gateway.policy.engine import PolicyEngine
from gateway.policy.replay import ALLOW_TO_DENY, DENY_TO_ALLOW, ReplayRecord, replay

from .conftest import policy_input
from .test_bundle import edit


def test_a_stricter_candidate_reports_allow_to_deny_flips(
    bundle_files: dict[str, str], fast: PolicyEngine
) -> None:
    stricter = PolicyEngine(
        parse_bundle(edit(bundle_files, "params.yaml", "textMaxChars: 4096", "textMaxChars: 100"))
    )
    records = [
        ReplayRecord("short", policy_input(request={"bodyLength": 50})),
        ReplayRecord("long-1", policy_input(request={"bodyLength": 500})),
        ReplayRecord("long-2", policy_input(request={"bodyLength": 4000})),
        ReplayRecord(
            "already-denied", policy_input(contact={"optInWhatsApp": False}, request={"bodyLength": 500})
        ),
    ]
    report = replay(records, fast, stricter, examples_per_reason=1)
    assert report.total == 4
    assert report.counts == {ALLOW_TO_DENY: 2, DENY_TO_ALLOW: 0}
    assert dict(report.by_reason[ALLOW_TO_DENY]) == {"CONTENT_TOO_LONG": 2}
    assert report.examples()[ALLOW_TO_DENY] == {"CONTENT_TOO_LONG": ["long-1"]}
    assert report.reason_changes == 1  # still denied, now for one more reason
    text = report.text()
    assert "flips: 2 allow→deny, 0 deny→allow" in text and "CONTENT_TOO_LONG" in text


def test_a_looser_candidate_reports_deny_to_allow_by_the_reason_that_went_away(
    bundle_files: dict[str, str], fast: PolicyEngine
) -> None:
    looser = PolicyEngine(
        parse_bundle(
            edit(
                bundle_files,
                "params.yaml",
                "    - phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06\n",
                "    - phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06\n    - phone-number-id-new\n",
            )
        )
    )
    records = [
        ReplayRecord(
            "m1", policy_input(request={"phoneNumberId": "phone-number-id-new"}), recorded={"allowed": False}
        )
    ]
    report = replay(records, fast, looser)
    assert report.counts == {ALLOW_TO_DENY: 0, DENY_TO_ALLOW: 1}
    assert dict(report.by_reason[DENY_TO_ALLOW]) == {"NOT_ALLOWLISTED": 1}
    assert report.drift == 0
    doc = report.to_dict()
    assert doc["flipped"] == [
        {
            "id": "m1",
            "direction": DENY_TO_ALLOW,
            "baselineReasons": ["NOT_ALLOWLISTED"],
            "candidateReasons": [],
        }
    ]
    assert doc["candidate"]["digest"] != doc["baseline"]["digest"]


def test_recorded_decisions_that_differ_from_today_count_as_drift(fast: PolicyEngine) -> None:
    records = [ReplayRecord("old", policy_input(), recorded={"allowed": False, "reasons": ["SOMETHING_OLD"]})]
    report = replay(records, fast, fast)
    assert report.drift == 1 and report.flips == [] and "no decision flips" in report.text()
