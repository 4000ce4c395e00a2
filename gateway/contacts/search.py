"""Contact search as an index, not a scan: items of the ``Contacts`` table that carry ``searchBucket``
and ``searchKey`` are in its ``search`` index (HASH, RANGE), read with a key-range query on SQLite and
DynamoDB alike.

One index entry per (contact, field, token), ``searchBucket="<field>:<first chars of token>"``,
``searchKey="<token> <contactId>"``, with ``ref`` (the contact id), ``tok`` (all the contact's tokens,
to filter multi-word queries without reading every candidate) and ``src`` (the field values the entry
was made from). Fields:

* ``n`` name: every word, case-folded with accents removed, and words joined by ``'``/``-`` also whole
  (``o'brien`` → ``o``, ``brien``, ``obrien``); bucket = first 2 characters.
* ``w`` e-mail words: the words of the local part and of the domain without its last label, folded like
  names (``ada.lovelace@mail.example.com`` → ``ada``, ``lovelace``, ``mail``, ``example``; the top-level
  domain would put most contacts in one bucket); bucket = first 3 characters, shorter words are not
  indexed.
* ``s`` phone suffix: the national significant number reversed (``7812345678`` → ``8765432187``), so
  "ends with" is a prefix query; bucket = first 4 reversed digits. ``tok`` does not repeat it: it is
  ``tok["p"]`` reversed.
* ``e`` e-mail: the case-folded address; bucket = first 2 characters;
* ``p`` phone: the national significant number (``7812345678``; ``tok["c"]`` holds the country code);
  bucket = first 4 digits.

``n``, ``w`` and ``s`` entries are their own items, ``contactId="sx#<contactId>#<field>#<token>"``,
``kind="search"``. The ``e`` and ``p`` entries of an active contact are its uniqueness guards themselves
(``email#…``/``phone#…``, ``kind="guard"``): a contact has exactly one of each, and the guard must be
written anyway, so indexing it saves two writes per contact.

A soft-deleted contact releases its guards and its entries, and is indexed instead by entries of every
field in buckets of their own, ``x<field>:…`` (``contactId="sx#<contactId>#x<field>#<token>"``,
``kind="search"``), written before ``deletedAt`` is set: a search that does not include deleted contacts
never reads them, one that does (``includeDeleted``) reads the same readings in both sets of buckets. An
entry is shown only when its contact is in the state of its bucket (active or deleted).

A query is a word-prefix search. ``@`` in it → e-mail; only digits and phone punctuation → phone, read
every way a person may have typed it: with ``+``/``00`` and a country code, without the ``+``, as a
national number with its trunk prefix (``07812 345678``) or without (``7812 345678``), and (unless it
starts with ``+``) as the last digits of the number (``0123`` finds ``+44 7700 900123``) — each reading
is one lookup (at least 4 digits of the number). Otherwise → name: the longest word is looked up and
every other word must prefix some word of the name; a single word also finds e-mail addresses starting
with it, and e-mail addresses with a word starting with it (at least 3 characters). Each contact appears
once: an entry is returned only for the smallest of its tokens that matches, and a later reading skips
contacts an earlier one (of the same set of buckets) returned. A hit whose live contact no longer has
the ``src`` values is an entry left behind by an interrupted write, and is never shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.contacts import fields
from gateway.errors import InvalidInput
from gateway.store.conditions import SortKey
from gateway.store.cursor import as_invalid_input
from gateway.store.port import Item, Table

INDEX = "search"
BUCKET_LEN: Mapping[str, int] = {"n": 2, "w": 3, "s": 4, "e": 2, "p": 4}
OWN_FIELDS = ("n", "w", "s")  # the fields an active contact has its own entry items for
ALL_FIELDS = ("n", "w", "s", "e", "p")  # those of a deleted contact (it holds no guards)
DELETED = "x"  # what starts the buckets (and keys) of a deleted contact's entries
MAX_NAME_TOKENS = 12
MAX_EMAIL_WORDS = 8
MAX_TOKEN_LEN = 40
SOURCE_FIELDS = ("name", "phone", "email")
_TOP = "\U0010ffff"  # sorts after every character, in code-point and UTF-8 byte order alike
_WORD = re.compile(r"[^\W_]+")
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-./()]+$")

Tokens = dict[str, list[str]]


def fold(text: str) -> str:
    """Case-folded, accents removed: what names are compared in."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_parts(text: str) -> list[list[str]]:
    """Per whitespace-separated word, its alphanumeric parts (``o'brien`` → ``["o", "brien"]``)."""
    return [parts for word in fold(text).split() if (parts := _WORD.findall(word))]


