"""Opaque pagination cursors: base64url JSON of the last key seen, bound to the query that made it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gateway.store.port import InvalidCursor


def encode(last_key: dict[str, Any], scope: str) -> str:
    raw = json.dumps({"k": last_key, "s": scope}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, scope: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), dict):
        raise InvalidCursor("the cursor belongs to a different query")
    key: dict[str, Any] = data["k"]
    return key
