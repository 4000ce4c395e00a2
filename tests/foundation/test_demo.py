"""``wecare demo``: a fresh data dir with something of everything, made through the product's services."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.bootstrap import build_embedded
from gateway.cli.main import build_parser
from gateway.config import load_settings


def test_the_demo_data_dir_has_every_consent_state_a_live_window_a_refusal_and_a_dead_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "demo"
    args = build_parser().parse_args(["demo", "--data-dir", str(data)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "password:" in out and f"serve --data-dir {data.resolve()}" in out

    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data))
    try:
        contacts = {
            c["name"]: c
            for c in container.tables["Contacts"].scan(limit=100).items
            if c.get("kind") == "contact"
        }
        assert len(contacts) == 4
        states = {
            name: (c.get("optInWhatsApp"), c.get("optInSms"), c.get("optInEmail"))
            for name, c in contacts.items()
        }
        assert states["Amelia Hughes"] == (True, True, True)
        assert states["Ben Carter"] == (True, False, False)
        assert states["Chloe Evans"] == (False, False, True)
        assert states["Daniel Okafor"] == (False, False, False)
        # The conversation is dated now: its window is open for a free-form reply.
        amelia = contacts["Amelia Hughes"]
        assert time.time() - float(amelia["lastInboundMessageAt"]) < 3600
        messages = [
            m for m in container.tables["Messages"].scan(limit=100).items if m.get("kind") == "message"
        ]
        by_status: dict[str, list[dict[str, object]]] = {}
        for message in messages:
            by_status.setdefault(f"{message['direction']}:{message['status']}", []).append(message)
        assert len(by_status["inbound:received"]) == 1
        assert by_status["inbound:received"][0]["contactId"] == amelia["contactId"]
        assert len(by_status["outbound:sent"]) == 2  # the reply and the template, in DRY_RUN
        (refused,) = by_status["outbound:rejected"]
        assert "TEMPLATE_REQUIRED" in refused["decision"]["reasons"]
        assert all(m.get("sendMode") in (None, "DRY_RUN") for m in messages)
        assert container.dlq is not None
        listed = container.dlq.list_messages(queue="inbound-dlq")
        assert len(listed["items"]) == 1
    finally:
        container.close()

    # A second run never mixes demo data into a data dir that has some.
    again = build_parser().parse_args(["demo", "--data-dir", str(data)])
    assert again.func(again) == 1
    assert "fresh --data-dir" in capsys.readouterr().err
