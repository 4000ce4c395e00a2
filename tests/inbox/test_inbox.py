"""The DM inbox on the product as ``wecare serve`` composes it: conversations follow inbound messages and
single sends (not bulk jobs), newest first, with unread counts an Operator's opening clears, filters, a
search through the contacts' index, and conditional GETs (ETag / If-None-Match → 304)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.app import create_app
from gateway.api.etag import etag_of, matches
from gateway.bootstrap import Container, build_embedded
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.inbox.service import PREVIEW_CHARS, conversation_key, preview
from gateway.outbound.types import OutboundRequest, TextContent
from tests.inbound.events import envelope, sns_event, status_value, text_value
from tests.inbound.http import TestClient

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    client: TestClient
    container: Container
    clock: FakeClock
    operator: dict[str, str]
    viewer: dict[str, str]

    def login(self, email: str, role: str) -> dict[str, str]:
        assert self.container.users is not None
        self.container.users.create(email, role, password=PASSWORD, actor="test")
        reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['accessToken']}"}

    def contact(self, name: str, phone: str, **extra: Any) -> str:
        body = {"name": name, "phone": phone, "optInWhatsApp": True, **extra}
        reply = self.client.post("/api/contacts", headers=self.operator, json=body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["contactId"])

    def inbound(self, wamid: str, text: str, *, wa_id: str, ago: int = 60) -> None:
        value = text_value(wamid, text, wa_id=wa_id, ts=int(self.clock.now()) - ago)
        result = self.container.inbound.handle_sns_event(sns_event(json.dumps(envelope(value))))  # type: ignore[union-attr]
        assert result.messages == 1 and result.deadLettered == 0

    def conversations(self, headers: dict[str, str] | None = None, **query: Any) -> list[dict[str, Any]]:
        reply = self.client.get("/api/conversations", headers=headers or self.viewer, params=query)
        assert reply.status_code == 200, reply.text
        items: list[dict[str, Any]] = reply.json()["items"]
        return items


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings_ = load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data")
    clock = FakeClock(float(int(time.time())))
    container = build_embedded(settings_, clock=clock)
    try:
        client = TestClient(create_app(container), raise_server_exceptions=False)
        w = World(client, container, clock, {}, {})
        w.operator = w.login("op@wecare.digital", "Operator")
        w.viewer = w.login("viewer@wecare.digital", "Viewer")
        yield w
    finally:
        container.close()


def test_inbound_and_single_sends_make_conversations_newest_first_with_unread(world: World) -> None:
    ada = world.contact("Ada Lovelace", "+447812345601")
    bob = world.contact("Bob Brown", "+447812345602")
    world.contact("Cyd Silent", "+447812345603")  # no traffic: no conversation
    world.inbound("wamid.a1", "Hello, is my order on its way?", wa_id="447812345601", ago=120)
    world.inbound("wamid.b1", "Hi there", wa_id="447812345602", ago=60)
    rows = world.conversations()
    assert [r["contactId"] for r in rows] == [bob, ada]
    assert rows[0]["contactName"] == "Bob Brown" and rows[0]["unreadCount"] == 1
    assert rows[0]["lastMessage"]["direction"] == "inbound"
    assert rows[0]["lastMessage"]["preview"] == "Hi there"
    assert rows[0]["windowOpen"] is True and rows[0]["channels"] == ["whatsapp"]

    world.clock.advance(5)
    sent = world.client.post(
        "/api/messages",
        headers=world.operator,
        json={"contactId": ada, "channel": "whatsapp", "text": {"body": "Yes, it ships today"}},
    )
    assert sent.status_code == 201, sent.text
    rows = world.conversations()
    assert [r["contactId"] for r in rows] == [ada, bob]  # the reply moved Ada's conversation to the top
    assert rows[0]["lastMessage"]["direction"] == "outbound"
    assert rows[0]["lastMessage"]["preview"] == "Yes, it ships today"
    assert rows[0]["unreadCount"] == 1  # replying is not reading: only opening the thread marks it seen


def test_opening_as_an_operator_clears_unread_and_says_who(world: World) -> None:
    ada = world.contact("Ada Lovelace", "+447812345601")
    world.inbound("wamid.a1", "one", wa_id="447812345601", ago=30)
    world.inbound("wamid.a2", "two", wa_id="447812345601", ago=20)
    assert world.conversations(unread="true")[0]["unreadCount"] == 2
    refused = world.client.post(f"/api/conversations/{ada}/read", headers=world.viewer)
    assert refused.status_code == 403  # a Viewer looking does not count as the team having seen it
    read = world.client.post(f"/api/conversations/{ada}/read", headers=world.operator)
    assert read.status_code == 200, read.text
    row = read.json()["conversation"]
    assert row["unreadCount"] == 0 and row["seenByEmail"] == "op@wecare.digital"
    assert world.conversations(unread="true") == []
    world.inbound("wamid.a3", "three", wa_id="447812345601", ago=10)
    assert world.conversations(unread="true")[0]["unreadCount"] == 1


def test_reading_an_unknown_contact_is_404_and_no_traffic_reads_as_nothing_unread(world: World) -> None:
    missing = world.client.post("/api/conversations/ct_0000/read", headers=world.operator)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "CONTACT_NOT_FOUND"
    quiet = world.contact("Quiet Person", "+447812345609")
    read = world.client.post(f"/api/conversations/{quiet}/read", headers=world.operator)
    assert read.status_code == 200 and read.json()["conversation"]["unreadCount"] == 0
    assert world.conversations() == []  # marking read writes no conversation row


def test_a_late_older_message_counts_as_unread_but_is_not_the_preview(world: World) -> None:
    world.contact("Ada Lovelace", "+447812345601")
    world.inbound("wamid.new", "newest", wa_id="447812345601", ago=10)
    world.inbound("wamid.old", "older, delivered late", wa_id="447812345601", ago=500)
    (row,) = world.conversations()
    assert row["lastMessage"]["preview"] == "newest" and row["unreadCount"] == 2


def test_filters_channel_unread_window_and_search(world: World) -> None:
    ada = world.contact("Ada Lovelace", "+447812345601", email="ada@example.org", optInEmail=True)
    bob = world.contact("Bob Brown", "+447812345602")
    world.inbound("wamid.a1", "hi", wa_id="447812345601", ago=60)
    world.inbound("wamid.b1", "old hi", wa_id="447812345602", ago=2 * 86400)  # window long closed
    world.client.post(f"/api/conversations/{ada}/read", headers=world.operator)
    mail = world.client.post(
        "/api/messages",
        headers=world.operator,
        json={"contactId": ada, "channel": "email", "email": {"subject": "Receipt", "text": "Thanks"}},
    )
    assert mail.status_code == 201, mail.text
    assert [r["contactId"] for r in world.conversations(channel="email")] == [ada]
    assert [r["contactId"] for r in world.conversations(unread="true")] == [bob]
    assert [r["contactId"] for r in world.conversations(window="open")] == [ada]
    assert [r["contactId"] for r in world.conversations(q="Bob")] == [bob]
    assert world.conversations(q="Bob", window="open") == []
    bad = world.client.get("/api/conversations", headers=world.viewer, params={"channel": "fax"})
    assert bad.status_code == 422


def test_bulk_sends_do_not_fill_the_inbox(world: World) -> None:
    ada = world.contact("Ada Lovelace", "+447812345601")
    world.inbound("wamid.a1", "hi", wa_id="447812345601", ago=60)
    before = world.conversations()[0]["lastMessage"]
    gateway = world.container.gateway
    assert gateway is not None
    world.clock.advance(5)
    out = gateway.send(
        OutboundRequest(
            contact_id=ada,
            channel="whatsapp",
            content=TextContent("campaign"),
            origin="bulk",
            actor="bulk:j1",
        )
    )
    assert out.status.value == "sent"
    assert world.conversations()[0]["lastMessage"] == before
    # The same send as a single message does move it.
    single = gateway.send(
        OutboundRequest(contact_id=ada, channel="whatsapp", content=TextContent("single"), actor="u1")
    )
    assert single.status.value == "sent"
    assert world.conversations()[0]["lastMessage"]["preview"] == "single"


def test_the_list_is_an_index_query_not_a_scan(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.contact("Ada Lovelace", "+447812345601")
    world.inbound("wamid.a1", "hi", wa_id="447812345601", ago=60)
    table = type(world.container.tables["Contacts"])

    def no_scan(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the inbox scanned the Contacts table")

    monkeypatch.setattr(table, "scan", no_scan)
    assert len(world.conversations()) == 1
    assert len(world.conversations(q="Ada")) == 1


def test_a_deleted_contact_leaves_the_inbox(world: World) -> None:
    ada = world.contact("Ada Lovelace", "+447812345601")
    world.inbound("wamid.a1", "hi", wa_id="447812345601", ago=60)
    assert world.client.delete(f"/api/contacts/{ada}", headers=world.operator).status_code == 204
    assert world.conversations() == []
    assert world.container.tables["Contacts"].get(conversation_key(ada)) is not None  # history is kept


def test_pages_follow_the_cursor_newest_first(world: World) -> None:
    ids = [world.contact(f"Person {i}", f"+4478123456{i:02d}") for i in range(5)]
    for i in range(5):
        world.inbound(f"wamid.p{i}", f"msg {i}", wa_id=f"4478123456{i:02d}", ago=100 - i)
    first = world.client.get("/api/conversations", headers=world.viewer, params={"limit": 2}).json()
    second = world.client.get(
        "/api/conversations", headers=world.viewer, params={"limit": 2, "cursor": first["cursor"]}
    ).json()
    got = [r["contactId"] for r in first["items"] + second["items"]]
    assert got == list(reversed(ids))[:4]


# -- conditional GETs ------------------------------------------------------------------------------------


def test_an_unchanged_answer_is_304_and_a_new_message_changes_the_tag(world: World) -> None:
    world.contact("Ada Lovelace", "+447812345601")
    first = world.client.get("/api/conversations", headers=world.viewer)
    tag = first.headers["ETag"]
    assert tag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
    again = world.client.get("/api/conversations", headers={**world.viewer, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    world.inbound("wamid.a1", "hi", wa_id="447812345601", ago=60)
    changed = world.client.get("/api/conversations", headers={**world.viewer, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag and len(changed.json()["items"]) == 1


def test_errors_and_writes_carry_no_tag(world: World) -> None:
    anonymous = world.client.get("/api/conversations")
    assert anonymous.status_code == 401 and "ETag" not in anonymous.headers
    wrote = world.client.post("/api/conversations/ct_0000/read", headers=world.operator)
    assert "ETag" not in wrote.headers


@given(st.lists(st.text(max_size=8), min_size=0, max_size=4), st.booleans())
@settings(max_examples=100)
def test_if_none_match_matches_exactly_when_our_tag_is_listed(others: list[str], listed: bool) -> None:
    ours = etag_of(b'{"items":[]}')
    candidates = [f'"{o}"' for o in others if o != ours[3:-1]] + ([ours] if listed else [])
    assert matches(", ".join(candidates), ours) is listed
    assert matches(ours.removeprefix("W/"), ours)  # the strong form compares equal too (weak comparison)
    assert matches("*", ours) and not matches(None, ours)


@given(st.text(max_size=400))
def test_previews_are_one_short_line(text: str) -> None:
    line = preview({"type": "text", "body": text})
    assert len(line) <= PREVIEW_CHARS and "\n" not in line
    assert line == " ".join(text.split()) or line.endswith("…")


def test_the_lists_ticks_follow_delivery_statuses_of_the_last_message(world: World) -> None:
    ada = world.contact("Ada Lovelace", "+447812345601")
    world.inbound("wamid.a1", "hi", wa_id="447812345601", ago=60)
    sent = world.client.post(
        "/api/messages",
        headers=world.operator,
        json={"contactId": ada, "channel": "whatsapp", "text": {"body": "On its way"}},
    )
    assert sent.status_code == 201, sent.text
    aws_id = sent.json()["message"]["whatsappMessageId"]
    assert world.conversations()[0]["lastMessage"]["status"] == "sent"
    at = int(world.clock.now())
    for status in ("delivered", "read"):
        value = status_value("wamid.out1", status, at)
        event = sns_event(json.dumps(envelope(value, aws_message_id=aws_id)))
        assert world.container.inbound.handle_sns_event(event).statuses == 1  # type: ignore[union-attr]
        assert world.conversations()[0]["lastMessage"]["status"] == status
    # A status for a message that is no longer the last one leaves the list alone.
    world.clock.advance(2)
    world.inbound("wamid.a2", "thanks!", wa_id="447812345601", ago=0)
    late = sns_event(json.dumps(envelope(status_value("wamid.out1", "read", at + 1), aws_message_id=aws_id)))
    world.container.inbound.handle_sns_event(late)  # type: ignore[union-attr]
    last = world.conversations()[0]["lastMessage"]
    assert last["direction"] == "inbound" and last["preview"] == "thanks!"
