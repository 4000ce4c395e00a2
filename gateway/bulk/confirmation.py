"""Confirmation tokens for large bulk jobs (8.1): bound to one exact job, valid for 15 minutes.

Above ``BULK_CONFIRMATION_THRESHOLD`` recipients a create is answered with the preflight and a token;
the confirming call carries it back. The token is ``<expiresAt>.<tag>``, the tag an HMAC (the
deployment key, via a :class:`Signer` such as the store's cursor codec, under its own purpose) over a
canonical JSON of everything that makes the job: the creator, the channel, the content document, the
phone number id, ``sendAt``, the SHA-256 of the recipient list (in order, as sent) and the expiry.
Change any of them — other content, another recipient, another creator — or let it expire, and the
token no longer verifies. Nothing is stored: a token is checked by recomputing its tag.

Pure: no clock of its own (``now`` is passed in), no I/O beyond the signer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

PURPOSE = "bulk-confirmation"
TOKEN_TTL_SECONDS = 15 * 60
_MAX_TOKEN_CHARS = 200


class Signer(Protocol):
    """What tokens need of :class:`~gateway.store.cursor.CursorCodec`."""

    def sign(self, purpose: str, payload: bytes) -> str: ...

    def verify(self, purpose: str, payload: bytes, tag: str) -> bool: ...


def recipients_digest(contact_ids: Iterable[str]) -> str:
    """SHA-256 of the recipient list, in order (each id NUL-terminated, so no two lists collide)."""
    digest = hashlib.sha256()
    for contact_id in contact_ids:
        digest.update(contact_id.encode() + b"\x00")
    return digest.hexdigest()


@dataclass(frozen=True)
class JobTerms:
    """Everything a confirmation binds: what would be sent, to whom, by whom."""

    creator: str
    channel: str
    content: Mapping[str, Any]
    recipients: str  # recipients_digest(...)
    phone_number_id: str | None = None
    send_at: float | None = None

    def canonical(self, expires_at: int) -> bytes:
        return json.dumps(
            {
                "creator": self.creator,
                "channel": self.channel,
                "content": self.content,
                "phoneNumberId": self.phone_number_id,
                "sendAt": self.send_at,
                "recipients": self.recipients,
                "expiresAt": expires_at,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            default=str,
        ).encode()


def issue(signer: Signer, terms: JobTerms, now: float, ttl: int = TOKEN_TTL_SECONDS) -> str:
    """A token for ``terms``, valid until ``now + ttl``."""
    expires_at = int(now) + ttl
    return f"{expires_at}.{signer.sign(PURPOSE, terms.canonical(expires_at))}"


def verify(signer: Signer, terms: JobTerms, token: str, now: float) -> bool:
    """Whether ``token`` was issued for exactly ``terms`` and has not expired."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        return False
    expiry, dot, tag = token.partition(".")
    if not dot or not tag or not expiry.isdigit() or len(expiry) > 12:
        return False
    expires_at = int(expiry)
    if now > expires_at:
        return False
    return signer.verify(PURPOSE, terms.canonical(expires_at), tag)
