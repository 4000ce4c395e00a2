"""Contacts: create, read, update, soft delete and search, with an append-only consent history.

Items in the ``Contacts`` table (see the data model):

* the contact, ``contactId="ct_<uuid hex>"``, ``kind="contact"``; opt-ins are false unless explicitly set
  to a boolean; every opt-in change appends ``{channel, old, new, actor, at, source, evidence?}`` to
  ``consentHistory`` (the evidence a compliance officer asks for; it lives with the contact, so it
  outlives the audit log's TTL);
* uniqueness guards, ``contactId="phone#+447…"`` / ``"email#<case-folded address>"``, ``kind="guard"``,
  ``ref=<contactId>``, written with a must-not-exist condition: a second *active* contact with the same
  phone or e-mail is a :class:`Conflict` naming the first. Soft delete releases them. A guard left by an
  interrupted write is taken over once its owner is gone or no longer holds the value (after a grace
  period, so a write in progress is never raced). The guards double as the phone and e-mail entries
  of the search index;
* search entries (:mod:`gateway.contacts.search`) for the name, the words of the e-mail address and the
  last digits of the phone, ``kind="search"``; a deleted contact's entries of every field, in buckets
  only a search that includes deleted contacts reads.

A create writes the guards, then the search entries, then the contact (seven items for a contact with a
two-word name, a phone and an e-mail ``olivia@example.com``), so an interrupted create leaves nothing a
reader can see. A delete writes the deleted contact's entries, then ``deletedAt``, then releases the
guards and removes the active entries.
Writes to a contact are optimistic: each carries ``version`` and is conditional on it, retried on a race;
what a failed attempt wrote before the contact is put back.
Changing a phone number resets WhatsApp/SMS opt-ins (and an e-mail change the e-mail opt-in) unless the
same change sets them explicitly: consent given for one number is not consent for another.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.audit import AuditLog
from gateway.clock import Clock
from gateway.contacts import fields as f
from gateway.contacts import search as search_index
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.store.conditions import And, Attr, Condition, eq, not_exists
from gateway.store.cursor import as_invalid_input
from gateway.store.port import ConditionFailed, Item, Table, Tables, Update

log = logging.getLogger("wecare.contacts")

WINDOW_SECONDS = 24 * 3600
WRITABLE = frozenset({"name", "phone", "email", "optInWhatsApp", "optInSms", "optInEmail", "consentEvidence"})
INTERNAL = frozenset({"kind", "version"})
_ATTEMPTS = 8


@dataclass(frozen=True)
class ContactPage:
    items: list[dict[str, Any]]
    cursor: str | None


def window_expires_at(
    contact: Mapping[str, Any], now: float, window_seconds: int = WINDOW_SECONDS
) -> float | None:
    """When the WhatsApp customer-service window closes, or None when it is closed (or never opened)."""
    last = contact.get("lastInboundMessageAt") or 0
    if not isinstance(last, int | float) or isinstance(last, bool) or last <= 0:
        return None
    closes = last + window_seconds
    return closes if now < closes else None


def present(
    contact: Mapping[str, Any], now: float, *, history: bool = True, window_seconds: int = WINDOW_SECONDS
) -> dict[str, Any]:
    """The API view of a contact: no internal attributes, the window's expiry, all flags explicit."""
    out = {k: v for k, v in contact.items() if k not in INTERNAL}
    for name in f.OPT_IN_FIELDS.values():
        out[name] = contact.get(name) is True
    out.setdefault("lastInboundMessageAt", None)
    out["windowExpiresAt"] = window_expires_at(contact, now, window_seconds)
    if history:
        out["consentHistory"] = list(contact.get("consentHistory") or [])
    else:
        out.pop("consentHistory", None)
    return out


