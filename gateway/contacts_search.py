"""Contact search as an index, not a scan: search-entry items in the ``Contacts`` table, queried
through its ``search`` index (``searchBucket`` HASH, ``searchKey`` RANGE) — a key-range read on
SQLite and DynamoDB alike.

One entry per (contact, field, token): ``contactId="sx#<contactId>#<field>#<token>"``, ``kind="search"``,
``searchBucket="<field>:<first chars of token>"``, ``searchKey="<token> <contactId>"``, ``ref`` (the
contact id) and ``tok`` (all the contact's tokens per field, to filter multi-word queries without
reading every candidate). Fields and tokens:

* ``n`` name: every word, case-folded with accents removed; words joined by ``'``/``-`` also whole
  (``o'brien`` → ``o``, ``brien``, ``obrien``); bucket = first 2 characters;
* ``e`` e-mail: the case-folded address; bucket = first 2 characters;
* ``p`` phone: the E.164 digits and the national digits (``447812345678``, ``07812345678``); bucket =
  first 4 digits.

A query is a word-prefix search. ``@`` in it → e-mail; only digits and phone punctuation → phone
(``+44 7812-345678``, ``07812 345678``, ``447812345678``, ``7812345678`` all match; at least 4 digits);
otherwise → name (the longest word is looked up, every other word must prefix some word of the name),
then, for a single word, e-mail addresses starting with it. Each contact appears once: an entry is
returned only for the smallest of the contact's tokens that matches, and a later phase skips contacts an
earlier phase returned. Hits are re-checked against the live contact, so an entry left behind by an
interrupted write is never shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import contacts_fields as fields
from gateway.errors import InvalidInput
from gateway.store import cursor as cursors
from gateway.store.conditions import SortKey
from gateway.store.port import InvalidCursor, Item, Table

INDEX = "search"
BUCKET_LEN: Mapping[str, int] = {"n": 2, "e": 2, "p": 4}
MAX_NAME_TOKENS = 12
MAX_TOKEN_LEN = 40
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


def contact_tokens(contact: Mapping[str, Any]) -> Tokens:
    phone, email = contact.get("phone"), contact.get("email")
    return {
        "n": name_tokens(str(contact.get("name") or "")),
        "e": [fields.email_key(email)] if isinstance(email, str) and email else [],
        "p": fields.phone_search_tokens(phone) if isinstance(phone, str) and phone else [],
    }


def entry_key(contact_id: str, field_name: str, token: str) -> str:
    return f"sx#{contact_id}#{field_name}#{token}"


def entries(contact_id: str, tokens: Tokens) -> dict[str, Item]:
    """The search entries of one contact, by primary key. Tokens shorter than their bucket are not
    indexed: no query can look them up (they still filter multi-word queries through ``tok``)."""
    out: dict[str, Item] = {}
    for field_name, values in tokens.items():
        for token in values:
            if len(token) < BUCKET_LEN[field_name]:
                continue
            key = entry_key(contact_id, field_name, token)
            out[key] = {
                "contactId": key,
                "kind": "search",
                "searchBucket": f"{field_name}:{token[:BUCKET_LEN[field_name]]}",
                "searchKey": f"{token} {contact_id}",
                "ref": contact_id,
                "tok": tokens,
            }
    return out


@dataclass(frozen=True)
class Phase:
    field: str
    probe: str
    filters: tuple[str, ...] = ()

    @property
    def bucket(self) -> str:
        return f"{self.field}:{self.probe[:BUCKET_LEN[self.field]]}"

    def matches(self, tokens: Mapping[str, list[str]]) -> bool:
        own = tokens.get(self.field, [])
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
        digits = re.sub(r"\D", "", re.sub(r"\(\s*0\s*\)", "", text))
        if digits.startswith("00"):
            digits = digits[2:]
        if len(digits) < BUCKET_LEN["p"]:
            raise InvalidInput("type at least 4 digits to search by phone", details={"field": "q"})
        phases = [Phase("p", digits)]
        if not digits.startswith("0"):
            # A national number typed without its trunk 0 ("7812 345678"): try it with the 0 as well.
            phases.append(Phase("p", "0" + digits))
    else:
        words = [p for parts in name_parts(text) for p in parts]
        if not words:
            raise InvalidInput("type a name, phone number or e-mail address to search",
                               details={"field": "q"})
        probe = max(words, key=len)[:MAX_TOKEN_LEN]
        if len(probe) < BUCKET_LEN["n"]:
            raise InvalidInput("type at least 2 characters to search", details={"field": "q"})
        others = list(words)
        others.remove(max(words, key=len))
        phases = [Phase("n", probe, tuple(o[:MAX_TOKEN_LEN] for o in others))]
        if len(text.split()) == 1 and len(text) >= BUCKET_LEN["e"]:
            phases.append(Phase("e", fields.email_key(text)))
    scope = "contacts-search|" + "|".join(f"{p.field}:{p.probe}:{','.join(p.filters)}" for p in phases)
    return Plan(tuple(phases), scope)


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
    start: int = 0
    after: str | None = None
    if cursor:
        try:
            state = cursors.decode(cursor, query_plan.scope)
        except InvalidCursor as exc:
            raise InvalidInput(str(exc), details={"field": "cursor"}) from None
        phase_no, key = state.get("p"), state.get("a")
        valid = isinstance(phase_no, int) and 0 <= phase_no < len(query_plan.phases) and isinstance(key, str)
        if not valid:
            raise InvalidInput("the cursor is not one this API issued", details={"field": "cursor"})
        start, after = int(phase_no), str(key)  # type: ignore[arg-type]
    results: list[Item] = []
    batch = min(max(limit * 2, 20), 200)
    for index in range(start, len(query_plan.phases)):
        phase = query_plan.phases[index]
        lower = after if index == start else None
        sort = (SortKey("begins_with", phase.probe) if lower is None
                else SortKey("between", (lower, phase.probe + _TOP)))
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
                if contact is None or not query_plan.qualifies(index, token, contact_tokens(contact)):
                    continue
                results.append(contact)
                if len(results) >= limit:
                    more = (position < len(page.items) - 1 or page.cursor is not None
                            or index < len(query_plan.phases) - 1)
                    return results, cursors.encode({"p": index, "a": key}, query_plan.scope) if more else None
            if page.cursor is None:
                break
            store_cursor = page.cursor
    return results, None
