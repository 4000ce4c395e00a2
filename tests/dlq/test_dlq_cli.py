from __future__ import annotations

import argparse
import io
import json

import pytest

from gateway.cli.dlq import list_command, replay_command
from gateway.cli.main import build_parser
from gateway.clock import FakeClock
from gateway.dlq import DlqService
from gateway.queue.memory import MemoryQueues
from gateway.store.memory import MemoryTables


@pytest.fixture
def dlq() -> DlqService:
    clock = FakeClock()
    return DlqService(MemoryTables(clock), MemoryQueues(clock), clock)


def args(**kw: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"queue": None, "status": None, "limit": 50, "max": 10, "format": "text"}
    return argparse.Namespace(**{**defaults, **kw})


def test_parser_knows_the_commands() -> None:
    parsed = build_parser().parse_args(
        ["dlq", "replay", "--queue", "bulk-dlq", "--max", "7", "--data-dir", "/x"]
    )
    assert (parsed.queue, parsed.max, parsed.data_dir) == ("bulk-dlq", 7, "/x")
    parsed = build_parser().parse_args(["dlq", "list", "--status", "parked"])
    assert parsed.status == "parked"
    parsed = build_parser().parse_args(["inbound", "ingest", "a.json", "b.json"])
    assert [str(p) for p in parsed.files] == ["a.json", "b.json"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dlq", "replay", "--queue", "bulk-queue"])


def test_list_and_replay_text(dlq: DlqService) -> None:
    done: list[str] = []
    dlq.register("inbound-dlq", done.append)
    failing: list[str] = []

    def fail(payload: str) -> None:
        failing.append(payload)
        raise ValueError("still broken")

    dlq.register("outbound-dlq", fail)
    dlq.dead_letter("inbound-dlq", "in-1", "PayloadError: bad entry")
    dlq.dead_letter("outbound-dlq", "out-1", "Throttled")

    out = io.StringIO()
    assert list_command(dlq, args(), out) == 0
    text = out.getvalue()
    assert "inbound-dlq: 1 message(s) on the queue" in text and "PayloadError: bad entry" in text

    out = io.StringIO()
    code = replay_command(dlq, args(), out)  # every queue with a handler
    text = out.getvalue()
    assert code == 1  # something failed
    assert "inbound-dlq: 1 taken, 1 replayed, 0 failed" in text
    assert "outbound-dlq: 1 taken, 0 replayed, 1 failed" in text and "ValueError: still broken" in text
    assert "bulk-dlq" not in text  # no handler registered there
    assert done == ["in-1"] and failing == ["out-1"]


def test_replay_json(dlq: DlqService) -> None:
    dlq.register("inbound-dlq", lambda payload: None)
    dlq.dead_letter("inbound-dlq", "x", "err")
    out = io.StringIO()
    assert replay_command(dlq, args(queue="inbound-dlq", format="json"), out) == 0
    [report] = json.loads(out.getvalue())
    assert report["replayed"] == 1
    out = io.StringIO()
    assert list_command(dlq, args(format="json", status="replayed"), out) == 0
    assert len(json.loads(out.getvalue())["items"]) == 1