def name_tokens(name: str) -> list[str]:
    out: list[str] = []
    for parts in name_parts(name):
        for whole in [*parts, "".join(parts)] if len(parts) > 1 else parts:
            token = whole[:MAX_TOKEN_LEN]
            if token not in out:
                out.append(token)
    return out[:MAX_NAME_TOKENS]


def email_words(email: str) -> list[str]:
    """The words of an address: of its local part, then of its domain without the last label."""
    local, _, domain = fields.email_key(email).rpartition("@")
    out: list[str] = []
    for text in (local, *domain.split(".")[:-1]):
        for word in _WORD.findall(fold(text)):
            token = word[:MAX_TOKEN_LEN]
            if token not in out:
                out.append(token)
    return out[:MAX_EMAIL_WORDS]


def contact_tokens(contact: Mapping[str, Any], *, phone: fields.Phone | None = None) -> Tokens:
    """The search tokens of a contact (``phone``: its number's parts, when already parsed)."""
    number, email = contact.get("phone"), contact.get("email")
    national: list[str] = []
    country: list[str] = []
    if isinstance(number, str) and number:
        parts = phone if phone is not None and phone.e164 == number else fields.phone_parts(number)
        national, country = [parts.national_number], [parts.country_code]
    has_email = isinstance(email, str) and bool(email)
    return {
        "n": name_tokens(str(contact.get("name") or "")),
        "w": email_words(str(email)) if has_email else [],
        "e": [fields.email_key(str(email))] if has_email else [],
        "p": national,
        "c": country,
    }


def field_tokens(field_name: str, tokens: Mapping[str, list[str]]) -> list[str]:
    """The tokens of one field (``s``, the phone suffix, is the national number reversed)."""
    if field_name == "s":
        return [t[::-1] for t in tokens.get("p", [])]
    return list(tokens.get(field_name, []))


