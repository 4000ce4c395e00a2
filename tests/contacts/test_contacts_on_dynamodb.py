"""The same contact code on the DynamoDB adapter (moto): guards, the search index, consent, soft delete."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.contacts.service import ContactService
from gateway.errors import Conflict
from gateway.store.dynamodb import DynamoTables, create_dynamodb_tables


@pytest.fixture
def dynamo_contacts() -> Iterator[tuple[ContactService, DynamoTables]]:
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        create_dynamodb_tables(client, "test-")
        clock = FakeClock()
        tables = DynamoTables(client, "test-", clock)
        yield ContactService(tables, clock, AuditLog(tables, clock)), tables


def _all(contacts: ContactService, q: str, limit: int, *, include_deleted: bool = False) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = contacts.search(q, limit=limit, cursor=cursor, include_deleted=include_deleted)
        found.extend(c["contactId"] for c in page.items)
        cursor = page.cursor
        if cursor is None:
            return found


def test_contacts_work_the_same_on_dynamodb(dynamo_contacts: tuple[ContactService, DynamoTables]) -> None:
    contacts, _ = dynamo_contacts
    olivia = contacts.create(
        {
            "name": "Olivia O'Brien",
            "phone": "+44 7812 345678",
            "email": "Olivia@Example.com",
            "optInSms": True,
        },
        actor="usr_a",
    )
    people = [
        contacts.create({"name": f"Person{n} Smith", "phone": f"+4478123456{n:02d}"}, actor="usr_a")
        for n in range(12)
    ]
    with pytest.raises(Conflict):
        contacts.create({"name": "Dup", "phone": "0044 7812 345678"}, actor="usr_a")

    assert _all(contacts, "obrien", 5) == [olivia["contactId"]]
    assert _all(contacts, "07812 345678", 5) == [olivia["contactId"]]
    assert _all(contacts, "olivia@example", 5) == [olivia["contactId"]]
    smiths = _all(contacts, "SMITH", 5)
    assert sorted(smiths) == sorted(p["contactId"] for p in people)

    updated = contacts.update(
        olivia["contactId"], {"name": "Liv Jones", "optInWhatsApp": True}, actor="usr_b", source="ui"
    )
    assert [r["channel"] for r in updated["consentHistory"]] == ["sms", "whatsapp"]
    assert _all(contacts, "jones", 5) == [olivia["contactId"]]
    assert _all(contacts, "+447812345678", 5) == [olivia["contactId"]]

    contacts.record_inbound(olivia["contactId"], 1_764_000_000)
    contacts.record_inbound(olivia["contactId"], 1_763_000_000)
    assert contacts.get(olivia["contactId"])["lastInboundMessageAt"] == 1_764_000_000

    contacts.delete(olivia["contactId"], actor="usr_b")
    assert _all(contacts, "jones", 5) == [] and contacts.find_by_phone("+447812345678") is None
    assert contacts.create({"phone": "+447812345678"}, actor="usr_a")["phone"] == "+447812345678"
    assert contacts.get(olivia["contactId"], include_deleted=True)["deletedAt"] == 1_764_067_200.0


def test_e_mail_words_phone_suffixes_and_deleted_contacts_on_dynamodb(
    dynamo_contacts: tuple[ContactService, DynamoTables],
) -> None:
    contacts, _ = dynamo_contacts
    ada = contacts.create(
        {"name": "Ada King", "phone": "+447812900123", "email": "Ada.Lovelace@mail.example.com"},
        actor="usr_a",
    )["contactId"]
    ends = contacts.create({"name": "Ends", "phone": "+447812901234"}, actor="usr_a")["contactId"]
    starts = contacts.create({"name": "Starts", "phone": "+441234567890"}, actor="usr_a")["contactId"]
    both = contacts.create({"name": "Both", "phone": "+441234901234"}, actor="usr_a")["contactId"]
    for q in ("example", "mail", "lovelace", "0123", "900123"):
        assert _all(contacts, q, 1) == [ada], q
    for limit in (1, 2, 5):
        found = _all(contacts, "1234", limit)
        assert len(found) == 3 and set(found) == {ends, starts, both}

    contacts.update(ada, {"email": "countess@analytical.org", "phone": "+447911123456"}, actor="usr_a")
    assert _all(contacts, "lovelace", 5) == [] and _all(contacts, "0123", 5) == []
    assert _all(contacts, "analytical", 5) == [ada] and _all(contacts, "3456", 5) == [ada]

    contacts.delete(ada, actor="usr_a")
    for q in ("analytical", "3456", "ada", "countess@analytical.org", "07911 123456"):
        assert _all(contacts, q, 5) == [], q
        assert _all(contacts, q, 1, include_deleted=True) == [ada], q
    assert set(_all(contacts, "1234", 1, include_deleted=True)) == {ends, starts, both}
