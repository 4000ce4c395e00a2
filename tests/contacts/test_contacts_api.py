"""The contact HTTP API: the five contact functions, their errors and what a read shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .api_support import ApiWorld

World = ApiWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path)
    yield w
    w.client.close()


@pytest.fixture
def operator(world: ApiWorld) -> dict[str, str]:
    return world.headers("Operator")


def test_create_read_update_delete(world: World, operator: dict[str, str]) -> None:
    created = world.client.post(
        "/api/contacts",
        json={"name": "Olivia Smith", "phone": "+44 7812 345678", "email": "olivia@example.com"},
        headers=operator,
    )
    assert created.status_code == 201
    body = created.json()
    cid = body["contactId"]
    assert body["phone"] == "+447812345678"
    assert (body["optInWhatsApp"], body["optInSms"], body["optInEmail"]) == (False, False, False)
    assert body["lastInboundMessageAt"] is None and body["windowExpiresAt"] is None
    assert body["consentHistory"] == [] and "kind" not in body and "version" not in body

    patched = world.client.patch(
        f"/api/contacts/{cid}",
        json={"optInWhatsApp": True, "source": "ui", "consentEvidence": "ticked the box at the desk"},
        headers=operator,
    )
    assert patched.status_code == 200
    (record,) = patched.json()["consentHistory"]
    assert record["channel"] == "whatsapp" and record["old"] is False and record["new"] is True
    assert record["source"] == "ui" and record["evidence"] == {"note": "ticked the box at the desk"}
    assert record["actor"] == _operator_id(world)

    read = world.client.get(f"/api/contacts/{cid}", headers=operator).json()
    assert read["optInWhatsApp"] is True and read["consentHistory"] == [record]

    assert world.client.delete(f"/api/contacts/{cid}", headers=operator).status_code == 204
    assert world.client.get(f"/api/contacts/{cid}", headers=operator).status_code == 404
    assert world.client.patch(f"/api/contacts/{cid}", json={"name": "x"}, headers=operator).status_code == 404
    assert world.client.delete(f"/api/contacts/{cid}", headers=operator).status_code == 404


def _operator_id(world: World) -> str:
    return str(
        next(u["userId"] for u in world.tables["Users"].scan(limit=10).items if u.get("role") == "Operator")
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "No address"},
        {"name": "Bad phone", "phone": "12"},
        {"name": "Bad email", "email": "olivia@"},
        {"phone": "+447812345678", "optInSms": "true"},
        {"phone": "+447812345678", "optInSms": 1},
        {"phone": "+447812345678", "nickname": "Liv"},
        {"phone": "+447812345678", "source": "inbound_keyword"},  # only the server records keyword consent
    ],
)
def test_bad_creates_are_422(world: World, operator: dict[str, str], body: dict[str, object]) -> None:
    reply = world.client.post("/api/contacts", json=body, headers=operator)
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    "body", [{"optInEmail": None}, {"optInEmail": "false"}, {"contactId": "ct_x"}, {"deletedAt": 1}]
)
def test_bad_updates_are_422(world: World, operator: dict[str, str], body: dict[str, object]) -> None:
    cid = world.client.post("/api/contacts", json={"email": "o@example.com"}, headers=operator).json()[
        "contactId"
    ]
    assert world.client.patch(f"/api/contacts/{cid}", json=body, headers=operator).status_code == 422


def test_a_duplicate_is_409_naming_the_existing_contact(world: World, operator: dict[str, str]) -> None:
    first = world.client.post("/api/contacts", json={"phone": "+447812345678"}, headers=operator).json()
    reply = world.client.post(
        "/api/contacts", json={"name": "Again", "phone": "0044 7812 345678"}, headers=operator
    )
    assert reply.status_code == 409
    assert reply.json()["error"]["details"] == {"field": "phone", "contactId": first["contactId"]}


def test_search_and_listing(world: World, operator: dict[str, str]) -> None:
    for n in range(5):
        world.client.post(
            "/api/contacts", json={"name": f"Person{n} Smith", "phone": f"+44781234567{n}"}, headers=operator
        )
    viewer = world.headers("Viewer")
    page = world.client.get("/api/contacts", params={"q": "SMITH", "limit": 3}, headers=viewer).json()
    assert len(page["items"]) == 3 and page["cursor"]
    assert "consentHistory" not in page["items"][0]
    rest = world.client.get(
        "/api/contacts", params={"q": "SMITH", "limit": 3, "cursor": page["cursor"]}, headers=viewer
    ).json()
    names = {c["name"] for c in page["items"] + rest["items"]}
    assert names == {f"Person{n} Smith" for n in range(5)} and rest["cursor"] is None
    by_phone = world.client.get("/api/contacts", params={"q": "07812 345672"}, headers=viewer).json()
    assert [c["name"] for c in by_phone["items"]] == ["Person2 Smith"]
    listing = world.client.get("/api/contacts", headers=viewer).json()
    assert len(listing["items"]) == 5
    too_short = world.client.get("/api/contacts", params={"q": "s"}, headers=viewer)
    assert too_short.status_code == 422
    bad_cursor = world.client.get("/api/contacts", params={"q": "smith", "cursor": "nope"}, headers=viewer)
    assert bad_cursor.status_code == 422


def test_a_read_shows_the_whatsapp_window(world: World, operator: dict[str, str]) -> None:
    cid = world.client.post("/api/contacts", json={"phone": "+447812345678"}, headers=operator).json()[
        "contactId"
    ]
    world.contacts.record_inbound(cid, world.clock.now() - 600)
    read = world.client.get(f"/api/contacts/{cid}", headers=operator).json()
    assert read["lastInboundMessageAt"] == world.clock.now() - 600
    assert read["windowExpiresAt"] == world.clock.now() - 600 + 86400
    world.clock.advance(86400)
    later = world.headers("Viewer")  # a day later the first token has long expired
    assert world.client.get(f"/api/contacts/{cid}", headers=later).json()["windowExpiresAt"] is None


def test_a_viewer_reads_but_does_not_write(world: World, operator: dict[str, str]) -> None:
    cid = world.client.post("/api/contacts", json={"phone": "+447812345678"}, headers=operator).json()[
        "contactId"
    ]
    viewer = world.headers("Viewer")
    assert world.client.get(f"/api/contacts/{cid}", headers=viewer).status_code == 200
    assert (
        world.client.patch(f"/api/contacts/{cid}", json={"optInSms": True}, headers=viewer).status_code == 403
    )
    assert world.client.delete(f"/api/contacts/{cid}", headers=viewer).status_code == 403
    assert world.client.get(f"/api/contacts/{cid}", headers=viewer).json()["optInSms"] is False


def test_include_deleted_composes_with_q(world: World, operator: dict[str, str]) -> None:
    body = {"name": "Ada King", "phone": "+44 7812 900123", "email": "ada.lovelace@mail.example.com"}
    cid = world.client.post("/api/contacts", json=body, headers=operator).json()["contactId"]
    world.client.post("/api/contacts", json={"name": "Ada Other", "phone": "+447898765432"}, headers=operator)
    admin = world.headers("Admin")
    for q in ("lovelace", "example", "0123"):  # e-mail words and the last digits of the phone
        found = world.client.get("/api/contacts", params={"q": q}, headers=operator).json()["items"]
        assert [c["contactId"] for c in found] == [cid]
    assert world.client.delete(f"/api/contacts/{cid}", headers=operator).status_code == 204
    for q in ("lovelace", "ada king", "0123", "+447812900123"):
        hidden = world.client.get("/api/contacts", params={"q": q}, headers=admin).json()
        assert cid not in [c["contactId"] for c in hidden["items"]]
        shown = world.client.get("/api/contacts", params={"q": q, "includeDeleted": "true"}, headers=admin)
        assert shown.status_code == 200
        assert [c["contactId"] for c in shown.json()["items"]] == [cid]
        assert shown.json()["items"][0]["deletedAt"] is not None
    both = world.client.get(
        "/api/contacts", params={"q": "ada", "includeDeleted": "true"}, headers=admin
    ).json()
    assert {c["name"] for c in both["items"]} == {"Ada King", "Ada Other"}
    refused = world.client.get(
        "/api/contacts", params={"q": "ada", "includeDeleted": "true"}, headers=operator
    )
    assert refused.status_code == 403
