"""Opaque, tamper-evident pagination cursors: the last key seen, bound to the query that made it.

A cursor is ``base64url(json) "." base64url(hmac-sha256(key, json)[:16])``. The tag is checked, in
constant time, *before* anything is decoded, so a forged or edited cursor is refused as
:class:`InvalidCursor` without its contents ever reaching a JSON parser or a key check.

The key is per deployment and shared by every process of it: it lives in the ``SystemConfig`` table
(item ``configKey = "internal#cursorKey"``, created once with a must-not-exist put), so it travels
with the data: one SQLite file under the data dir in the embedded default, DynamoDB in AWS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gateway import safejson
from gateway.errors import InvalidInput
from gateway.store.conditions import not_exists
from gateway.store.port import ConditionFailed, InvalidCursor

if TYPE_CHECKING:
    from gateway.store.port import Table

KEY_ITEM = "internal#cursorKey"
_TAG_BYTES = 16
_MAX_CURSOR_CHARS = 4096


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


class CursorCodec:
    """Encodes and verifies cursors with one deployment key (given, or loaded on first use)."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        self._key: bytes | None = key if isinstance(key, bytes) else None
        self._load = None if isinstance(key, bytes) else key
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    assert self._load is not None
                    self._key = self._load()
        return self._key

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._secret(), payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def sign(self, purpose: str, payload: bytes) -> str:
        """A tag (base64url, full HMAC-SHA256) over ``payload`` for one ``purpose``, with the same key.

        The signed bytes are ``"sign:" purpose NUL payload``: never a cursor's JSON (which starts with
        ``{``), and never another purpose's, so a tag made for one use is refused by every other.
        """
        if not purpose or "\x00" in purpose:
            raise ValueError("a signing purpose is a non-empty string without NUL")
        message = b"sign:" + purpose.encode() + b"\x00" + payload
        return _b64(hmac.new(self._secret(), message, hashlib.sha256).digest())

    def verify(self, purpose: str, payload: bytes, tag: str) -> bool:
        """Whether ``tag`` is :meth:`sign`'s for (``purpose``, ``payload``); compared in constant time."""
        return hmac.compare_digest(tag.encode("utf-8", "replace"), self.sign(purpose, payload).encode())

    def encode(self, last_key: dict[str, Any], scope: str) -> str:
        payload = json.dumps({"k": last_key, "s": scope}, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def decode(self, cursor: str, scope: str) -> dict[str, Any]:
        body, dot, tag = cursor.partition(".")
        if not dot or len(cursor) > _MAX_CURSOR_CHARS:
            raise InvalidCursor("the cursor is not one this API issued; start again without it")
        try:
            payload, offered = _unb64(body), _unb64(tag)
        except (binascii.Error, ValueError):
            raise InvalidCursor("the cursor is not one this API issued; start again without it") from None
        if not hmac.compare_digest(offered, self._tag(payload)):
            raise InvalidCursor("the cursor is not one this API issued; start again without it")
        try:
            data = safejson.loads(payload, "the cursor")
        except safejson.JsonInputError:  # only a key holder could get here
            raise InvalidCursor("the cursor is not one this API issued; start again without it") from None
        if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), dict):
            raise InvalidCursor("the cursor belongs to a different query; start again without it")
        key: dict[str, Any] = data["k"]
        return key


@contextmanager
def as_invalid_input() -> Iterator[None]:
    """Services turn a refused cursor into the caller's mistake here (the API maps that to 422)."""
    try:
        yield
    except InvalidCursor as exc:
        raise InvalidInput(str(exc), code="INVALID_CURSOR", details={"field": "cursor"}) from None


def stored_key(table: Table) -> bytes:
    """The deployment's cursor key from ``SystemConfig``, created on first use (racing creators agree)."""
    item = table.get({"configKey": KEY_ITEM})
    if item is None:
        fresh = {"configKey": KEY_ITEM, "kind": "internal", "value": secrets.token_hex(32)}
        try:
            table.put(fresh, condition=not_exists("configKey"))
            item = fresh
        except ConditionFailed:
            item = table.get({"configKey": KEY_ITEM})
    if item is None or not isinstance(item.get("value"), str):
        raise RuntimeError("the cursor key in SystemConfig is unreadable")
    return bytes.fromhex(item["value"])