class ContactService:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        audit: AuditLog,
        *,
        default_region: str | None = None,
        guard_grace_seconds: float = 60.0,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        """``window_seconds``: the WhatsApp customer-service window the policy bundle uses
        (``params.whatsapp.windowSeconds``), so ``windowExpiresAt`` agrees with the decisions."""
        self._table = tables["Contacts"]
        self._clock = clock
        self._audit = audit
        self._region = default_region
        self._grace = guard_grace_seconds
        self._window = window_seconds

    # ---- reads ---------------------------------------------------------------------------------------
    def get(self, contact_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
        item = self._load(contact_id)
        if item is None or (item.get("deletedAt") is not None and not include_deleted):
            raise NotFound(f"no contact {contact_id}", details={"contactId": contact_id})
        return item

    def find_by_phone(self, phone: str) -> dict[str, Any] | None:
        """The active contact with this phone number (any formatting), or None."""
        try:
            e164 = f.normalise_phone(phone, self._region)
        except InvalidInput:
            return None
        return self._owner("phone#" + e164, "phone", e164)

    def find_by_email(self, email: str) -> dict[str, Any] | None:
        key = f.email_key(email) if isinstance(email, str) else ""
        return self._owner("email#" + key, "email", key) if key else None

    def search(
        self, q: str, *, limit: int = 20, cursor: str | None = None, include_deleted: bool = False
    ) -> ContactPage:
        """Active contacts (and deleted ones with ``include_deleted``) whose name, phone or e-mail matches
        ``q`` (see :mod:`gateway.contacts.search`)."""
        plan = search_index.plan(q, include_deleted=include_deleted)
        items, next_cursor = search_index.search(
            self._table,
            plan,
            limit=_clamp(limit),
            cursor=cursor,
            load=self._load,
        )
        return ContactPage(items, next_cursor)

    def list_page(
        self, *, limit: int = 20, cursor: str | None = None, include_deleted: bool = False
    ) -> ContactPage:
        """Every contact, a page at a time, in no particular order (an unfiltered listing, not a search)."""
        condition: Condition = eq("kind", "contact")
        if not include_deleted:
            condition = And((eq("kind", "contact"), not_exists("deletedAt")))
        with as_invalid_input():
            page = self._table.scan(filter=condition, limit=_clamp(limit), cursor=cursor)
        return ContactPage(page.items, page.cursor)

    def matching_ids(self, q: str | None = None, *, opted_in: f.Channel | None = None) -> Iterator[str]:
        """The ids of every active contact that matches ``q`` (all of them without one) and, with
        ``opted_in``, has opted in to that channel — streamed a page at a time, never all held."""
        flag = f.OPT_IN_FIELDS[opted_in] if opted_in is not None else None
        cursor: str | None = None
        while True:
            page = self.search(q, limit=100, cursor=cursor) if q else self.list_page(limit=100, cursor=cursor)
            for contact in page.items:
                if flag is None or contact.get(flag) is True:
                    yield str(contact["contactId"])
            cursor = page.cursor
            if cursor is None:
                return

    def present(self, contact: Mapping[str, Any], *, history: bool = True) -> dict[str, Any]:
        return present(contact, self._clock.now(), history=history, window_seconds=self._window)

    # ---- writes --------------------------------------------------------------------------------------
    def create(self, data: Mapping[str, Any], *, actor: str, source: str = "api") -> dict[str, Any]:
        source = f.validate_source(source)
        _reject_unknown(data)
        name = f.validate_name(data.get("name"))
        parsed = f.parse_phone(data["phone"], self._region) if data.get("phone") is not None else None
        phone = parsed.e164 if parsed is not None else None
        email = f.normalise_email(data["email"]) if data.get("email") is not None else None
        if phone is None and email is None:
            raise InvalidInput(
                "a contact needs a phone number or an e-mail address (or both)",
                details={"fields": ["phone", "email"]},
            )
        opt_ins = {
            name_: f.validate_opt_in(name_, data[name_])
            for name_ in f.OPT_IN_FIELDS.values()
            if name_ in data
        }
        evidence = f.validate_evidence(data.get("consentEvidence"))
        now = self._clock.now()
        contact_id = "ct_" + uuid.uuid4().hex
        item: Item = {"contactId": contact_id, "kind": "contact", "name": name}
        if phone is not None:
            item["phone"] = phone
        if email is not None:
            item["email"] = email
        history = []
        for channel, attr in f.OPT_IN_FIELDS.items():
            value = opt_ins.get(attr, False)  # never true unless the caller said so
            item[attr] = value
            if value:
                history.append(
                    _consent(channel, False, True, actor=actor, at=now, source=source, evidence=evidence)
                )
        item.update(
            {
                "createdAt": now,
                "updatedAt": now,
                "createdBy": actor,
                "createdVia": source,
                "consentHistory": history,
                "version": 1,
            }
        )

        tokens = search_index.contact_tokens(item, phone=parsed)
        src = search_index.source_of(item)
        undo = _Undo(self._table, contact_id)
        try:
            for guard, (field_name, guarded) in _guard_keys(item).items():
                attrs = search_index.guard_index_attributes(field_name, contact_id, tokens, src)
                self._acquire(guard, field_name, guarded, contact_id, now=now, index_attrs=attrs)
                undo.written(guard, None, guard=True)
            for key, entry in search_index.entries(contact_id, tokens, src).items():
                self._table.put(entry)
                undo.written(key, None)
            self._table.put(item, condition=not_exists("contactId"))
        except BaseException:
            undo.run()
            raise
        # The creation is recorded on the contact itself (createdBy, createdVia, consentHistory) rather than
        # as an audit record: imports create contacts by the hundred thousand, and the evidence must outlive
        # the audit log's TTL anyway. Changes and deletions are audited.
        return item

    def update(
        self, contact_id: str, changes: Mapping[str, Any], *, actor: str, source: str = "api"
    ) -> dict[str, Any]:
        """PATCH semantics: only the fields present change; ``None`` removes phone or e-mail."""
        source = f.validate_source(source)
        _reject_unknown(changes)
        wanted: dict[str, Any] = {}
        parsed: f.Phone | None = None
        if "name" in changes:
            wanted["name"] = f.validate_name(changes["name"])
        if "phone" in changes:
            raw_phone = changes["phone"]
            parsed = None if raw_phone is None else f.parse_phone(raw_phone, self._region)
            wanted["phone"] = parsed.e164 if parsed is not None else None
        if "email" in changes:
            wanted["email"] = None if changes["email"] is None else f.normalise_email(changes["email"])
        for attr in f.OPT_IN_FIELDS.values():
            if attr in changes:
                wanted[attr] = f.validate_opt_in(attr, changes[attr])
        evidence = f.validate_evidence(changes.get("consentEvidence"))
        return self._apply(contact_id, wanted, actor=actor, source=source, evidence=evidence, phone=parsed)

    def set_opt_in(
        self,
        contact_id: str,
        channel: Literal["whatsapp", "sms", "email"],
        value: bool,
        *,
        actor: str,
        source: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set one channel's opt-in; a change appends a consent record (no change, no record)."""
        if channel not in f.OPT_IN_FIELDS:
            raise InvalidInput("channel must be whatsapp, sms or email", details={"field": "channel"})
        attr = f.OPT_IN_FIELDS[channel]
        return self._apply(
            contact_id,
            {attr: f.validate_opt_in(attr, value)},
            actor=actor,
            source=f.validate_source(source),
            evidence=f.validate_evidence(evidence),
        )

    def delete(self, contact_id: str, *, actor: str) -> dict[str, Any]:
        """Soft delete: ``deletedAt`` is set, the phone/e-mail are free again, search no longer finds it
        (unless it includes deleted contacts)."""
        for _ in range(_ATTEMPTS):
            current = self.get(contact_id)
            now = self._clock.now()
            tokens = search_index.contact_tokens(current)
            src = search_index.source_of(current)
            undo = _Undo(self._table, contact_id)
            try:
                for key, entry in search_index.entries(contact_id, tokens, src, deleted=True).items():
                    self._table.put(entry)
                    undo.written(key, None)
                updated = self._table.update(
                    {"contactId": contact_id},
                    Update(set={"deletedAt": now, "updatedAt": now}, add={"version": 1}),
                    condition=self._unchanged(current),
                )
            except ConditionFailed:
                undo.run()
                continue
            except BaseException:
                undo.run()
                raise
            for guard in _guard_keys(current):
                self._release(guard, contact_id)  # the e-mail and phone index entries go with them
            for key in search_index.entries(contact_id, tokens, src):
                self._table.delete({"contactId": key})
            self._audit.record(actor, "contact.delete", "contact", contact_id, {})
            return updated
        raise _busy({"contactId": contact_id})

    def record_inbound(self, contact_id: str, at: float) -> None:
        """The contact wrote to us at ``at``; ``lastInboundMessageAt`` and ``lastContactedAt`` only move
        forward.

        The usual case (a message newer than anything recorded) is one conditional update of both
        attributes. Only when that condition fails (an event delivered late, or a later contact already
        recorded) does each attribute move forward on its own, so neither can ever go back.
        """
        try:
            self._table.update(
                {"contactId": contact_id},
                Update(set={"lastInboundMessageAt": at, "lastContactedAt": at}),
                condition=eq("kind", "contact")
                & _before("lastInboundMessageAt", at)
                & _before("lastContactedAt", at),
            )
            return
        except ConditionFailed:
            pass
        self._forward(contact_id, "lastInboundMessageAt", at)
        self._forward(contact_id, "lastContactedAt", at)

    def record_contacted(self, contact_id: str, at: float) -> None:
        """We wrote to the contact at ``at``: ``lastContactedAt`` moves forward only."""
        self._forward(contact_id, "lastContactedAt", at)

    # ---- internals -----------------------------------------------------------------------------------
    def _load(self, contact_id: str) -> Item | None:
        if not isinstance(contact_id, str) or not contact_id.startswith("ct_"):
            return None
        item = self._table.get({"contactId": contact_id})
        return item if item is not None and item.get("kind") == "contact" else None

    def _active(self, contact_id: str) -> Item | None:
        item = self._load(contact_id)
        return item if item is not None and item.get("deletedAt") is None else None

    def _owner(self, guard_key: str, field_name: str, value: str) -> Item | None:
        guard = self._table.get({"contactId": guard_key})
        if guard is None or guard.get("kind") != "guard":
            return None
        owner = self._active(str(guard.get("ref", "")))
        return owner if owner is not None and _holds(owner, field_name, value) else None

    def _unchanged(self, current: Mapping[str, Any]) -> Any:
        return eq("kind", "contact") & eq("version", current.get("version", 0)) & not_exists("deletedAt")

    def _acquire(
        self,
        guard_key: str,
        field_name: str,
        value: str,
        contact_id: str,
        *,
        now: float,
        index_attrs: Mapping[str, Any],
    ) -> None:
        guard = {"contactId": guard_key, "kind": "guard", "ref": contact_id, "createdAt": now, **index_attrs}
        for _ in range(_ATTEMPTS):
            try:
                self._table.put(guard, condition=not_exists("contactId"))
                return
            except ConditionFailed:
                pass
            existing = self._table.get({"contactId": guard_key})
            if existing is None:
                continue  # released a moment ago: try again
            owner_id = str(existing.get("ref", ""))
            if owner_id == contact_id:
                return
            owner = self._load(owner_id)
            active = owner is not None and owner.get("deletedAt") is None
            if active and owner is not None and _holds(owner, field_name, value):
                raise _duplicate(field_name, owner_id)
            recent = now - float(existing.get("createdAt", 0) or 0) < self._grace
            if recent and (active or owner is None):
                raise _duplicate(field_name, owner_id)  # its owner is being written right now
            try:  # a leftover of an interrupted write: take it over, unless someone else just did
                self._table.put(guard, condition=eq("ref", owner_id))
                log.warning(
                    "took over a stale uniqueness guard",
                    extra={"guard": field_name, "staleOwner": owner_id, "contactId": contact_id},
                )
                return
            except ConditionFailed:
                continue
        raise _busy({"field": field_name})

    def _release(self, guard_key: str, contact_id: str) -> None:
        with contextlib.suppress(ConditionFailed):  # not ours (any more)
            self._table.delete({"contactId": guard_key}, condition=eq("ref", contact_id))

    def _apply(  # noqa: PLR0912 - one optimistic attempt: guards, index and update share one undo log
        self,
        contact_id: str,
        wanted: Mapping[str, Any],
        *,
        actor: str,
        source: str,
        evidence: Mapping[str, Any] | None,
        phone: f.Phone | None = None,
    ) -> dict[str, Any]:
        for _ in range(_ATTEMPTS):
            current = self.get(contact_id)
            now = self._clock.now()
            new = _merge(current, wanted, actor=actor, now=now, source=source, evidence=evidence)
            if new is None:
                return current  # nothing changes
            sets, removes, consent = new
            after = {k: v for k, v in {**current, **sets}.items() if k not in removes}
            if not after.get("phone") and not after.get("email"):
                raise InvalidInput(
                    "a contact needs a phone number or an e-mail address (or both)",
                    details={"fields": ["phone", "email"]},
                )
            old_guards, new_guards = _guard_keys(current), _guard_keys(after)
            old_src, new_src = search_index.source_of(current), search_index.source_of(after)
            old_tokens = search_index.contact_tokens(current)
            kept_phone = (
                phone
                if phone is not None
                else (
                    f.Phone(str(current["phone"]), old_tokens["c"][0], old_tokens["p"][0])
                    if current.get("phone")
                    else None
                )
            )
            new_tokens = search_index.contact_tokens(after, phone=kept_phone)
            old_entries = search_index.entries(contact_id, old_tokens, old_src)
            new_entries = search_index.entries(contact_id, new_tokens, new_src)
            undo = _Undo(self._table, contact_id)
            try:
                for guard, (field_name, value) in new_guards.items():
                    attrs = search_index.guard_index_attributes(field_name, contact_id, new_tokens, new_src)
                    if guard not in old_guards:
                        self._acquire(guard, field_name, value, contact_id, now=now, index_attrs=attrs)
                        undo.written(guard, None, guard=True)
                    elif new_src != old_src:
                        self._reindex_guard(guard, contact_id, now, attrs, undo)
                if new_src != old_src:
                    for key, entry in new_entries.items():
                        self._table.put(entry)
                        undo.written(key, old_entries.get(key))
                updated = self._table.update(
                    {"contactId": contact_id},
                    Update(set={**sets, "updatedAt": now}, add={"version": 1}, remove=sorted(removes)),
                    condition=self._unchanged(current),
                )
            except ConditionFailed:
                undo.run()
                continue
            except BaseException:
                undo.run()
                raise
            for guard in old_guards:
                if guard not in new_guards:
                    self._release(guard, contact_id)
            for key in old_entries:
                if key not in new_entries:
                    self._table.delete({"contactId": key})
            changed = sorted({*sets, *removes} - {"consentHistory"})
            self._audit.record(
                actor,
                "contact.update",
                "contact",
                contact_id,
                {
                    "source": source,
                    "fields": changed,
                    "consent": [{k: r[k] for k in ("channel", "old", "new")} for r in consent],
                },
            )
            return updated
        raise _busy({"contactId": contact_id})

    def _reindex_guard(
        self, guard_key: str, contact_id: str, now: float, attrs: Mapping[str, Any], undo: _Undo
    ) -> None:
        """Rewrite the index attributes a guard this contact holds carries (its name or values changed)."""
        existing = self._table.get({"contactId": guard_key})
        base = {
            "contactId": guard_key,
            "kind": "guard",
            "ref": contact_id,
            "createdAt": (existing or {}).get("createdAt", now),
        }
        self._table.put({**base, **attrs}, condition=eq("ref", contact_id))
        undo.written(guard_key, existing, guard=True)

    def _forward(self, contact_id: str, attr: str, at: float) -> None:
        try:
            self._table.update(
                {"contactId": contact_id},
                Update(set={attr: at}),
                condition=eq("kind", "contact") & _before(attr, at),
            )
        except ConditionFailed:
            if self._load(contact_id) is None:
                raise NotFound(f"no contact {contact_id}", details={"contactId": contact_id}) from None
            # already at or past ``at``: time never moves backwards


class _Undo:
    """What a write wrote before its contact item, so a failed write can put things back."""

    def __init__(self, table: Table, contact_id: str) -> None:
        self._table = table
        self._contact_id = contact_id
        self._steps: list[tuple[str, Item | None, bool]] = []

    def written(self, key: str, previous: Item | None, *, guard: bool = False) -> None:
        self._steps.append((key, previous, guard))

    def run(self) -> None:
        for key, previous, guard in reversed(self._steps):
            # A guard is only ever touched while it is still ours.
            condition = eq("ref", self._contact_id) if guard else None
            try:
                if previous is None:
                    self._table.delete({"contactId": key}, condition=condition)
                else:
                    self._table.put(previous, condition=condition)
            except ConditionFailed:
                pass
            except Exception:
                log.exception("could not undo part of a failed contact write", extra={"key": key})


def _before(attr: str, at: float) -> Condition:
    """``attr`` is absent or earlier than ``at`` (a time that may move forward to ``at``)."""
    return not_exists(attr) | Attr(attr, "lt", at)


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), 100))


