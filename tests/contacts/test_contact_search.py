"""Contact search: an index lookup (never a scan), by name fragment, phone as typed, or e-mail."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.contacts.fields import BIDI_CONTROLS
from gateway.contacts.service import ContactService
from gateway.errors import Conflict, InvalidInput
from gateway.store.memory import MemoryTables
from gateway.store.port import ConditionFailed, Tables

UK = "+447812345678"


# Names an operator may type: control and bidirectional control characters are refused (422).
PRINTABLE_NAME = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="".join(BIDI_CONTROLS))


def _ids(page_items: list[dict[str, Any]]) -> list[str]:
    return [c["contactId"] for c in page_items]


def _all(contacts: ContactService, q: str, limit: int = 100, *, include_deleted: bool = False) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = contacts.search(q, limit=limit, cursor=cursor, include_deleted=include_deleted)
        found.extend(_ids(page.items))
        cursor = page.cursor
        if cursor is None:
            return found


@pytest.fixture
def people(contacts: ContactService) -> dict[str, str]:
    data = {
        "olivia": {"name": "Olivia Smith", "phone": UK, "email": "olivia.smith@example.com"},
        "obrien": {"name": "Seán O'Brien-Walsh", "phone": "+4915112345678", "email": "sean@example.ie"},
        "john": {"name": "John Smithers", "phone": "+447898765432"},
        "jsmith": {"name": "Jane Doe", "email": "jsmith@example.org"},
        "us": {"name": "Ann Annabel", "phone": "+12025550123"},
    }
    return {key: contacts.create(fields, actor="usr_test")["contactId"] for key, fields in data.items()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("olivia", ["olivia"]),
        ("SMITH", ["olivia", "john"]),  # a prefix: Smithers too
        ("smi", ["olivia", "john"]),
        ("smithers", ["john"]),
        ("Smith Ol", ["olivia"]),
        ("john smi", ["john"]),
        ("sean", ["obrien"]),  # accents are ignored
        ("SEÁN", ["obrien"]),
        ("o'brien", ["obrien"]),
        ("obrien", ["obrien"]),
        ("walsh", ["obrien"]),
        ("brien-walsh", ["obrien"]),
        ("ann", ["us"]),  # "Ann Annabel": two matching words, one result
        ("+44 7812 345678", ["olivia"]),
        ("07812 345678", ["olivia"]),
        ("7812-345678", ["olivia"]),
        ("447812345678", ["olivia"]),
        ("0044 7812 345678", ["olivia"]),
        ("+44 (0)7812 345678", ["olivia"]),
        ("07812", ["olivia"]),
        ("+49 151 1234 5678", ["obrien"]),
        ("0151 12345678", ["obrien"]),
        ("(202) 555-0123", ["us"]),
        ("+1 202 555 0123", ["us"]),
        ("olivia.smith@example.com", ["olivia"]),
        ("OLIVIA.SMITH@", ["olivia"]),
        ("jsmith", ["jsmith"]),  # a single word also finds e-mail addresses that start with it
        ("jsmith@example.org", ["jsmith"]),
        ("zz", []),
        ("nobody@example.com", []),
    ],
)
def test_search_examples(
    contacts: ContactService, people: dict[str, str], query: str, expected: list[str]
) -> None:
    assert sorted(_all(contacts, query)) == sorted(people[k] for k in expected)


def test_a_name_match_and_an_e_mail_match_of_one_contact_count_once(contacts: ContactService) -> None:
    item = contacts.create({"name": "Olivia Smith", "email": "olivia@example.com"}, actor="usr_test")
    assert _all(contacts, "olivia") == [item["contactId"]]
    assert _all(contacts, "olivia", limit=1) == [item["contactId"]]


@pytest.mark.parametrize("query", ["", " ", "a", "+4", "12", "-", "'", "x" * 201])
def test_queries_too_short_to_look_up_are_refused(contacts: ContactService, query: str) -> None:
    with pytest.raises(InvalidInput):
        contacts.search(query)


def test_pages_cover_every_match_once(contacts: ContactService) -> None:
    made = {
        contacts.create({"name": f"Person{n:02d} Smith", "phone": f"+4478123456{n:02d}"}, actor="t")[
            "contactId"
        ]
        for n in range(25)
    }
    contacts.create({"name": "Someone Else", "phone": "+447898765432"}, actor="t")
    for limit in (1, 7, 10, 25, 100):
        seen = _all(contacts, "smith", limit=limit)
        assert len(seen) == len(set(seen)) == 25 and set(seen) == made
    first = contacts.search("smith", limit=10)
    assert len(first.items) == 10 and first.cursor is not None
    with pytest.raises(InvalidInput):
        contacts.search("person", cursor=first.cursor)  # a cursor belongs to its query
    with pytest.raises(InvalidInput):
        contacts.search("smith", cursor="not-a-cursor")


def test_deleted_and_renamed_contacts_follow_their_changes(contacts: ContactService) -> None:
    olivia = contacts.create({"name": "Olivia Smith", "phone": UK, "email": "o@example.com"}, actor="t")
    other = contacts.create({"name": "Olivia Jones", "phone": "+447898765432"}, actor="t")
    contacts.update(other["contactId"], {"name": "Liv Brown", "phone": "+447911123456"}, actor="t")
    assert _all(contacts, "olivia") == [olivia["contactId"]]
    assert _all(contacts, "brown") == [other["contactId"]]
    assert _all(contacts, "07898 765432") == []
    assert _all(contacts, "07911 123456") == [other["contactId"]]
    contacts.delete(olivia["contactId"], actor="t")
    assert _all(contacts, "olivia") == []
    assert _all(contacts, "o@example.com") == []
    assert _all(contacts, "+44 7812 345678") == []


def test_leftover_entries_of_interrupted_writes_are_never_shown(
    contacts: ContactService, tables: Tables
) -> None:
    item = contacts.create({"name": "Olivia Smith", "phone": UK}, actor="t")
    entry = next(
        i
        for i in tables["Contacts"].scan(limit=100).items
        if i["kind"] == "search" and i["searchKey"].startswith("olivia ")
    )
    # an entry pointing at a contact that was never written, and one for a name the contact no longer has
    tables["Contacts"].put(
        {**entry, "contactId": "sx#ct_ghost#n#olivia", "searchKey": "olivia ct_ghost", "ref": "ct_ghost"}
    )
    tables["Contacts"].put(
        {
            **entry,
            "contactId": f"sx#{item['contactId']}#n#olga",
            "searchBucket": "n:ol",
            "searchKey": f"olga {item['contactId']}",
            "tok": {"n": ["olga", "smith"], "e": [], "p": []},
            # made from the name the contact had before an update that did not finish cleaning up
            "src": {**entry["src"], "name": "Olga Smith"},
        }
    )
    assert _all(contacts, "olivia") == [item["contactId"]]
    assert _all(contacts, "olga") == []


class CountingTables:
    """Tables whose Contacts table records which operations search used."""

    def __init__(self, inner: Tables) -> None:
        self._inner = inner
        self.cursors = inner.cursors
        self.calls: list[str] = []

    def __getitem__(self, name: str) -> Any:
        table = self._inner[name]
        if name != "Contacts":
            return table
        outer = self

        class Spy:
            schema = table.schema
            name = table.name
            cursors = table.cursors

            def __getattr__(self, op: str) -> Any:
                attr = getattr(table, op)

                def call(*args: Any, **kwargs: Any) -> Any:
                    outer.calls.append(op if op != "query" else f"query:{kwargs.get('index')}")
                    return attr(*args, **kwargs)

                return call

        return Spy()

    def close(self) -> None:
        self._inner.close()


def test_search_reads_the_index_and_never_scans(tables: Tables, clock: FakeClock, audit: AuditLog) -> None:
    spy = CountingTables(tables)
    contacts = ContactService(spy, clock, audit)
    made = [
        contacts.create(
            {
                "name": f"Person{n} Smith",
                "phone": f"+4478123456{n:02d}",
                "email": f"p{n}.x@mail{n % 3}.example.com",
            },
            actor="t",
        )
        for n in range(30)
    ]
    for item in made[:5]:
        contacts.delete(item["contactId"], actor="t")
    spy.calls.clear()
    queries = (
        "smith",
        "person1 smith",
        "+44 7812 3456",
        "p1.x@mail1.example.com",
        "p1",
        "example",
        "mail2",
        "5612",
    )
    for query in queries:
        _all(contacts, query, limit=5)
        _all(contacts, query, limit=5, include_deleted=True)
    assert "scan" not in spy.calls
    assert set(spy.calls) == {"query:search", "get"}
    assert len(_all(contacts, "example", limit=7)) == 25
    assert len(_all(contacts, "example", limit=7, include_deleted=True)) == 30


# ---- properties -------------------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyzéñöçåABCDEFGHIJKLMNOPQRSTUVWXYZÉÑÖÇÅ"
word = st.text(alphabet=LETTERS, min_size=2, max_size=12)
NUMBERS = [
    "+447812345678",
    "+447898765432",
    "+4915112345678",
    "+447911123456",
    "+12025550123",
    "+33612345678",
    "+919812345678",
    "+61412345678",
]


def _fresh() -> tuple[ContactService, FakeClock]:
    clock = FakeClock()
    tables = MemoryTables(clock)
    return ContactService(tables, clock, AuditLog(tables, clock)), clock


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.one_of(st.none(), st.text(PRINTABLE_NAME, max_size=40)),
    phone=st.one_of(st.none(), st.sampled_from(NUMBERS)),
    email=st.one_of(st.none(), st.sampled_from(["a@example.com", "B.C@Example.org"])),
    source=st.sampled_from(["api", "ui", "import", "inbound_first_contact"]),
)
def test_any_create_without_explicit_opt_ins_stores_all_three_false(
    name: str | None, phone: str | None, email: str | None, source: str
) -> None:
    contacts, _ = _fresh()
    data = {k: v for k, v in {"name": name, "phone": phone, "email": email}.items() if v is not None}
    if phone is None and email is None:
        with pytest.raises(InvalidInput):
            contacts.create(data, actor="t", source=source)
        return
    item = contacts.create(data, actor="t", source=source)
    stored = contacts.get(item["contactId"])
    assert (stored["optInWhatsApp"], stored["optInSms"], stored["optInEmail"]) == (False, False, False)
    assert stored["consentHistory"] == []


def _case_variant(text: str, rnd: random.Random) -> str:
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(word, min_size=1, max_size=3),
    pick=st.integers(0, 2),
    cut=st.integers(2, 12),
    seed=st.integers(0, 2**32),
    others=st.lists(word, max_size=4),
)
def test_search_finds_a_contact_by_any_case_variant_of_a_name_fragment(
    words: list[str], pick: int, cut: int, seed: int, others: list[str]
) -> None:
    contacts, _ = _fresh()
    for n, other in enumerate(others):
        contacts.create({"name": other, "email": f"other{n}@example.com"}, actor="t")
    target = contacts.create({"name": " ".join(words), "email": "target@example.com"}, actor="t")
    chosen = words[pick % len(words)]
    fragment = _case_variant(chosen[: max(2, min(cut, len(chosen)))], random.Random(seed))
    assert target["contactId"] in _all(contacts, fragment, limit=3)


def _format(digits: str, rnd: random.Random) -> str:
    out = []
    for n, d in enumerate(digits):
        if n and rnd.random() < 0.3:
            out.append(rnd.choice([" ", "-", ".", "  "]))
        out.append(d)
    return "".join(out)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    number=st.sampled_from(NUMBERS),
    style=st.sampled_from(["e164", "plus", "00", "bare", "national", "nsn"]),
    seed=st.integers(0, 2**32),
    prefix_only=st.booleans(),
)
def test_search_finds_a_contact_by_any_formatting_of_its_phone(
    number: str, style: str, seed: int, prefix_only: bool
) -> None:
    import phonenumbers  # noqa: PLC0415

    contacts, _ = _fresh()
    target = contacts.create({"name": "Target", "phone": number}, actor="t")
    for other in NUMBERS:
        if other != number:
            contacts.create({"name": "Other", "phone": other}, actor="t")
    parsed = phonenumbers.parse(number)
    country = str(parsed.country_code)
    nsn = phonenumbers.national_significant_number(parsed)
    national = "".join(
        ch
        for ch in phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        if ch.isdigit()
    )
    rnd = random.Random(seed)
    digits = {
        "e164": country + nsn,
        "plus": country + nsn,
        "00": country + nsn,
        "bare": country + nsn,
        "national": national,
        "nsn": nsn,
    }[style]
    if prefix_only:
        digits = digits[: max(6, len(digits) - 3)]  # typing is not finished yet: still a prefix match
    typed = _format(digits, rnd)
    typed = {"e164": "+" + typed, "plus": "+" + typed, "00": "00" + typed}.get(style, typed)
    assert target["contactId"] in _all(contacts, typed, limit=100)


def test_trunk_prefixes_are_those_of_the_phone_metadata() -> None:
    from phonenumbers import PhoneMetadata  # noqa: PLC0415
    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS  # noqa: PLC0415

    from gateway.contacts.fields import TRUNK_PREFIXES  # noqa: PLC0415

    metadata = (PhoneMetadata.metadata_for_region(region) for region in SUPPORTED_REGIONS)
    assert set(TRUNK_PREFIXES) == {m.national_prefix for m in metadata if m is not None and m.national_prefix}


def test_renaming_keeps_the_phone_and_e_mail_findable(contacts: ContactService) -> None:
    item = contacts.create({"name": "Olivia Smith", "phone": UK, "email": "o@example.com"}, actor="t")
    contacts.update(item["contactId"], {"name": "Liv Jones"}, actor="t")
    assert _all(contacts, "07812 345678") == [item["contactId"]]
    assert _all(contacts, "o@example.com") == [item["contactId"]]
    assert _all(contacts, "jones") == [item["contactId"]]
    assert _all(contacts, "olivia") == []


class FailingUpdates:
    """Tables whose Contacts table refuses every conditional update of a contact (endless contention)."""

    def __init__(self, inner: Tables) -> None:
        self._inner = inner
        self.cursors = inner.cursors

    def __getitem__(self, name: str) -> Any:
        table = self._inner[name]
        if name != "Contacts":
            return table

        class Refusing:
            schema = table.schema

            def __getattr__(self, op: str) -> Any:
                return getattr(table, op)

            def update(self, key: Any, update: Any, *, condition: Any = None) -> Any:
                if str(key["contactId"]).startswith("ct_"):
                    raise ConditionFailed("someone else changed it")
                return table.update(key, update, condition=condition)

        return Refusing()

    def close(self) -> None:
        self._inner.close()


def test_a_failed_update_leaves_the_index_as_it_was(
    tables: Tables, clock: FakeClock, audit: AuditLog
) -> None:
    contacts = ContactService(tables, clock, audit)
    item = contacts.create({"name": "Olivia Smith", "phone": UK, "email": "o@example.com"}, actor="t")
    before = sorted(tables["Contacts"].scan(limit=100).items, key=lambda i: i["contactId"])
    failing = ContactService(FailingUpdates(tables), clock, audit)
    with pytest.raises(Conflict):
        failing.update(
            item["contactId"],
            {"name": "Liv Jones", "phone": "+447898765432", "email": "l@example.com"},
            actor="t",
        )
    after = sorted(tables["Contacts"].scan(limit=100).items, key=lambda i: i["contactId"])
    assert after == before
    for query in ("olivia", "+44 7812 345678", "o@example.com"):
        assert _all(contacts, query) == [item["contactId"]]
    assert contacts.find_by_phone("+447898765432") is None


# ---- e-mail words, phone suffixes, deleted contacts --------------------------------------------------

ADA = {"name": "Ada King", "phone": "+447812900123", "email": "Ada.Lovelace@mail.example.com"}


@pytest.fixture
def ada(contacts: ContactService) -> str:
    contacts.create(
        {"name": "Other Person", "phone": "+447898765432", "email": "other@elsewhere.org"}, actor="t"
    )
    return str(contacts.create(ADA, actor="t")["contactId"])


@pytest.mark.parametrize(
    "query",
    [
        "example",  # a word of the domain
        "EXAM",  # a prefix of one
        "mail",
        "lovelace",  # a word of the local part, not its start
        "Love",
        "lovelace.ada",  # several words, any order, in one
        "ada",  # the start of the address (and the start of the name)
        "0123",  # the last digits of the number
        "900123",
        "90 01 23",
        "00123",  # not an international "00" prefix only: also the last digits
        "2900123",
    ],
)
def test_e_mail_words_and_the_last_digits_of_the_phone_find_a_contact(
    contacts: ContactService, ada: str, query: str
) -> None:
    assert _all(contacts, query) == [ada]
    assert _all(contacts, query, limit=1) == [ada]


@pytest.mark.parametrize(
    "query",
    [
        "com",  # the top-level domain is not indexed (every .com address would share a bucket)
        "ex",  # two characters: names and the start of addresses only, no e-mail words
        "ovelace",  # a word's inside is not a word
        "lovelace@",  # an "@" searches addresses by their start
        "9123",  # not the last digits
        "+0123",  # with "+" it is an international number, never the last digits
    ],
)
def test_what_does_not_find_a_contact_by_e_mail_word_or_phone_suffix(
    contacts: ContactService, ada: str, query: str
) -> None:
    try:
        found = _all(contacts, query)
    except InvalidInput:
        return
    assert ada not in found


def test_three_digits_are_too_few_for_a_suffix(contacts: ContactService, ada: str) -> None:
    with pytest.raises(InvalidInput):
        contacts.search("123")


def test_a_suffix_that_is_also_a_prefix_returns_each_contact_once(contacts: ContactService) -> None:
    ends = contacts.create({"name": "Ends", "phone": "+447812901234"}, actor="t")["contactId"]
    starts = contacts.create({"name": "Starts", "phone": "+441234567890"}, actor="t")["contactId"]
    both = contacts.create({"name": "Both", "phone": "+441234901234"}, actor="t")["contactId"]
    contacts.create({"name": "Neither", "phone": "+447898765432"}, actor="t")
    for limit in (1, 2, 3, 10):
        found = _all(contacts, "1234", limit=limit)
        assert len(found) == len(set(found)) == 3
        assert set(found) == {ends, starts, both}
    assert sorted(_all(contacts, "01234 9")) == sorted([both])  # national with trunk prefix: a prefix only
    assert set(_all(contacts, "901234")) == {ends, both}


def test_a_changed_e_mail_or_phone_no_longer_matches_the_old_value(
    contacts: ContactService, ada: str
) -> None:
    contacts.update(ada, {"email": "countess@analytical.org", "phone": "+447911123456"}, actor="t")
    for old in ("lovelace", "example", "mail", "0123", "900123"):
        assert _all(contacts, old) == [], old
    for new in ("countess", "analytical", "3456", "123456"):
        assert _all(contacts, new) == [ada], new
    contacts.update(ada, {"email": None}, actor="t")
    assert _all(contacts, "analytical") == []
    assert _all(contacts, "3456") == [ada]


def test_leftover_e_mail_word_and_suffix_entries_are_never_shown(
    contacts: ContactService, tables: Tables, ada: str
) -> None:
    items = tables["Contacts"].scan(limit=100).items
    word = next(i for i in items if i["contactId"] == f"sx#{ada}#w#lovelace")
    suffix = next(i for i in items if i["contactId"].startswith(f"sx#{ada}#s#"))
    # entries for an address and a number the contact no longer has (an update that did not finish)
    tables["Contacts"].put(
        {
            **word,
            "contactId": f"sx#{ada}#w#babbage",
            "searchBucket": "w:bab",
            "searchKey": f"babbage {ada}",
            "tok": {**word["tok"], "w": ["babbage"]},
            "src": {**word["src"], "email": "babbage@example.com"},
        }
    )
    tables["Contacts"].put(
        {
            **suffix,
            "contactId": f"sx#{ada}#s#4321",
            "searchBucket": "s:4321",
            "searchKey": f"43219877 {ada}",
            "tok": {**suffix["tok"], "p": ["77891234"]},
            "src": {**suffix["src"], "phone": "+4477891234"},
        }
    )
    assert _all(contacts, "babbage") == []
    assert _all(contacts, "1234") == []
    assert _all(contacts, "lovelace") == [ada]


@pytest.mark.parametrize(
    "query",
    ["ada", "king", "lovelace", "example", "ada.lovelace@mail", "+44 7812 900123", "07812 90", "0123"],
)
def test_a_deleted_contact_is_found_only_with_include_deleted_and_q_together(
    contacts: ContactService, ada: str, query: str
) -> None:
    assert _all(contacts, query, include_deleted=True) == [ada]
    contacts.delete(ada, actor="t")
    assert _all(contacts, query) == []
    assert _all(contacts, query, include_deleted=True) == [ada]
    assert _all(contacts, query, limit=1, include_deleted=True) == [ada]
    assert ada not in [c["contactId"] for c in contacts.list_page().items]


def test_include_deleted_returns_active_and_deleted_contacts_once_each(contacts: ContactService) -> None:
    old = contacts.create(ADA, actor="t")["contactId"]
    contacts.delete(old, actor="t")
    new = contacts.create({**ADA, "name": "Ada Byron"}, actor="t")["contactId"]  # the freed phone and e-mail
    other = contacts.create({"name": "Ada Other", "email": "ada@example.org"}, actor="t")["contactId"]
    for query in ("ada", "lovelace", "0123", "+447812900123", "ada.lovelace@mail.example.com"):
        active = _all(contacts, query)
        assert old not in active and new in active
        for limit in (1, 2, 10):
            found = _all(contacts, query, limit=limit, include_deleted=True)
            assert len(found) == len(set(found)) and set(found) == {old, new, *active}
    assert set(_all(contacts, "ada", include_deleted=True)) == {old, new, other}
    first = contacts.search("ada", limit=1, include_deleted=True)
    with pytest.raises(InvalidInput):
        contacts.search("ada", cursor=first.cursor)  # a cursor belongs to its query and its scope


def test_an_interrupted_delete_shows_its_contact_once_and_as_it_is(
    contacts: ContactService, tables: Tables, ada: str
) -> None:
    from gateway.contacts import search as search_index  # noqa: PLC0415

    current = contacts.get(ada)
    tokens = search_index.contact_tokens(current)
    # a delete that wrote the deleted contact's entries and died before setting deletedAt
    for entry in search_index.entries(ada, tokens, search_index.source_of(current), deleted=True).values():
        tables["Contacts"].put(entry)
    for query in ("lovelace", "ada", "0123", "+447812900123"):
        assert _all(contacts, query) == [ada]
        assert _all(contacts, query, include_deleted=True) == [ada]
    # and one that set deletedAt but died before releasing the guards and removing the active entries
    contacts.delete(ada, actor="t")
    for entry in search_index.entries(ada, tokens, search_index.source_of(current)).values():
        tables["Contacts"].put(entry)
    for query in ("lovelace", "ada", "0123"):
        assert _all(contacts, query) == []
        assert _all(contacts, query, include_deleted=True) == [ada]


def test_a_failed_delete_leaves_the_index_as_it_was(
    tables: Tables, clock: FakeClock, audit: AuditLog
) -> None:
    contacts = ContactService(tables, clock, audit)
    item = contacts.create(ADA, actor="t")
    before = sorted(tables["Contacts"].scan(limit=100).items, key=lambda i: i["contactId"])
    failing = ContactService(FailingUpdates(tables), clock, audit)
    with pytest.raises(Conflict):
        failing.delete(item["contactId"], actor="t")
    after = sorted(tables["Contacts"].scan(limit=100).items, key=lambda i: i["contactId"])
    assert after == before
    assert _all(contacts, "lovelace", include_deleted=True) == [item["contactId"]]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(number=st.sampled_from(NUMBERS), cut=st.integers(4, 15), seed=st.integers(0, 2**32))
def test_any_four_or_more_trailing_digits_of_a_number_find_its_contact(
    number: str, cut: int, seed: int
) -> None:
    import phonenumbers  # noqa: PLC0415

    contacts, _ = _fresh()
    target = contacts.create({"name": "Target", "phone": number}, actor="t")
    for other in NUMBERS:
        if other != number:
            contacts.create({"name": "Other", "phone": other}, actor="t")
    nsn = phonenumbers.national_significant_number(phonenumbers.parse(number))
    typed = _format(nsn[-min(cut, len(nsn)) :], random.Random(seed))
    found = _all(contacts, typed, limit=3)
    assert target["contactId"] in found and len(found) == len(set(found))


local_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    local=st.lists(local_word, min_size=1, max_size=3),
    domain=st.lists(local_word, min_size=1, max_size=3),
    tld=st.sampled_from(["com", "org", "uk", "io"]),
    seed=st.integers(0, 2**32),
)
def test_any_word_of_an_address_finds_its_contact(
    local: list[str], domain: list[str], tld: str, seed: int
) -> None:
    contacts, _ = _fresh()
    contacts.create({"name": "Someone Else", "email": "someone@else.net"}, actor="t")
    email = f"{'.'.join(local)}@{'.'.join(domain)}.{tld}"
    target = contacts.create({"name": "Target", "email": email}, actor="t")
    rnd = random.Random(seed)
    chosen = rnd.choice([*local, *domain])
    fragment = _case_variant(chosen[: rnd.randint(3, len(chosen))], rnd)
    assert target["contactId"] in _all(contacts, fragment, limit=2)
    contacts.delete(target["contactId"], actor="t")
    assert target["contactId"] not in _all(contacts, fragment, limit=2)
    assert target["contactId"] in _all(contacts, fragment, limit=2, include_deleted=True)
