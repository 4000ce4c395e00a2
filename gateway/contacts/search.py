"""Contact search as an index, not a scan: items of the ``Contacts`` table that carry ``searchBucket``
and ``searchKey`` are in its ``search`` index (HASH, RANGE), read with a key-range query on SQLite and
DynamoDB alike.

One index entry per (contact, field, token), ``searchBucket="<field>:<first chars of token>"``,
``searchKey="<token> <contactId>"``, with ``ref`` (the contact id), ``tok`` (all the contact's tokens,
to filter multi-word queries without reading every candidate) and ``src`` (the field values the entry
was made from). Fields:

* ``n`` name: every word, case-folded with accents removed, and words joined by ``'``/``-`` also whole
  (``o'brien`` → ``o``, ``brien``, ``obrien``); bucket = first 2 characters. Own items:
  ``contactId="sx#<contactId>#n#<token>"``, ``kind="search"``.
* ``e`` e-mail: the case-folded address; bucket = first 2 characters;
* ``p`` phone: the national significant number (``7812345678``; ``tok["c"]`` holds the country code);
  bucket = first 4 digits.

The e-mail and phone entries are the contact's uniqueness guards themselves (``email#…``/``phone#…``,
``kind="guard"``): a contact has exactly one of each, and the guard must be written anyway, so indexing
it saves two writes per contact.

A query is a word-prefix search. ``@`` in it → e-mail; only digits and phone punctuation → phone, read
every way a person may have typed it: with ``+``/``00`` and a country code, without the ``+``, as a
national number with its trunk prefix (``07812 345678``) or without (``7812 345678``) — each reading is
one lookup (at least 4 digits of the number). Otherwise → name: the longest word is looked up and every
other word must prefix some word of the name; a single word also finds e-mail addresses starting with
it. Each contact appears once: an entry is returned only for the smallest of its tokens that matches,
and a later reading skips contacts an earlier one returned. A hit whose live contact no longer has the
``src`` values is an entry left behind by an interrupted write, and is never shown.
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
BUCKET_LEN: Mapping[str, int] = {"n": 2, "e": 2, "p": 4}
MAX_NAME_TOKENS = 12
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


def contact_tokens(contact: Mapping[str, Any], *, phone: fields.Phone | None = None) -> Tokens:
    """The search tokens of a contact (``phone``: its number's parts, when already parsed)."""
    number, email = contact.get("phone"), contact.get("email")
    national: list[str] = []
    country: list[str] = []
    if isinstance(number, str) and number:
        parts = phone if phone is not None and phone.e164 == number else fields.phone_parts(number)
        national, country = [parts.national_number], [parts.country_code]
    return {
        "n": name_tokens(str(contact.get("name") or "")),
        "e": [fields.email_key(email)] if isinstance(email, str) and email else [],
        "p": national,
        "c": country,
    }


def source_of(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The field values entries are made from: a live contact with other values makes an entry stale."""
    return {name: contact.get(name) or None for name in SOURCE_FIELDS}


def index_attributes(
    field_name: str, token: str, contact_id: str, tokens: Tokens, source: Mapping[str, Any]
) -> Item:
    """The attributes that put an item in the search index as (field, token) of ``contact_id``."""
    return {
        "searchBucket": f"{field_name}:{token[: BUCKET_LEN[field_name]]}",
        "searchKey": f"{token} {contact_id}",
        "ref": contact_id,
        "tok": tokens,
        "src": dict(source),
    }


def name_entries(contact_id: str, tokens: Tokens, source: Mapping[str, Any]) -> dict[str, Item]:
    """The name entries of one contact, by primary key. Words shorter than a bucket are not indexed
    (no query looks them up); they still filter multi-word queries through ``tok``."""
    return {
        f"sx#{contact_id}#n#{token}": {
            "contactId": f"sx#{contact_id}#n#{token}",
            "kind": "search",
            **index_attributes("n", token, contact_id, tokens, source),
        }
        for token in tokens["n"]
        if len(token) >= BUCKET_LEN["n"]
    }


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

    @property
    def bucket(self) -> str:
        return f"{self.field}:{self.probe[: BUCKET_LEN[self.field]]}"

    def matches(self, tokens: Mapping[str, list[str]]) -> bool:
        own = tokens.get(self.field, [])
        if self.country is not None and self.country not in tokens.get("c", []):
            return False
        return any(t.startswith(self.probe) for t in own) and all(
            any(t.startswith(f) for t in own) for f in self.filters
        )

    def first_token(self, tokens: Mapping[str, list[str]]) -> str | None:
        hits = [t for t in tokens.get(self.field, []) if t.startswith(self.probe)]
        return min(hits) if hits else None


@dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    scope: str = field(default="")

    def qualifies(self, index: int, token: str, tokens: Mapping[str, list[str]]) -> bool:
        phase = self.phases[index]
        if not phase.matches(tokens) or phase.first_token(tokens) != token:
            return False
        return not any(earlier.matches(tokens) for earlier in self.phases[:index])


def _phone_phases(text: str) -> list[Phase]:
    digits = re.sub(r"\D", "", re.sub(r"\(\s*0\s*\)", "", text))
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
    if not phases:
        raise InvalidInput("type at least 4 digits of the number to search by phone", details={"field": "q"})
    return phases


def plan(query: str) -> Plan:
    """How to answer ``query``; :class:`InvalidInput` when it is too short to look anything up."""
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
        phases = [Phase("n", probe, tuple(o[:MAX_TOKEN_LEN] for o in others))]
        if len(text.split()) == 1 and len(text) >= BUCKET_LEN["e"]:
            phases.append(Phase("e", fields.email_key(text)))
    scope = "contacts-search|" + "|".join(
        f"{p.field}:{p.probe}:{','.join(p.filters)}:{p.country or ''}" for p in phases
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

    ``load(contactId)`` returns the active contact or None (deleted, missing).
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
