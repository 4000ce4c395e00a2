"""A small stand-in for ``gateway.contacts.ContactService`` with the same methods the pipeline uses."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

from gateway.clock import Clock
from gateway.errors import Conflict, NotFound


class FakeContacts:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, Any]] = []

    def get(self, contact_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
        with self._lock:
            if contact_id not in self.items:
                raise NotFound(contact_id)
            return dict(self.items[contact_id])

    def find_by_phone(self, phone: str) -> dict[str, Any] | None:
        with self._lock:
            for item in self.items.values():
                if item.get("phone") == phone and "deletedAt" not in item:
                    return dict(item)
        return None

    def create(self, data: Mapping[str, Any], *, actor: str, source: str = "api") -> dict[str, Any]:
        with self._lock:
            self.calls.append(("create", {"data": dict(data), "actor": actor, "source": source}))
            if any(i.get("phone") == data.get("phone") for i in self.items.values()):
                raise Conflict("a contact with this phone exists")
            now = self._clock.now()
            item: dict[str, Any] = {
                "contactId": "ct_" + uuid.uuid4().hex,
                "kind": "contact",
                "name": data.get("name"),
                "phone": data.get("phone"),
                "optInWhatsApp": bool(data.get("optInWhatsApp", False)),
                "optInSms": bool(data.get("optInSms", False)),
                "optInEmail": bool(data.get("optInEmail", False)),
                "createdAt": now,
                "updatedAt": now,
                "consentHistory": [],
            }
            self.items[item["contactId"]] = item
            return dict(item)

    def set_opt_in(
        self,
        contact_id: str,
        channel: str,
        value: bool,
        *,
        actor: str,
        source: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        key = {"whatsapp": "optInWhatsApp", "sms": "optInSms", "email": "optInEmail"}[channel]
        with self._lock:
            item = self.items[contact_id]
            self.calls.append(("set_opt_in", {"contactId": contact_id, "channel": channel, "value": value}))
            entry: dict[str, Any] = {
                "channel": channel,
                "old": item[key],
                "new": value,
                "actor": actor,
                "at": self._clock.now(),
                "source": source,
            }
            if evidence is not None:
                entry["evidence"] = dict(evidence)
            item[key] = value
            item["consentHistory"] = [*item["consentHistory"], entry]
            return dict(item)

    def record_inbound(self, contact_id: str, at: float) -> None:
        with self._lock:
            item = self.items[contact_id]
            self.calls.append(("record_inbound", {"contactId": contact_id, "at": at}))
            if at > item.get("lastInboundMessageAt", 0):
                item["lastInboundMessageAt"] = at
            if at > item.get("lastContactedAt", 0):
                item["lastContactedAt"] = at

    def add(self, phone: str, *, opt_in_whatsapp: bool = False, name: str = "Known") -> dict[str, Any]:
        item = self.create({"name": name, "phone": phone}, actor="test")
        if opt_in_whatsapp:
            with self._lock:
                self.items[item["contactId"]]["optInWhatsApp"] = True
        return self.get(item["contactId"])
