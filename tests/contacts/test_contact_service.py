"""ContactService: defaults, validation, uniqueness, consent records, soft delete, inbound times."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.contacts.service import ContactService, window_expires_at
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.store.port import Tables, Update

UK = "+447812345678"
UK2 = "+447898765432"
DE = "+4915112345678"


def _make(contacts: ContactService, **data: Any) -> dict[str, Any]:
    return contacts.create(data, actor="usr_test")


def test_opt_ins_are_false_unless_set(contacts: ContactService, clock: FakeClock) -> None:
    item = _make(contacts, name="Olivia Smith", phone="+44 7812 345678")
    assert item["contactId"].startswith("ct_") and item["kind"] == "contact"
    assert (item["optInWhatsApp"], item["optInSms"], item["optInEmail"]) == (False, False, False)
    assert item["phone"] == UK and "email" not in item and "deletedAt" not in item
    assert item["createdAt"] == item["updatedAt"] == clock.now()
    assert item["consentHistory"] == []
    assert contacts.get(item["contactId"]) == item


def test_explicit_opt_ins_are_recorded_as_consent(contacts: ContactService, clock: FakeClock) -> None:
    item = contacts.create(
        {
            "email": "olivia@example.com",
            "optInEmail": True,
            "optInSms": False,
            "consentEvidence": "signed form 42",
        },
        actor="usr_op",
        source="import",
    )
    assert item["optInEmail"] is True and item["optInSms"] is False
    assert item["consentHistory"] == [
        {
            "channel": "email",
            "old": False,
            "new": True,
            "actor": "usr_op",
            "at": clock.now(),
            "source": "import",
            "evidence": {"note": "signed form 42"},
        }
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "No address"}, "fields"),
        ({"phone": "not a number"}, "field"),
        ({"phone": "+44 12"}, "field"),
        ({"phone": "07812 345678"}, "field"),  # no country code and no default region
        ({"email": "olivia@"}, "field"),
        ({"phone": UK, "optInSms": "true"}, "field"),
        ({"phone": UK, "optInSms": 1}, "field"),
        ({"phone": UK, "optInSms": None}, "field"),
        ({"phone": UK, "colour": "blue"}, "fields"),
        ({"phone": UK, "name": 7}, "field"),
        ({"phone": UK, "name": "x" * 201}, "field"),
    ],
)
def test_invalid_creates_are_refused(
    contacts: ContactService, tables: Tables, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        contacts.create(data, actor="usr_test")
    assert field in caught.value.details
    assert tables["Contacts"].scan(limit=10).items == []  # nothing left behind


@pytest.mark.parametrize(
    "typed",
    [
        "+447812345678",
        "+44 7812 345678",
        "+44 (0)7812 345678",
        "0044 7812-345678",
        "447812345678",
        " +44.7812.345678 ",
    ],
)
def test_phone_numbers_are_stored_as_e164(contacts: ContactService, typed: str) -> None:
    assert _make(contacts, phone=typed)["phone"] == UK


def test_a_default_region_reads_national_numbers(tables: Tables, clock: FakeClock, audit: AuditLog) -> None:
    contacts = ContactService(tables, clock, audit, default_region="GB")
    assert _make(contacts, phone="07812 345678")["phone"] == UK
    assert _make(contacts, phone="4915112345678")["phone"] == DE  # not valid in GB: read as international


def test_a_second_active_contact_with_the_same_phone_or_email_is_a_conflict(contacts: ContactService) -> None:
    first = _make(contacts, name="A", phone=UK, email="Olivia@Example.com")
    with pytest.raises(Conflict) as by_phone:
        _make(contacts, name="B", phone="0044 7812 345678")
    assert by_phone.value.details == {"field": "phone", "contactId": first["contactId"]}
    assert first["contactId"] in by_phone.value.message
    with pytest.raises(Conflict) as by_email:
        _make(contacts, name="C", email="OLIVIA@example.com")
    assert by_email.value.details == {"field": "email", "contactId": first["contactId"]}
    # a refused create leaves the other value free
    _make(contacts, name="D", phone=UK2)


def test_a_conflict_on_email_releases_the_phone_it_took(contacts: ContactService) -> None:
    _make(contacts, email="olivia@example.com")
    with pytest.raises(Conflict):
        _make(contacts, phone=UK, email="olivia@example.com")
    assert _make(contacts, phone=UK)["phone"] == UK


@pytest.mark.parametrize("workers", [2, 8])
def test_concurrent_creates_of_one_phone_make_exactly_one_contact(
    contacts: ContactService, tables: Tables, workers: int
) -> None:
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        barrier.wait()
        try:
            contacts.create({"name": f"Racer {n}", "phone": UK}, actor="usr_test")
            result = "created"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * (workers - 1) + ["created"]
    people = [i for i in tables["Contacts"].scan(limit=100).items if i["kind"] == "contact"]
    assert len(people) == 1


def test_soft_delete_hides_the_contact_and_frees_its_phone(
    contacts: ContactService, clock: FakeClock
) -> None:
    item = _make(contacts, name="Olivia", phone=UK, email="o@example.com", optInSms=True)
    clock.advance(5)
    deleted = contacts.delete(item["contactId"], actor="usr_op")
    assert deleted["deletedAt"] == clock.now() and deleted["optInSms"] is True  # consent facts are kept
    with pytest.raises(NotFound):
        contacts.get(item["contactId"])
    assert contacts.get(item["contactId"], include_deleted=True)["deletedAt"] == clock.now()
    assert contacts.find_by_phone(UK) is None
    with pytest.raises(NotFound):
        contacts.delete(item["contactId"], actor="usr_op")
    with pytest.raises(NotFound):
        contacts.set_opt_in(item["contactId"], "sms", False, actor="usr_op", source="api")
    again = _make(contacts, name="Olivia again", phone=UK, email="o@example.com")
    assert contacts.find_by_phone(UK) == again


def test_find_by_phone_accepts_any_formatting(contacts: ContactService) -> None:
    item = _make(contacts, phone=UK)
    for typed in ("+44 7812 345678", "447812345678", "0044-7812-345678"):
        assert contacts.find_by_phone(typed) == item
    assert contacts.find_by_phone(UK2) is None
    assert contacts.find_by_phone("garbage") is None
    assert contacts.find_by_email("nobody@example.com") is None


def test_update_changes_only_what_is_given(
    contacts: ContactService, clock: FakeClock, audit: AuditLog
) -> None:
    item = _make(contacts, name="Olivia", phone=UK, optInWhatsApp=True)
    clock.advance(60)
    updated = contacts.update(item["contactId"], {"name": "Olivia Smith"}, actor="usr_op")
    assert updated["name"] == "Olivia Smith" and updated["phone"] == UK and updated["optInWhatsApp"] is True
    assert updated["updatedAt"] == clock.now() and updated["createdAt"] == item["createdAt"]
    assert len(updated["consentHistory"]) == 1
    (record,) = [r for r in audit.for_user("usr_op") if r["action"] == "contact.update"]
    assert record["details"]["fields"] == ["name"]


def test_an_unchanged_update_writes_nothing(contacts: ContactService, audit: AuditLog) -> None:
    item = _make(contacts, name="Olivia", phone=UK)
    same = contacts.update(
        item["contactId"], {"name": "Olivia", "phone": "+44 7812 345678", "optInSms": False}, actor="usr_op"
    )
    assert same == item
    assert audit.for_user("usr_op") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"optInSms": None}, "field"),
        ({"optInSms": "yes"}, "field"),
        ({"contactId": "ct_other"}, "fields"),
        ({"deletedAt": 0}, "fields"),
        ({"consentHistory": []}, "fields"),
        ({"phone": None}, "fields"),  # the e-mail is absent too: nothing would be left
    ],
)
def test_invalid_updates_are_refused(contacts: ContactService, changes: dict[str, Any], field: str) -> None:
    item = _make(contacts, phone=UK)
    with pytest.raises(InvalidInput) as caught:
        contacts.update(item["contactId"], changes, actor="usr_op")
    assert field in caught.value.details
    assert contacts.get(item["contactId"]) == item


def test_every_opt_in_change_appends_a_consent_record(contacts: ContactService, clock: FakeClock) -> None:
    item = _make(contacts, phone=UK, email="o@example.com")
    cid = item["contactId"]
    clock.advance(1)
    contacts.update(cid, {"optInWhatsApp": True, "optInSms": True}, actor="usr_a", source="ui")
    clock.advance(1)
    contacts.set_opt_in(
        cid,
        "sms",
        False,
        actor="system",
        source="inbound_keyword",
        evidence={"keyword": "STOP", "messageId": "msg_1"},
    )
    clock.advance(1)
    contacts.set_opt_in(cid, "sms", False, actor="system", source="inbound_keyword")  # no change: no record
    history = contacts.get(cid)["consentHistory"]
    start = item["createdAt"]
    assert history == [
        {"channel": "whatsapp", "old": False, "new": True, "actor": "usr_a", "at": start + 1, "source": "ui"},
        {"channel": "sms", "old": False, "new": True, "actor": "usr_a", "at": start + 1, "source": "ui"},
        {
            "channel": "sms",
            "old": True,
            "new": False,
            "actor": "system",
            "at": start + 2,
            "source": "inbound_keyword",
            "evidence": {"keyword": "STOP", "messageId": "msg_1"},
        },
    ]
    with pytest.raises(InvalidInput):
        contacts.set_opt_in(cid, "fax", True, actor="a", source="api")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        contacts.set_opt_in(cid, "sms", True, actor="a", source="gossip")


def test_a_new_phone_does_not_inherit_consent(contacts: ContactService) -> None:
    item = _make(
        contacts, phone=UK, email="o@example.com", optInWhatsApp=True, optInSms=True, optInEmail=True
    )
    moved = contacts.update(item["contactId"], {"phone": UK2}, actor="usr_op")
    assert (moved["optInWhatsApp"], moved["optInSms"], moved["optInEmail"]) == (False, False, True)
    resets = moved["consentHistory"][-2:]
    assert [(r["channel"], r["old"], r["new"], r["evidence"]) for r in resets] == [
        ("whatsapp", True, False, {"reason": "phone changed"}),
        ("sms", True, False, {"reason": "phone changed"}),
    ]
    # the old number is free, the new one taken
    assert contacts.find_by_phone(UK) is None and contacts.find_by_phone(UK2) == moved
    _make(contacts, phone=UK)
    with pytest.raises(Conflict):
        _make(contacts, phone=UK2)


def test_a_new_phone_with_explicit_consent_keeps_it(contacts: ContactService) -> None:
    item = _make(contacts, phone=UK, optInWhatsApp=True)
    moved = contacts.update(item["contactId"], {"phone": UK2, "optInWhatsApp": True}, actor="usr_op")
    assert moved["optInWhatsApp"] is True


def test_an_e_mail_change_resets_the_e_mail_opt_in_but_a_case_change_does_not(
    contacts: ContactService,
) -> None:
    item = _make(contacts, email="olivia@example.com", optInEmail=True)
    same = contacts.update(item["contactId"], {"email": "Olivia@example.com"}, actor="usr_op")
    assert same["email"] == "Olivia@example.com" and same["optInEmail"] is True
    moved = contacts.update(item["contactId"], {"email": "liv@example.com"}, actor="usr_op")
    assert moved["optInEmail"] is False


def test_removing_the_e_mail_keeps_the_phone(contacts: ContactService) -> None:
    item = _make(contacts, phone=UK, email="o@example.com")
    updated = contacts.update(item["contactId"], {"email": None}, actor="usr_op")
    assert "email" not in updated and contacts.find_by_email("o@example.com") is None
    _make(contacts, email="o@example.com")


def test_changing_to_a_taken_phone_is_a_conflict_and_changes_nothing(contacts: ContactService) -> None:
    first = _make(contacts, phone=UK)
    second = _make(contacts, phone=UK2, name="Second")
    with pytest.raises(Conflict) as caught:
        contacts.update(second["contactId"], {"phone": UK, "name": "Renamed"}, actor="usr_op")
    assert caught.value.details["contactId"] == first["contactId"]
    assert contacts.get(second["contactId"]) == second


def test_concurrent_consent_changes_are_all_kept(contacts: ContactService) -> None:
    item = _make(contacts, phone=UK, email="o@example.com")
    channels = ["whatsapp", "sms", "email"]
    barrier = threading.Barrier(len(channels))

    def flip(channel: str) -> None:
        barrier.wait()
        contacts.set_opt_in(item["contactId"], channel, True, actor=f"usr_{channel}", source="api")  # type: ignore[arg-type]

    threads = [threading.Thread(target=flip, args=(c,)) for c in channels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = contacts.get(item["contactId"])
    assert (final["optInWhatsApp"], final["optInSms"], final["optInEmail"]) == (True, True, True)
    assert sorted(r["channel"] for r in final["consentHistory"]) == sorted(channels)


def test_inbound_times_only_move_forward(contacts: ContactService, clock: FakeClock) -> None:
    item = _make(contacts, phone=UK)
    cid = item["contactId"]
    now = clock.now()
    contacts.record_inbound(cid, now - 100)
    contacts.record_inbound(cid, now - 500)  # an older event delivered late
    stored = contacts.get(cid)
    assert stored["lastInboundMessageAt"] == now - 100 and stored["lastContactedAt"] == now - 100
    contacts.record_contacted(cid, now)
    contacts.record_inbound(cid, now - 50)
    stored = contacts.get(cid)
    assert stored["lastInboundMessageAt"] == now - 50 and stored["lastContactedAt"] == now
    with pytest.raises(NotFound):
        contacts.record_inbound("ct_missing", now)
    with pytest.raises(NotFound):
        contacts.record_inbound("phone#" + UK, now)  # a guard is not a contact


class _CountingTables:
    """The same tables, counting writes to ``Contacts`` (the cost of recording an inbound message)."""

    def __init__(self, inner: Tables) -> None:
        self._inner = inner
        self.writes = 0

    def __getitem__(self, name: str) -> Any:
        table = self._inner[name]
        if name != "Contacts":
            return table
        outer = self

        class _Counted:
            def __getattr__(self, attr: str) -> Any:
                value = getattr(table, attr)
                if attr in ("put", "update", "delete"):

                    def counted(*args: Any, **kwargs: Any) -> Any:
                        outer.writes += 1
                        return value(*args, **kwargs)

                    return counted
                return value

        return _Counted()


def test_recording_a_newer_inbound_message_is_one_conditional_write(
    tables: Tables, clock: FakeClock, audit: AuditLog
) -> None:
    counting = _CountingTables(tables)
    contacts = ContactService(counting, clock, audit)  # type: ignore[arg-type]
    cid = _make(contacts, phone=UK)["contactId"]
    now = clock.now()
    counting.writes = 0
    contacts.record_inbound(cid, now - 100)  # first ever
    contacts.record_inbound(cid, now - 10)  # newer than both times
    assert counting.writes == 2
    stored = contacts.get(cid)
    assert stored["lastInboundMessageAt"] == now - 10 and stored["lastContactedAt"] == now - 10

    # A later outbound contact, then an inbound message older than it: the fast path's condition fails
    # and each attribute moves on its own, so lastContactedAt stays put.
    contacts.record_contacted(cid, now)
    counting.writes = 0
    contacts.record_inbound(cid, now - 5)
    stored = contacts.get(cid)
    assert stored["lastInboundMessageAt"] == now - 5 and stored["lastContactedAt"] == now
    assert counting.writes == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["inbound", "contacted"]), st.integers(min_value=1, max_value=50)),
        min_size=1,
        max_size=12,
    )
)
def test_inbound_and_contact_times_end_at_their_latest_event_in_any_delivery_order(
    contacts: ContactService, events: list[tuple[str, int]]
) -> None:
    cid = _make(contacts, email=f"p{uuid.uuid4().hex}@example.com")["contactId"]
    base = 1_700_000_000.0
    for what, offset in events:
        if what == "inbound":
            contacts.record_inbound(cid, base + offset)
        else:
            contacts.record_contacted(cid, base + offset)
    stored = contacts.get(cid)
    inbound = [base + o for w, o in events if w == "inbound"]
    assert stored.get("lastInboundMessageAt") == (max(inbound) if inbound else None)
    assert stored["lastContactedAt"] == base + max(o for _, o in events)


def test_the_window_closes_24_hours_after_the_last_inbound_message(
    contacts: ContactService, clock: FakeClock
) -> None:
    item = _make(contacts, phone=UK)
    assert contacts.present(item)["windowExpiresAt"] is None
    contacts.record_inbound(item["contactId"], clock.now() - 3600)
    shown = contacts.present(contacts.get(item["contactId"]))
    assert shown["windowExpiresAt"] == clock.now() - 3600 + 86400
    assert shown["lastInboundMessageAt"] == clock.now() - 3600
    assert "kind" not in shown and "version" not in shown
    assert window_expires_at(contacts.get(item["contactId"]), clock.now() + 82800) is None


def test_an_abandoned_guard_is_taken_over_after_the_grace_period(
    contacts: ContactService, tables: Tables, clock: FakeClock
) -> None:
    # A create that died after taking the phone's guard but before writing its contact.
    tables["Contacts"].put(
        {"contactId": "phone#" + UK, "kind": "guard", "ref": "ct_dead", "createdAt": clock.now()}
    )
    with pytest.raises(Conflict):  # it may still be in progress
        _make(contacts, phone=UK)
    clock.advance(61)
    created = _make(contacts, phone=UK)
    assert tables["Contacts"].get({"contactId": "phone#" + UK})["ref"] == created["contactId"]  # type: ignore[index]


def test_a_guard_of_a_deleted_contact_is_taken_over_at_once(
    contacts: ContactService, tables: Tables, clock: FakeClock
) -> None:
    item = _make(contacts, phone=UK)
    # A delete that died after setting deletedAt but before releasing the guard.
    tables["Contacts"].update(
        {"contactId": item["contactId"]},
        Update(set={"deletedAt": clock.now()}),
    )
    assert _make(contacts, phone=UK)["phone"] == UK


def test_a_contact_is_seven_items_and_only_one_is_a_contact(contacts: ContactService, tables: Tables) -> None:
    item = _make(contacts, name="Olivia Smith", phone=UK, email="o@example.com")
    others = {
        i["contactId"]: i
        for i in tables["Contacts"].scan(limit=100).items
        if i["contactId"] != item["contactId"]
    }
    # two uniqueness guards (which are also the phone and e-mail index entries), two name entries, one
    # e-mail word ("o" is too short to index, "com" is the top-level domain) and the phone's suffix
    assert sorted(others) == sorted(
        [
            f"phone#{UK}",
            "email#o@example.com",
            f"sx#{item['contactId']}#n#olivia",
            f"sx#{item['contactId']}#n#smith",
            f"sx#{item['contactId']}#w#example",
            f"sx#{item['contactId']}#s#8765432187",
        ]
    )
    assert {i["kind"] for i in others.values()} == {"guard", "search"}
    for key, other in others.items():
        with pytest.raises(NotFound):
            contacts.get(key)
        assert other["ref"] == item["contactId"]
        assert set(other) <= {
            "contactId",
            "kind",
            "ref",
            "createdAt",
            "searchBucket",
            "searchKey",
            "tok",
            "src",
        }
    assert others[f"phone#{UK}"]["searchKey"] == f"7812345678 {item['contactId']}"
    assert contacts.list_page().items == [item]


def test_a_deleted_contact_keeps_only_its_deleted_index_entries(
    contacts: ContactService, tables: Tables
) -> None:
    item = _make(contacts, name="Olivia Smith", phone=UK, email="o@example.com")
    cid = item["contactId"]
    contacts.delete(cid, actor="t")
    others = {i["contactId"]: i for i in tables["Contacts"].scan(limit=100).items if i["contactId"] != cid}
    # the guards are released and the active entries removed; every field is indexed for deleted contacts
    assert sorted(others) == sorted(
        [
            f"sx#{cid}#xn#olivia",
            f"sx#{cid}#xn#smith",
            f"sx#{cid}#xw#example",
            f"sx#{cid}#xs#8765432187",
            f"sx#{cid}#xe#o@example.com",
            f"sx#{cid}#xp#7812345678",
        ]
    )
    assert {i["kind"] for i in others.values()} == {"search"}
    assert all(str(i["searchBucket"]).startswith("x") and i["ref"] == cid for i in others.values())
    assert contacts.search("olivia").items == []
    assert [c["contactId"] for c in contacts.search("olivia", include_deleted=True).items] == [cid]
