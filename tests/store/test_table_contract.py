"""The ``Table`` contract: every adapter (memory fake, SQLite, DynamoDB via moto) behaves the same."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from store_helpers import Store, drain

from gateway.store.conditions import And, Attr, Not, Or, SortKey, eq, exists, not_exists
from gateway.store.port import ConditionFailed, InvalidCursor, Item, Page, Table, Update


def msg(mid: str, contact: str = "c-1", ts: int = 1, **extra: object) -> Item:
    return {"messageId": mid, "contactId": contact, "timestamp": ts, "status": "sent", **extra}


# -- single items --------------------------------------------------------------------------------------


def test_put_then_get_returns_an_equal_item(store: Store) -> None:
    contacts = store.tables["Contacts"]
    item = {
        "contactId": "c-1",
        "name": "Ana Ñúñez 🙂",
        "optInWhatsApp": True,
        "optInSms": False,
        "score": 0.1,
        "count": 7,
        "nothing": None,
        "tags": ["a", "b"],
        "nested": {"x": [1, 2.5, {"y": "z"}]},
    }
    contacts.put(item)
    assert contacts.get({"contactId": "c-1"}) == item
    assert contacts.get({"contactId": "c-2"}) is None


def test_get_returns_a_copy_not_the_stored_item(store: Store) -> None:
    contacts = store.tables["Contacts"]
    contacts.put({"contactId": "c-1", "tags": ["a"]})
    got = contacts.get({"contactId": "c-1"})
    assert got is not None
    got["tags"].append("mutated")
    assert contacts.get({"contactId": "c-1"}) == {"contactId": "c-1", "tags": ["a"]}


def test_put_replaces_the_whole_item(store: Store) -> None:
    contacts = store.tables["Contacts"]
    contacts.put({"contactId": "c-1", "name": "A", "email": "a@example.com"})
    contacts.put({"contactId": "c-1", "name": "B"})
    assert contacts.get({"contactId": "c-1"}) == {"contactId": "c-1", "name": "B"}


def test_put_must_not_exist_fails_the_second_time_and_keeps_the_first(store: Store) -> None:
    messages = store.tables["Messages"]
    messages.put(msg("m-1", body="first"), condition=not_exists("messageId"))
    with pytest.raises(ConditionFailed):
        messages.put(msg("m-1", body="second"), condition=not_exists("messageId"))
    got = messages.get({"messageId": "m-1"})
    assert got is not None and got["body"] == "first"


def test_composite_key_must_not_exist_is_per_full_key(store: Store) -> None:
    recipients = store.tables["BulkRecipients"]
    recipients.put({"jobId": "j", "recipientId": "r1"}, condition=not_exists("jobId"))
    recipients.put({"jobId": "j", "recipientId": "r2"}, condition=not_exists("jobId"))
    with pytest.raises(ConditionFailed):
        recipients.put({"jobId": "j", "recipientId": "r1", "x": 1}, condition=not_exists("recipientId"))
    assert recipients.get({"jobId": "j", "recipientId": "r1"}) == {"jobId": "j", "recipientId": "r1"}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (eq("status", "sent"), True),
        (eq("status", "failed"), False),
        (Attr("status", "ne", "failed"), True),
        (Attr("missing", "ne", "x"), True),
        (Attr("attempts", "lt", 3), True),
        (Attr("attempts", "le", 2), True),
        (Attr("attempts", "gt", 2), False),
        (Attr("attempts", "ge", 2), True),
        (Attr("attempts", "eq", "2"), False),
        (Attr("missing", "eq", None), False),
        (Attr("missing", "lt", 5), False),
        (Attr("status", "begins_with", "se"), True),
        (Attr("status", "begins_with", "x"), False),
        (Attr("tags", "contains", "vip"), True),
        (Attr("status", "contains", "en"), True),
        (Attr("status", "in", ["queued", "sent"]), True),
        (Attr("status", "in", ["queued"]), False),
        (Attr("status", "in", []), False),
        (exists("attempts"), True),
        (not_exists("attempts"), False),
        (eq("status", "sent") & Attr("attempts", "lt", 2), False),
        (eq("status", "x") | Attr("attempts", "lt", 3), True),
        (Not(eq("status", "sent")), False),
        (And((eq("status", "sent"), Or((eq("attempts", 9), exists("tags"))))), True),
        (eq("flag", True), True),
        (eq("flag", 1), False),
    ],
)
def test_condition_algebra_guards_writes(store: Store, condition: Attr | And | Or | Not, holds: bool) -> None:
    messages = store.tables["Messages"]
    messages.put(msg("m-1", attempts=2, tags=["vip", "x"], flag=True))
    if holds:
        messages.update({"messageId": "m-1"}, Update(set={"checked": True}), condition=condition)
        assert messages.get({"messageId": "m-1"})["checked"] is True  # type: ignore[index]
    else:
        with pytest.raises(ConditionFailed):
            messages.update({"messageId": "m-1"}, Update(set={"checked": True}), condition=condition)
        assert "checked" not in messages.get({"messageId": "m-1"})  # type: ignore[operator]


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (eq("status", "sending"), True),
        (eq("status", "sent"), False),
        (Attr("status", "in", ["queued", "sending"]), True),
        (Attr("status", "in", ["queued"]), False),
        (eq("whatsappMessageId", "wamid-1"), False),  # an index attribute the item does not have
        (eq("messageId", "m-1"), True),  # the key itself
        (eq("status", 1), False),  # a number never equals a text attribute
        (Attr("status", "in", ["sending", 1]), True),
    ],
)
def test_a_conditional_put_on_an_indexed_attribute_replaces_only_a_matching_item(
    store: Store, condition: Attr, holds: bool
) -> None:
    # The SQLite adapter checks these in SQL on the index column, without reading the item: it must
    # agree with the other adapters, which evaluate the condition on the stored item.
    messages = store.tables["Messages"]
    messages.put(msg("m-1", status="sending", body="first"))
    replacement = msg("m-1", status="sent", body="second", providerMessageId="p-1")
    if holds:
        messages.put(replacement, condition=condition)
        assert messages.get({"messageId": "m-1"}) == replacement
        assert [i["messageId"] for i in messages.query("sent", index="byStatus").items] == ["m-1"]
        assert messages.query("sending", index="byStatus").items == []
    else:
        with pytest.raises(ConditionFailed):
            messages.put(replacement, condition=condition)
        assert messages.get({"messageId": "m-1"}) == msg("m-1", status="sending", body="first")


def test_a_conditional_put_on_an_indexed_attribute_sees_an_absent_or_expired_item_as_absent(
    store: Store,
) -> None:
    messages = store.tables["Messages"]
    now = int(store.clock.now())
    with pytest.raises(ConditionFailed):
        messages.put(msg("m-none", status="sent"), condition=eq("status", "sending"))
    assert messages.get({"messageId": "m-none"}) is None
    messages.put(msg("m-old", status="sending", expiresAt=now + 5))
    store.clock.advance(6)
    with pytest.raises(ConditionFailed):
        messages.put(msg("m-old", status="sent", expiresAt=now + 500), condition=eq("status", "sending"))
    assert messages.get({"messageId": "m-old"}) is None


def test_conditions_on_an_absent_item_see_no_attributes(store: Store) -> None:
    config = store.tables["SystemConfig"]
    with pytest.raises(ConditionFailed):
        config.put({"configKey": "k", "v": 1}, condition=eq("v", 0))
    assert config.get({"configKey": "k"}) is None
    config.put({"configKey": "k", "v": 1}, condition=Attr("v", "ne", 0))
    assert config.get({"configKey": "k"}) == {"configKey": "k", "v": 1}


def test_update_sets_adds_and_removes_and_returns_the_new_item(store: Store) -> None:
    jobs = store.tables["BulkJobs"]
    jobs.put({"jobId": "j-1", "status": "pending", "sent": 1, "note": "x", "createdAt": 10})
    after = jobs.update(
        {"jobId": "j-1"}, Update(set={"status": "running"}, add={"sent": 2, "failed": 1}, remove=["note"])
    )
    expected = {"jobId": "j-1", "status": "running", "sent": 3, "failed": 1, "createdAt": 10}
    assert after == expected
    assert jobs.get({"jobId": "j-1"}) == expected


def test_update_creates_an_absent_item_from_its_key(store: Store) -> None:
    trackers = store.tables["RateLimitTrackers"]
    after = trackers.update({"channel": "sms", "windowStart": 60}, Update(add={"count": 1}))
    assert after == {"channel": "sms", "windowStart": 60, "count": 1}
    empty = store.tables["BulkRecipients"].update({"jobId": "j", "recipientId": "r"}, Update())
    assert empty == {"jobId": "j", "recipientId": "r"}
    assert store.tables["BulkRecipients"].get({"jobId": "j", "recipientId": "r"}) == empty


def test_update_adds_floats(store: Store) -> None:
    config = store.tables["SystemConfig"]
    config.update({"configKey": "k"}, Update(add={"x": 1.5}))
    assert config.update({"configKey": "k"}, Update(add={"x": 2}))["x"] == pytest.approx(3.5)


def test_conditional_update_that_fails_changes_nothing(store: Store) -> None:
    jobs = store.tables["BulkJobs"]
    jobs.put({"jobId": "j-1", "status": "paused", "sent": 0})
    with pytest.raises(ConditionFailed):
        jobs.update(
            {"jobId": "j-1"},
            Update(set={"status": "running"}, add={"sent": 1}),
            condition=eq("status", "pending"),
        )
    assert jobs.get({"jobId": "j-1"}) == {"jobId": "j-1", "status": "paused", "sent": 0}


def test_conditional_update_requiring_existence_does_not_create(store: Store) -> None:
    jobs = store.tables["BulkJobs"]
    with pytest.raises(ConditionFailed):
        jobs.update({"jobId": "nope"}, Update(set={"status": "x"}), condition=exists("jobId"))
    assert jobs.get({"jobId": "nope"}) is None


def test_atomic_add_to_a_non_number_fails(store: Store) -> None:
    jobs = store.tables["BulkJobs"]
    jobs.put({"jobId": "j-1", "sent": "many"})
    with pytest.raises(ConditionFailed):
        jobs.update({"jobId": "j-1"}, Update(add={"sent": 1}))
    assert jobs.get({"jobId": "j-1"}) == {"jobId": "j-1", "sent": "many"}


def test_delete_removes_and_tolerates_absence(store: Store) -> None:
    users = store.tables["Users"]
    users.put({"userId": "u-1", "email": "a@example.com"})
    users.delete({"userId": "u-1"})
    users.delete({"userId": "u-1"})
    assert users.get({"userId": "u-1"}) is None
    assert users.query("a@example.com", index="byEmail").items == []


def test_conditional_delete(store: Store) -> None:
    users = store.tables["Users"]
    users.put({"userId": "u-1", "role": "Admin"})
    with pytest.raises(ConditionFailed):
        users.delete({"userId": "u-1"}, condition=eq("role", "Viewer"))
    assert users.get({"userId": "u-1"}) is not None
    users.delete({"userId": "u-1"}, condition=eq("role", "Admin"))
    assert users.get({"userId": "u-1"}) is None
    with pytest.raises(ConditionFailed):
        users.delete({"userId": "u-1"}, condition=exists("userId"))


# -- validation (what DynamoDB rejects, every adapter rejects) -------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        {"name": "no key"},
        {"messageId": ""},
        {"messageId": 5},
        {"messageId": "m", "timestamp": "yesterday", "contactId": "c"},
        {"messageId": "m", "status": None},
        {"messageId": "m", "whatsappMessageId": ""},
    ],
)
def test_invalid_keys_are_rejected(store: Store, item: Item) -> None:
    with pytest.raises(ValueError):
        store.tables["Messages"].put(item)
    assert store.tables["Messages"].scan().items == []


def test_composite_key_needs_both_parts(store: Store) -> None:
    with pytest.raises(ValueError):
        store.tables["BulkRecipients"].put({"jobId": "j"})
    with pytest.raises(ValueError):
        store.tables["RateLimitTrackers"].get({"channel": "sms", "windowStart": "0"})


def test_update_cannot_change_a_key(store: Store) -> None:
    with pytest.raises(ValueError):
        store.tables["Contacts"].update({"contactId": "c"}, Update(set={"contactId": "d"}))
    with pytest.raises(ValueError):
        store.tables["Messages"].update({"messageId": "m"}, Update(set={"timestamp": "late"}))


def test_bad_query_arguments_are_rejected(store: Store) -> None:
    messages = store.tables["Messages"]
    with pytest.raises(ValueError):
        messages.query("c", index="byContact", limit=0)
    with pytest.raises(ValueError):
        messages.query(5, index="byContact")
    with pytest.raises(ValueError):
        messages.query("c", index="byContact", sort=SortKey("begins_with", "1"))
    with pytest.raises(KeyError):
        messages.query("c", index="noSuchIndex")
    with pytest.raises(KeyError):
        store.tables["NoSuchTable"]


# -- queries ---------------------------------------------------------------------------------------------


def _recipients(table: Table, job: str, ids: list[str]) -> None:
    for rid in ids:
        table.put({"jobId": job, "recipientId": rid, "status": "pending"})


def test_query_returns_one_partition_in_sort_order(store: Store) -> None:
    recipients = store.tables["BulkRecipients"]
    _recipients(recipients, "j-1", ["r3", "r1", "r2"])
    _recipients(recipients, "j-2", ["r9"])
    assert [i["recipientId"] for i in recipients.query("j-1").items] == ["r1", "r2", "r3"]
    assert [i["recipientId"] for i in recipients.query("j-1", descending=True).items] == ["r3", "r2", "r1"]
    assert recipients.query("j-3").items == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (SortKey("eq", "b-2"), ["b-2"]),
        (SortKey("lt", "b-1"), ["a-1", "a-2"]),
        (SortKey("le", "b-1"), ["a-1", "a-2", "b-1"]),
        (SortKey("gt", "b-1"), ["b-2", "c-1"]),
        (SortKey("ge", "b-1"), ["b-1", "b-2", "c-1"]),
        (SortKey("between", ("a-2", "b-2")), ["a-2", "b-1", "b-2"]),
        (SortKey("between", ("b-2", "a-2")), []),
        (SortKey("begins_with", "b-"), ["b-1", "b-2"]),
        (SortKey("begins_with", "z"), []),
    ],
)
def test_query_sort_key_conditions(store: Store, sort: SortKey, expected: list[str]) -> None:
    recipients = store.tables["BulkRecipients"]
    _recipients(recipients, "j", ["c-1", "a-1", "b-2", "a-2", "b-1"])
    _recipients(recipients, "other", ["b-1"])
    assert [i["recipientId"] for i in recipients.query("j", sort=sort).items] == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [10, 20, 30, 40]),
        (SortKey("eq", 20), [20]),
        (SortKey("lt", 30), [10, 20]),
        (SortKey("ge", 30), [30, 40]),
        (SortKey("between", (15, 35)), [20, 30]),
        (SortKey("between", (20.5, 40)), [30, 40]),
    ],
)
def test_index_query_with_numeric_sort_key(store: Store, sort: SortKey | None, expected: list[int]) -> None:
    messages = store.tables["Messages"]
    for ts in (30, 10, 40, 20):
        messages.put(msg(f"m-{ts}", contact="c-1", ts=ts))
    messages.put(msg("m-other", contact="c-2", ts=20))
    page = messages.query("c-1", index="byContact", sort=sort)
    assert [i["timestamp"] for i in page.items] == expected
    assert all(i["contactId"] == "c-1" for i in page.items)
    desc = messages.query("c-1", index="byContact", sort=sort, descending=True)
    assert [i["timestamp"] for i in desc.items] == expected[::-1]


def test_index_is_sparse(store: Store) -> None:
    messages = store.tables["Messages"]
    messages.put(msg("m-1", whatsappMessageId="wamid.1"))
    messages.put({"messageId": "m-2", "contactId": "c-1"})  # no timestamp: not in byContact
    messages.put({"messageId": "m-3", "timestamp": 5, "status": "queued"})  # no contactId
    assert [i["messageId"] for i in messages.query("c-1", index="byContact").items] == ["m-1"]
    assert [i["messageId"] for i in messages.query("wamid.1", index="byWhatsappMessageId").items] == ["m-1"]
    assert [i["messageId"] for i in messages.query("queued", index="byStatus").items] == ["m-3"]
    # Removing an index attribute takes the item out of the index.
    messages.update({"messageId": "m-1"}, Update(remove=["whatsappMessageId"]))
    assert messages.query("wamid.1", index="byWhatsappMessageId").items == []
    # Changing it moves the item.
    messages.update({"messageId": "m-3"}, Update(set={"status": "sent"}))
    assert messages.query("queued", index="byStatus").items == []
    assert {i["messageId"] for i in messages.query("sent", index="byStatus").items} == {"m-1", "m-3"}


def test_index_without_sort_key_holds_several_items(store: Store) -> None:
    media = store.tables["MediaFiles"]
    for fid in ("f-2", "f-1", "f-3"):
        media.put({"fileId": fid, "messageId": "m-1"})
    media.put({"fileId": "f-9", "messageId": "m-2"})
    page = media.query("m-1", index="byMessage", limit=2)
    rest = media.query("m-1", index="byMessage", limit=2, cursor=page.cursor)
    assert sorted(i["fileId"] for i in page.items + rest.items) == ["f-1", "f-2", "f-3"]
    assert rest.cursor is None


def test_query_filter_applies_after_the_key_condition(store: Store) -> None:
    messages = store.tables["Messages"]
    for ts in range(10):
        messages.put(msg(f"m-{ts}", ts=ts, channel="sms" if ts % 3 == 0 else "whatsapp"))
    page = messages.query("c-1", index="byContact", filter=eq("channel", "sms"))
    assert [i["timestamp"] for i in page.items] == [0, 3, 6, 9]


@pytest.mark.parametrize(
    "condition",
    [
        And((eq("channel", "sms"),)),
        Or((eq("channel", "sms"),)),
        And((Or((eq("channel", "sms"),)),)),
        Not(And((Not(eq("channel", "sms")),))),
    ],
    ids=["and-of-one", "or-of-one", "nested-of-one", "not-not"],
)
def test_a_filter_of_one_part_is_that_part(store: Store, condition: And | Or | Not) -> None:
    # DynamoDB refuses "((a))" as redundant parentheses; GET /api/messages builds And((kind = message,)).
    messages = store.tables["Messages"]
    for ts in range(6):
        messages.put(msg(f"m-{ts}", ts=ts, channel="sms" if ts % 2 == 0 else "whatsapp"))
    page = messages.query("c-1", index="byContact", filter=condition)
    assert [i["timestamp"] for i in page.items] == [0, 2, 4]
    scanned = [i for p in drain(lambda c: messages.scan(filter=condition, cursor=c)) for i in p.items]
    assert sorted(i["timestamp"] for i in scanned) == [0, 2, 4]


# -- pagination ------------------------------------------------------------------------------------------


def test_query_pagination_has_no_gaps_and_no_duplicates(store: Store) -> None:
    messages = store.tables["Messages"]
    for i in range(23):
        messages.put(msg(f"m-{i:02d}", ts=100 + i % 7))  # ties on the sort key span pages
    for descending in (False, True):

        def fetch(cursor: str | None, descending: bool = descending) -> Page:
            return messages.query("c-1", index="byContact", limit=5, cursor=cursor, descending=descending)

        pages = drain(fetch)
        assert [len(p.items) for p in pages] == [5, 5, 5, 5, 3]
        ids = [i["messageId"] for p in pages for i in p.items]
        assert sorted(ids) == [f"m-{i:02d}" for i in range(23)]
        stamps = [i["timestamp"] for p in pages for i in p.items]
        assert stamps == sorted(stamps, reverse=descending)


def test_a_page_that_exactly_fills_the_limit_has_no_cursor(store: Store) -> None:
    recipients = store.tables["BulkRecipients"]
    _recipients(recipients, "j", ["r1", "r2", "r3", "r4"])
    first = recipients.query("j", limit=2)
    second = recipients.query("j", limit=2, cursor=first.cursor)
    assert first.cursor is not None and second.cursor is None
    assert [i["recipientId"] for i in first.items + second.items] == ["r1", "r2", "r3", "r4"]
    assert recipients.query("j", limit=4).cursor is None


def test_limit_counts_matching_items_across_pages(store: Store) -> None:
    recipients = store.tables["BulkRecipients"]
    for i in range(40):
        status = "failed" if i % 8 == 0 else "sent"
        recipients.put({"jobId": "j", "recipientId": f"r{i:02d}", "status": status})
    pages = drain(lambda c: recipients.query("j", filter=eq("status", "failed"), limit=2, cursor=c))
    assert [[i["recipientId"] for i in p.items] for p in pages] == [["r00", "r08"], ["r16", "r24"], ["r32"]]


def test_scan_visits_every_item_once_with_filter(store: Store) -> None:
    contacts = store.tables["Contacts"]
    for i in range(31):
        contacts.put({"contactId": f"c-{i:02d}", "vip": i % 4 == 0})
    pages = drain(lambda c: contacts.scan(limit=4, cursor=c))
    ids = [i["contactId"] for p in pages for i in p.items]
    assert len(pages) == 8 and len(ids) == 31 and len(set(ids)) == 31
    vip = drain(lambda c: contacts.scan(filter=eq("vip", True), limit=3, cursor=c))
    assert sorted(i["contactId"] for p in vip for i in p.items) == [f"c-{i:02d}" for i in range(0, 31, 4)]
    assert [len(p.items) for p in vip] == [3, 3, 2]


def test_items_written_between_pages_do_not_break_the_cursor(store: Store) -> None:
    recipients = store.tables["BulkRecipients"]
    _recipients(recipients, "j", ["r1", "r2", "r3", "r4", "r5"])
    first = recipients.query("j", limit=2)
    recipients.delete({"jobId": "j", "recipientId": "r2"})  # the cursor's own item goes away
    recipients.put({"jobId": "j", "recipientId": "r0"})  # before the cursor: not revisited
    recipients.put({"jobId": "j", "recipientId": "r9"})  # after it: seen
    rest = recipients.query("j", limit=10, cursor=first.cursor)
    assert [i["recipientId"] for i in rest.items] == ["r3", "r4", "r5", "r9"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _tampered(cursor: str) -> str:
    """The same cursor with its key edited and the original tag kept (what a forger can make)."""
    body, _, tag = cursor.partition(".")
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw["k"] = {"bogus": 1}
    return _b64(json.dumps(raw).encode()) + "." + tag


def _forged_deep(cursor: str) -> str:
    """A well-formed cursor shape around 1,000 nested lists, with a guessed tag."""
    return _b64(b"[" * 1000) + "." + cursor.partition(".")[2]


def test_invalid_cursors_are_refused(store: Store) -> None:
    recipients = store.tables["BulkRecipients"]
    _recipients(recipients, "j", ["r1", "r2", "r3"])
    _recipients(recipients, "k", ["r1", "r2", "r3"])
    cursor = recipients.query("j", limit=1).cursor
    assert cursor is not None
    for bad in ("not a cursor!", "e30", "", "eyJrIjpbXX0"):
        with pytest.raises(InvalidCursor):
            recipients.query("j", limit=1, cursor=bad)
    with pytest.raises(InvalidCursor):  # another partition's query
        recipients.query("k", limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):  # a scan cursor in a query
        recipients.query("j", limit=1, cursor=recipients.scan(limit=1).cursor)
    with pytest.raises(InvalidCursor):  # another table
        store.tables["Contacts"].scan(cursor=recipients.scan(limit=1).cursor)
    for forged in (_tampered(cursor), _forged_deep(cursor), _b64(b"[" * 1000), cursor + "A"):
        with pytest.raises(InvalidCursor):
            recipients.query("j", limit=1, cursor=forged)
        with pytest.raises(InvalidCursor):
            recipients.scan(limit=1, cursor=forged)


def test_cursors_hold_across_instances_over_one_store(store: Store) -> None:
    # The signing key lives in the store, so a second adapter over the same data accepts the cursor.
    recipients = store.tables["BulkRecipients"]
    _recipients(recipients, "j", ["r1", "r2", "r3"])
    cursor = recipients.query("j", limit=1).cursor
    assert cursor is not None
    page = store.reopen()["BulkRecipients"].query("j", limit=1, cursor=cursor)
    assert [i["recipientId"] for i in page.items] == ["r2"]


# -- TTL -------------------------------------------------------------------------------------------------


def test_expired_items_are_invisible_to_every_read(store: Store) -> None:
    messages = store.tables["Messages"]
    now = int(store.clock.now())
    messages.put(msg("m-live", ts=1, expiresAt=now + 100))
    messages.put(msg("m-soon", ts=2, expiresAt=now + 10))
    messages.put(msg("m-past", ts=3, expiresAt=now - 1))
    messages.put(msg("m-none", ts=4))
    messages.put(msg("m-text", ts=5, expiresAt="not a number"))  # DynamoDB's TTL ignores non-numbers

    def visible() -> dict[str, set[str]]:
        return {
            "get": {
                m
                for m in ("m-live", "m-soon", "m-past", "m-none", "m-text")
                if messages.get({"messageId": m}) is not None
            },
            "query": {i["messageId"] for i in messages.query("c-1", index="byContact").items},
            "status": {i["messageId"] for i in messages.query("sent", index="byStatus").items},
            "scan": {i["messageId"] for i in messages.scan().items},
        }

    assert all(v == {"m-live", "m-soon", "m-none", "m-text"} for v in visible().values())
    store.clock.advance(10)  # expiresAt == now counts as expired
    assert all(v == {"m-live", "m-none", "m-text"} for v in visible().values())


def test_expired_item_counts_as_absent_for_writes(store: Store) -> None:
    messages = store.tables["Messages"]
    now = int(store.clock.now())
    messages.put(msg("m-1", expiresAt=now + 5, old="yes", attempts=3))
    store.clock.advance(6)
    messages.put(msg("m-1", expiresAt=now + 500), condition=not_exists("messageId"))
    got = messages.get({"messageId": "m-1"})
    assert got is not None and "old" not in got

    messages.put(msg("m-2", expiresAt=now + 7, old="yes", attempts=3))
    store.clock.advance(2)
    after = messages.update({"messageId": "m-2"}, Update(add={"attempts": 1}))
    assert after == {"messageId": "m-2", "attempts": 1}  # a fresh item, not a merge into the expired one

    messages.put(msg("m-3", expiresAt=now + 7))
    with pytest.raises(ConditionFailed):
        messages.delete({"messageId": "m-3"}, condition=exists("messageId"))
    with pytest.raises(ConditionFailed):
        messages.update({"messageId": "m-3"}, Update(set={"x": 1}), condition=eq("status", "sent"))


def test_ttl_applies_to_the_tables_own_attribute(store: Store) -> None:
    trackers = store.tables["RateLimitTrackers"]  # TTL attribute: lastUpdatedAt
    now = int(store.clock.now())
    trackers.put({"channel": "sms", "windowStart": 1, "lastUpdatedAt": now - 1, "expiresAt": now + 99})
    trackers.put({"channel": "sms", "windowStart": 2, "lastUpdatedAt": now + 99, "expiresAt": now - 1})
    assert [i["windowStart"] for i in trackers.query("sms").items] == [2]
    contacts = store.tables["Contacts"]  # no TTL at all
    contacts.put({"contactId": "c", "expiresAt": now - 1})
    assert contacts.get({"contactId": "c"}) is not None


def test_pagination_skips_expired_items(store: Store) -> None:
    messages = store.tables["Messages"]
    now = int(store.clock.now())
    for i in range(30):
        messages.put(msg(f"m-{i:02d}", ts=i, expiresAt=now - 1 if i % 3 else now + 100))
    pages = drain(lambda c: messages.query("c-1", index="byContact", limit=4, cursor=c))
    assert [i["timestamp"] for p in pages for i in p.items] == list(range(0, 30, 3))
    assert [len(p.items) for p in pages] == [4, 4, 2]


# -- concurrency -----------------------------------------------------------------------------------------


def test_conditional_put_race_has_exactly_one_winner(store: Store) -> None:
    messages = store.tables["Messages"]
    threads, keys = 8, 12
    barrier = threading.Barrier(threads)

    def contender(worker: int) -> list[str]:
        barrier.wait()
        won = []
        for k in range(keys):
            try:
                messages.put(msg(f"m-{k}", owner=worker), condition=not_exists("messageId"))
                won.append(f"m-{k}")
            except ConditionFailed:
                pass
        return won

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(contender, range(threads)))
    wins = [k for r in results for k in r]
    assert sorted(wins) == sorted(f"m-{k}" for k in range(keys))
    for k in range(keys):
        owner = messages.get({"messageId": f"m-{k}"})["owner"]  # type: ignore[index]
        assert f"m-{k}" in results[owner]


def test_atomic_counter_loses_no_update_under_threads(store: Store) -> None:
    jobs = store.tables["BulkJobs"]
    threads, each = 8, 25
    barrier = threading.Barrier(threads)

    def bump(_: int) -> None:
        barrier.wait()
        for _ in range(each):
            jobs.update({"jobId": "j"}, Update(add={"sent": 1}))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(bump, range(threads)))
    assert jobs.get({"jobId": "j"}) == {"jobId": "j", "sent": threads * each}


def test_compare_and_set_updates_serialise(store: Store) -> None:
    """Read-then-conditional-write loops (optimistic locking) never both succeed on one version."""
    config = store.tables["SystemConfig"]
    config.put({"configKey": "v", "version": 0})
    threads, each = 6, 10

    def worker(_: int) -> int:
        done = 0
        while done < each:
            current = config.get({"configKey": "v"})
            assert current is not None
            try:
                config.update(
                    {"configKey": "v"},
                    Update(set={"version": current["version"] + 1}),
                    condition=eq("version", current["version"]),
                )
                done += 1
            except ConditionFailed:
                continue
        return done

    with ThreadPoolExecutor(threads) as pool:
        assert sum(pool.map(worker, range(threads))) == threads * each
    assert config.get({"configKey": "v"}) == {"configKey": "v", "version": threads * each}


def test_data_survives_reopening(store: Store) -> None:
    store.tables["Contacts"].put({"contactId": "c-1", "name": "kept"})
    again = store.reopen()
    assert again["Contacts"].get({"contactId": "c-1"}) == {"contactId": "c-1", "name": "kept"}


def test_page_type(store: Store) -> None:
    page = store.tables["Contacts"].scan()
    assert isinstance(page, Page) and page.items == [] and page.cursor is None