def source_of(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The field values entries are made from: a live contact with other values makes an entry stale."""
    return {name: contact.get(name) or None for name in SOURCE_FIELDS}


def index_attributes(
    field_name: str,
    token: str,
    contact_id: str,
    tokens: Tokens,
    source: Mapping[str, Any],
    *,
    deleted: bool = False,
) -> Item:
    """The attributes that put an item in the search index as (field, token) of ``contact_id``
    (``deleted``: in the buckets of deleted contacts)."""
    prefix = DELETED if deleted else ""
    return {
        "searchBucket": f"{prefix}{field_name}:{token[: BUCKET_LEN[field_name]]}",
        "searchKey": f"{token} {contact_id}",
        "ref": contact_id,
        "tok": tokens,
        "src": dict(source),
    }


def entries(
    contact_id: str, tokens: Tokens, source: Mapping[str, Any], *, deleted: bool = False
) -> dict[str, Item]:
    """The entry items of one contact, by primary key: its name, e-mail word and phone suffix entries
    (``deleted``: every field's, in the buckets of deleted contacts). Tokens shorter than a bucket are
    not indexed (no query looks them up); they still filter multi-word queries through ``tok``."""
    prefix = DELETED if deleted else ""
    out: dict[str, Item] = {}
    for field_name in ALL_FIELDS if deleted else OWN_FIELDS:
        for token in field_tokens(field_name, tokens):
            if len(token) < BUCKET_LEN[field_name]:
                continue
            key = f"sx#{contact_id}#{prefix}{field_name}#{token}"
            out[key] = {
                "contactId": key,
                "kind": "search",
                **index_attributes(field_name, token, contact_id, tokens, source, deleted=deleted),
            }
    return out


def guard_index_attributes(
    field_name: str, contact_id: str, tokens: Tokens, source: Mapping[str, Any]
) -> Item:
    """The index attributes a contact's e-mail (``"email"``) or phone (``"phone"``) guard carries."""
    key = "e" if field_name == "email" else "p"
    values = tokens[key]
    if not values or len(values[0]) < BUCKET_LEN[key]:
        return {}
    return index_attributes(key, values[0], contact_id, tokens, source)


@dataclass(frozen=True)
class Phase:
    field: str
    probe: str
    filters: tuple[str, ...] = ()
    country: str | None = None
    deleted: bool = False  # read the buckets of deleted contacts

    @property
    def bucket(self) -> str:
        prefix = DELETED if self.deleted else ""
        return f"{prefix}{self.field}:{self.probe[: BUCKET_LEN[self.field]]}"

    def matches(self, tokens: Mapping[str, list[str]]) -> bool:
        own = field_tokens(self.field, tokens)
        if self.country is not None and self.country not in tokens.get("c", []):
            return False
        return any(t.startswith(self.probe) for t in own) and all(
            any(t.startswith(f) for t in own) for f in self.filters
        )

    def first_token(self, tokens: Mapping[str, list[str]]) -> str | None:
        hits = [t for t in field_tokens(self.field, tokens) if t.startswith(self.probe)]
        return min(hits) if hits else None


@dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    scope: str = field(default="")

    def qualifies(self, index: int, token: str, tokens: Mapping[str, list[str]]) -> bool:
        phase = self.phases[index]
        if not phase.matches(tokens) or phase.first_token(tokens) != token:
            return False
        return not any(
            earlier.matches(tokens) for earlier in self.phases[:index] if earlier.deleted == phase.deleted
        )


def _phone_phases(text: str) -> list[Phase]:
    digits = typed = re.sub(r"\D", "", re.sub(r"\(\s*0\s*\)", "", text))
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    readings: list[tuple[str, str | None]] = []
    if not international:
        readings.append((digits, None))  # the national significant number as it is
        readings.extend((digits[len(p) :], None) for p in fields.TRUNK_PREFIXES if digits.startswith(p))
    # a country code first: after "+"/"00", or typed without them ("447812345678")
    readings.extend((digits[n:], digits[:n]) for n in (1, 2, 3) if fields.is_country_code(digits[:n]))
    phases: list[Phase] = []
    for probe, country in readings:
        phase = Phase("p", probe, country=country)
        if len(probe) >= BUCKET_LEN["p"] and phase not in phases:
            phases.append(phase)
    if not text.startswith("+") and len(typed) >= BUCKET_LEN["s"]:
        phases.append(Phase("s", typed[::-1]))  # the last digits of the number ("00123": maybe not "00")
    if not phases:
        raise InvalidInput("type at least 4 digits of the number to search by phone", details={"field": "q"})
    return phases


def plan(query: str, *, include_deleted: bool = False) -> Plan:
    """How to answer ``query`` (``include_deleted``: among deleted contacts too); :class:`InvalidInput`
    when it is too short to look anything up."""
    text = query.strip()
    if len(text) > 200:
        raise InvalidInput("a search is at most 200 characters", details={"field": "q"})
    phases: list[Phase]
    if "@" in text:
        probe = fields.email_key(text)
        if len(probe) < BUCKET_LEN["e"]:
            raise InvalidInput("type at least 2 characters to search", details={"field": "q"})
        phases = [Phase("e", probe)]
    elif _PHONE_LIKE.match(text) and re.search(r"\d", text):
        phases = _phone_phases(text)
    else:
        words = [p for parts in name_parts(text) for p in parts]
        if not words:
            raise InvalidInput(
                "type a name, phone number or e-mail address to search", details={"field": "q"}
            )
        longest = max(words, key=len)
        probe = longest[:MAX_TOKEN_LEN]
        if len(probe) < BUCKET_LEN["n"]:
            raise InvalidInput("type at least 2 characters to search", details={"field": "q"})
        others = list(words)
        others.remove(longest)
        filters = tuple(o[:MAX_TOKEN_LEN] for o in others)
        phases = [Phase("n", probe, filters)]
        if len(text.split()) == 1 and len(text) >= BUCKET_LEN["e"]:
            phases.append(Phase("e", fields.email_key(text)))
            if len(probe) >= BUCKET_LEN["w"]:
                phases.append(Phase("w", probe, filters))
    if include_deleted:
        phases += [Phase(p.field, p.probe, p.filters, p.country, deleted=True) for p in phases]
    scope = "contacts-search|" + "|".join(
        f"{DELETED if p.deleted else ''}{p.field}:{p.probe}:{','.join(p.filters)}:{p.country or ''}"
        for p in phases
    )
    return Plan(tuple(phases), scope)


def _resume(table: Table, query_plan: Plan, cursor: str | None) -> tuple[int, str | None]:
    if not cursor:
        return 0, None
    with as_invalid_input():
        state = table.cursors.decode(cursor, query_plan.scope)
    phase_no, key = state.get("p"), state.get("a")
    if not (isinstance(phase_no, int) and 0 <= phase_no < len(query_plan.phases) and isinstance(key, str)):
        raise InvalidInput(
            "the cursor is not one this API issued", code="INVALID_CURSOR", details={"field": "cursor"}
        )
    return phase_no, key


def search(
    table: Table,
    query_plan: Plan,
    *,
    limit: int,
    cursor: str | None,
    load: Callable[[str], Item | None],
) -> tuple[list[Item], str | None]:
    """Up to ``limit`` live contacts matching the plan, and a cursor for the next page (or None).

    ``load(contactId)`` returns the contact, active or deleted, or None (missing). An entry is shown only
    when its contact is in the state of the buckets the entry is in.
    """
    start, after = _resume(table, query_plan, cursor)
    results: list[Item] = []
    batch = min(max(limit * 2, 20), 200)
    for index in range(start, len(query_plan.phases)):
        phase = query_plan.phases[index]
        lower = after if index == start else None
        sort = (
            SortKey("begins_with", phase.probe)
            if lower is None
            else SortKey("between", (lower, phase.probe + _TOP))
        )
        store_cursor: str | None = None
        while True:
            page = table.query(phase.bucket, index=INDEX, sort=sort, limit=batch, cursor=store_cursor)
            for position, entry in enumerate(page.items):
                key = str(entry.get("searchKey", ""))
                if key == lower:
                    continue
                token = key.rpartition(" ")[0]
                stored = entry.get("tok")
                if not isinstance(stored, Mapping) or not query_plan.qualifies(index, token, stored):
                    continue
                contact = load(str(entry.get("ref", "")))
                if contact is None or entry.get("src") != source_of(contact):
                    continue  # gone, or changed since this entry was written (an interrupted update)
                if (contact.get("deletedAt") is not None) != phase.deleted:
                    continue  # deleted since (an active entry), or not deleted after all (a deleted one)
                results.append(contact)
                if len(results) >= limit:
                    more = (
                        position < len(page.items) - 1
                        or page.cursor is not None
                        or index < len(query_plan.phases) - 1
                    )
                    if not more:
                        return results, None
                    return results, table.cursors.encode({"p": index, "a": key}, query_plan.scope)
            if page.cursor is None:
                break
            store_cursor = page.cursor
    return results, None
