"""Idempotent sends on the real embedded store: two server processes (two compositions over one data
dir, each with its own SQLite connections) and several threads each race the same Idempotency-Key.
Exactly one send reaches a driver; every racer gets that message; a different body is a 422."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import Container, build_embedded
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.errors import InvalidInput
from gateway.outbound.types import OutboundRequest, TemplateContent

RACERS_PER_PROCESS = 4


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Container]]:
    settings = load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data")
    clock = FakeClock()
    first = build_embedded(settings, clock=clock)
    second = build_embedded(settings, clock=clock)
    try:
        yield [first, second]
    finally:
        first.close()
        second.close()


def _request(contact_id: str, template: str) -> OutboundRequest:
    return OutboundRequest(
        contact_id=contact_id,
        channel="whatsapp",
        actor="usr_op",
        content=TemplateContent(template, "en_GB"),
        idempotency_key="order-42",
    )


def _race(servers: list[Container], requests: list[OutboundRequest]) -> list[Any]:
    barrier = threading.Barrier(len(requests))
    results: list[Any] = [None] * len(requests)

    def go(i: int) -> None:
        server = servers[i % len(servers)]
        barrier.wait()
        try:
            results[i] = server.gateway.send(requests[i])
        except InvalidInput as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _sent(servers: list[Container]) -> float:
    return sum(
        s.metrics.counter("messages_sent_total", {"channel": "whatsapp", "category": "template"})
        for s in servers
    )


def test_racing_repeats_across_processes_send_once(servers: list[Container]) -> None:
    contact = servers[0].contacts.create({"phone": "+447812345678", "optInWhatsApp": True}, actor="usr_op")
    n = RACERS_PER_PROCESS * len(servers)
    outcomes = _race(servers, [_request(contact["contactId"], "order_shipped")] * n)
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert len({o.message_id for o in outcomes}) == 1
    assert _sent(servers) == 1  # one driver call in all
    assert sum(not o.replayed for o in outcomes) == 1
    stored = servers[1].tables["Messages"].get({"messageId": outcomes[0].message_id})
    assert stored["status"] == "sent" and stored["idempotencyKey"] == "order-42"


def test_a_different_body_racing_the_same_key_is_refused(servers: list[Container]) -> None:
    contact = servers[0].contacts.create({"phone": "+447812345678", "optInWhatsApp": True}, actor="usr_op")
    requests = [
        _request(contact["contactId"], "order_shipped" if i % 2 else "order_cancelled")
        for i in range(RACERS_PER_PROCESS * len(servers))
    ]
    results = _race(servers, requests)
    refused = [r for r in results if isinstance(r, InvalidInput)]
    accepted = [r for r in results if not isinstance(r, InvalidInput)]
    assert accepted and refused
    assert {r.code for r in refused} == {"IDEMPOTENCY_KEY_REUSED"}
    assert len({o.message_id for o in accepted}) == 1
    winner = accepted[0].message["content"]["name"]
    # Every accepted racer asked for the winner's body; every refused one for the other body.
    assert all(
        requests[i].content.name == winner  # type: ignore[union-attr]
        for i, r in enumerate(results)
        if not isinstance(r, InvalidInput)
    )
    assert _sent(servers) == 1
