"""``wecare policy replay`` on a real data dir: messages sent (and refused) through the composed product,
then re-decided under a candidate bundle that flips some of them, without touching the store."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import build_embedded
from gateway.cli.main import main
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.outbound.types import OutboundRequest, TemplateContent, TextContent

from .conftest import POLICIES

# Replay reads the store on the real clock and messages expire after 30 days: record them "now".
NOW = float(int(time.time()))


def _store_snapshot(db: Path) -> dict[str, list[Any]]:
    """Every row of every table (read-only connection), to prove replay wrote nothing."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"'))) for name in names}


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A data dir holding sends decided by the shipped bundle; returns it and message ids by label."""
    data_dir = tmp_path / "data"
    clock = FakeClock(NOW)
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data_dir), clock=clock)
    ids: dict[str, str] = {}
    try:
        contacts = container.contacts
        talking = contacts.create(
            {"name": "Ada Window", "phone": "+447812345601", "optInWhatsApp": True}, actor="usr_op"
        )
        contacts.record_inbound(talking["contactId"], NOW - 600)  # window open
        silent = contacts.create(
            {"name": "Bo Silent", "phone": "+447812345602", "optInWhatsApp": True}, actor="usr_op"
        )
        contacts.record_inbound(silent["contactId"], NOW - 2 * 86400)  # wrote two days ago: window closed
        texter = contacts.create(
            {"name": "Cy Sms", "phone": "+447812345603", "optInSms": True}, actor="usr_op"
        )

        def send(label: str, contact: dict[str, Any], channel: str, content: Any) -> None:
            outcome = container.gateway.send(
                OutboundRequest(
                    contact_id=contact["contactId"], channel=channel, content=content, actor="usr_op"
                )
            )
            ids[label] = outcome.message_id

        send("short-reply", talking, "whatsapp", TextContent("Thanks, on its way"))
        send("long-reply", talking, "whatsapp", TextContent("x" * 500))
        send("template", silent, "whatsapp", TemplateContent("order_shipped", "en_GB"))
        send("outside-window", silent, "whatsapp", TextContent("Hello"))
        send("sms", texter, "sms", TextContent("Your code is 1234"))
        messages = {label: container.tables["Messages"].get({"messageId": mid}) for label, mid in ids.items()}
    finally:
        container.close()
    assert {label: m["status"] for label, m in messages.items() if m is not None} == {
        "short-reply": "sent",
        "long-reply": "sent",
        "template": "sent",
        "outside-window": "rejected",
        "sms": "sent",
    }
    return data_dir, ids


def _candidate(tmp_path: Path) -> Path:
    """One stricter parameter, WhatsApp text up to 100 characters (allow→deny for the long reply), and
    one looser, a 30-day window (deny→allow for the free-form text to the contact who wrote 2 days ago)."""
    target = tmp_path / "candidate"
    shutil.copytree(POLICIES, target)
    params = target / "params.yaml"
    text = params.read_text()
    assert "textMaxChars: 4096" in text and "  windowSeconds: 86400\nrateLimits" in text
    params.write_text(
        text.replace("textMaxChars: 4096", "textMaxChars: 100").replace(
            "  windowSeconds: 86400\nrateLimits", "  windowSeconds: 2592000\nrateLimits"
        )
    )
    bundle = target / "bundle.yaml"
    bundle.write_text(bundle.read_text().replace("version: 1.2.0", "version: 1.3.0"))
    return target


def test_replay_reports_the_flips_of_recorded_sends_and_writes_nothing(
    recorded: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, ids = recorded
    db = data_dir / "wecare.db"
    before = _store_snapshot(db)

    code = main(
        [
            "policy",
            "replay",
            "--candidate",
            str(_candidate(tmp_path)),
            "--policies",
            str(POLICIES),
            "--data-dir",
            str(data_dir),
            "--format",
            "json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["total"] == 5  # every recorded outbound decision, allowed and refused
    assert report["drift"] == 0  # recorded under the same bundle the baseline is
    assert report["flips"] == {"allow→deny": 1, "deny→allow": 1}
    assert report["byReason"] == {
        "allow→deny": {"CONTENT_TOO_LONG": 1},
        "deny→allow": {"TEMPLATE_REQUIRED": 1},
    }
    assert report["examples"]["allow→deny"] == {"CONTENT_TOO_LONG": [ids["long-reply"]]}
    assert report["examples"]["deny→allow"] == {"TEMPLATE_REQUIRED": [ids["outside-window"]]}
    assert report["candidate"]["version"] == "1.3.0"
    assert report["baseline"]["digest"] != report["candidate"]["digest"]

    # Text output names the same flips.
    assert (
        main(
            [
                "policy",
                "replay",
                "--candidate",
                str(_candidate(tmp_path / "again")),
                "--policies",
                str(POLICIES),
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "5 recorded decisions re-evaluated (no side effects)" in text
    assert "flips: 1 allow→deny, 1 deny→allow" in text
    assert f"now refused because of CONTENT_TOO_LONG   e.g. {ids['long-reply']}" in text

    # No counters, no sends, no status changes: the store is byte-for-byte what it was.
    assert _store_snapshot(db) == before


def test_replay_under_the_same_bundle_flips_nothing(
    recorded: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _ = recorded
    assert (
        main(
            [
                "policy",
                "replay",
                "--candidate",
                str(POLICIES),
                "--policies",
                str(POLICIES),
                "--data-dir",
                str(data_dir),
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == 5 and report["flips"] == {"allow→deny": 0, "deny→allow": 0}
    assert report["reasonChanges"] == 0 and report["drift"] == 0