def _reject_unknown(data: Mapping[str, Any]) -> None:
    unknown = sorted(set(data) - WRITABLE)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)}", details={"fields": unknown})


def _consent(
    channel: str,
    old: bool,
    new: bool,
    *,
    actor: str,
    at: float,
    source: str,
    evidence: Mapping[str, Any] | None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "channel": channel,
        "old": old,
        "new": new,
        "actor": actor,
        "at": at,
        "source": source,
    }
    if evidence:
        record["evidence"] = dict(evidence)
    return record


def _guard_keys(contact: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    phone, email = contact.get("phone"), contact.get("email")
    if isinstance(phone, str) and phone:
        out["phone#" + phone] = ("phone", phone)
    if isinstance(email, str) and email:
        out["email#" + f.email_key(email)] = ("email", f.email_key(email))
    return out


def _holds(contact: Mapping[str, Any], field_name: str, value: str) -> bool:
    held = contact.get(field_name)
    if not isinstance(held, str):
        return False
    return (f.email_key(held) if field_name == "email" else held) == value


def _busy(details: dict[str, Any]) -> Conflict:
    return Conflict(
        "the contact is being changed by someone else; try again", code="CONTACT_BUSY", details=details
    )


def _duplicate(field_name: str, owner_id: str) -> Conflict:
    return Conflict(
        f"another contact already has this {field_name}: {owner_id}",
        code="DUPLICATE_CONTACT",
        details={"field": field_name, "contactId": owner_id},
    )


def _merge(  # noqa: PLR0912 - the whole merge rule (fields, then consent that follows an address) in one place
    current: Mapping[str, Any],
    wanted: Mapping[str, Any],
    *,
    actor: str,
    now: float,
    source: str,
    evidence: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], set[str], list[dict[str, Any]]] | None:
    """(attributes to set, attributes to remove, new consent records), or None when nothing changes."""
    sets: dict[str, Any] = {}
    removes: set[str] = set()
    for attr in ("name", "phone", "email"):
        if attr not in wanted or wanted[attr] == current.get(attr):
            continue
        if wanted[attr] is None:
            if attr in current:
                removes.add(attr)
        else:
            sets[attr] = wanted[attr]
    targets = {attr: wanted[attr] for attr in f.OPT_IN_FIELDS.values() if attr in wanted}
    reasons: dict[str, str] = {}
    phone_changed = "phone" in sets or "phone" in removes
    old_email = f.email_key(str(current.get("email", "")))
    email_changed = "email" in removes or ("email" in sets and f.email_key(sets["email"]) != old_email)
    # Consent belongs to an address: a new number or address starts without it unless the caller says so.
    for attr, changed, why in (
        ("optInWhatsApp", phone_changed, "phone changed"),
        ("optInSms", phone_changed, "phone changed"),
        ("optInEmail", email_changed, "email changed"),
    ):
        if changed and attr not in targets and current.get(attr) is True:
            targets[attr] = False
            reasons[attr] = why
    consent: list[dict[str, Any]] = []
    for attr, value in targets.items():
        old = current.get(attr) is True
        if value == old and attr in current:
            continue
        sets[attr] = value
        if value != old:
            extra = dict(evidence or {})
            if attr in reasons:
                extra["reason"] = reasons[attr]
            consent.append(
                _consent(
                    f.CHANNEL_OF_FIELD[attr],
                    old,
                    value,
                    actor=actor,
                    at=now,
                    source=source,
                    evidence=extra or None,
                )
            )
    if consent:
        sets["consentHistory"] = [*list(current.get("consentHistory") or []), *consent]
    if not sets and not removes:
        return None
    return sets, removes, consent
