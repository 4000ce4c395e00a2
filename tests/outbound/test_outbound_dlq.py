"""outbound-dlq replay through the composed product: the same gateway, the policy decided again,
never a second send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.bootstrap import Container, build_embedded
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.errors import InvalidInput
from gateway.outbound.dlq import request_from_document


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Container]:
    settings = load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "d")
    container = build_embedded(settings, clock=FakeClock())
    try:
        yield container
    finally:
        container.close()


def _letter(contact_id: str, message_id: str, body: str = "Your code is 1234") -> str:
    return json.dumps(
        {
            "messageId": message_id,
            "actor": "usr_1",
            "contactId": contact_id,
            "channel": "sms",
            "text": {"body": body},
        }
    )


def test_a_dead_lettered_send_is_replayed_once_through_the_gateway(product: Container) -> None:
    contact = product.contacts.create({"name": "A", "phone": "+447812345678", "optInSms": True}, actor="t")
    product.dlq.dead_letter("outbound-dlq", _letter(contact["contactId"], "msg_dl1"), "store timed out")
    report = product.dlq.replay("outbound-dlq", 10, actor="usr_ops")
    assert (report.replayed, report.failed) == (1, 0)
    message = product.messages.get("msg_dl1")
    assert message["status"] == "sent" and message["decision"]["allowed"] is True
    # The same letter again (a duplicate delivery): the record stands, nothing is sent twice.
    product.dlq.dead_letter(
        "outbound-dlq", _letter(contact["contactId"], "msg_dl1"), "again", original_message_id="dup"
    )
    again = product.dlq.replay("outbound-dlq", 10, actor="usr_ops")
    assert again.replayed == 1
    assert product.metrics.counter("messages_sent_total", {"channel": "sms", "category": "service"}) == 1
    assert product.metrics.counter("messages_replayed_total", {"channel": "sms"}) == 1


def test_a_replay_is_decided_again_and_a_refusal_is_final(product: Container) -> None:
    contact = product.contacts.create({"name": "B", "phone": "+447898765432", "optInSms": True}, actor="t")
    product.dlq.dead_letter("outbound-dlq", _letter(contact["contactId"], "msg_dl2"), "worker crashed")
    product.contacts.set_opt_in(contact["contactId"], "sms", False, actor="t", source="api")
    report = product.dlq.replay("outbound-dlq", 10, actor="usr_ops")
    assert report.replayed == 1
    message = product.messages.get("msg_dl2")
    assert message["status"] == "rejected" and "OPT_IN_REQUIRED" in message["decision"]["reasons"]


def test_a_malformed_letter_fails_and_stays(product: Container) -> None:
    product.dlq.dead_letter("outbound-dlq", json.dumps({"channel": "sms"}), "bad")
    report = product.dlq.replay("outbound-dlq", 10, actor="usr_ops")
    assert report.failed == 1 and report.replayed == 0


def test_documents_are_validated() -> None:
    with pytest.raises(InvalidInput, match="messageId"):
        request_from_document({"actor": "a", "contactId": "c", "channel": "sms", "text": {"body": "x"}})
    with pytest.raises(InvalidInput, match="exactly one"):
        request_from_document({"messageId": "m", "actor": "a", "contactId": "c", "channel": "sms"})
    request = request_from_document(
        {
            "messageId": "m",
            "actor": "a",
            "contactId": "c",
            "channel": "email",
            "email": {"subject": "Hi", "text": "Hello"},
        }
    )
    assert request.message_id == "m" and request.kind == "email"
