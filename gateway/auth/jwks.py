"""Signing-key sets (JWKS): a fixed local set, and a cached remote set (Cognito) refreshed on rotation.

The remote set is fetched through an injected callable (no network in tests, no client at import time).
It is refreshed when it grows old, and once more when a token names a ``kid`` we do not know (the pool
rotated its keys) — but never more often than ``min_refresh_interval``, so a flood of tokens with
made-up ``kid``s cannot turn into a flood of fetches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from gateway import safejson
from gateway.clock import Clock

log = logging.getLogger("wecare.auth.jwks")

Fetch = Callable[[str], bytes | str | Mapping[str, Any]]


class KeySource(Protocol):
    def get(self, kid: str) -> RSAPublicKey | None:
        """The RS256 verification key with this id, or None when the set has no such key."""


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def thumbprint(key: RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable ``kid`` derived from the key itself."""
    numbers = key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def public_jwk(key: RSAPublicKey, kid: str) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


def parse_jwks(document: bytes | str | Mapping[str, Any]) -> dict[str, RSAPublicKey]:
    """The usable RS256 signing keys of a JWKS document, by kid; anything else in it is ignored."""
    data: Any = document
    if isinstance(document, bytes | str):
        data = safejson.loads(document, "the JWKS document")  # a JsonInputError is a ValueError
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS document: expected an object with a 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, Mapping):
            continue
        kid, kty, alg, use = jwk.get("kid"), jwk.get("kty"), jwk.get("alg", "RS256"), jwk.get("use", "sig")
        if not isinstance(kid, str) or not kid or kty != "RSA" or alg != "RS256" or use != "sig":
            continue
        try:
            key = RSAAlgorithm.from_jwk(dict(jwk))
        except Exception:  # a malformed key must not poison the rest of the set
            log.warning("ignoring malformed JWKS key", extra={"kid": kid})
            continue
        if isinstance(key, RSAPublicKey):
            keys[kid] = key
    return keys


class StaticJwks:
    """A fixed key set (the embedded identity's own keys)."""

    def __init__(self, keys: Mapping[str, RSAPublicKey]) -> None:
        self._keys = dict(keys)

    def get(self, kid: str) -> RSAPublicKey | None:
        return self._keys.get(kid)

    def document(self) -> dict[str, Any]:
        return {"keys": [public_jwk(key, kid) for kid, key in self._keys.items()]}


class RemoteJwks:
    """A remote JWKS, cached; refreshed after ``max_age`` and on an unknown kid (rate-limited)."""

    def __init__(
        self,
        url: str,
        fetch: Fetch,
        clock: Clock,
        *,
        max_age: float = 3600.0,
        min_refresh_interval: float = 60.0,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._max_age = max_age
        self._min_interval = min_refresh_interval
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self.fetch_count = 0

    def get(self, kid: str) -> RSAPublicKey | None:
        now = self._clock.now()
        key = self._keys.get(kid)
        stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
        if key is not None and not stale:
            return key
        self._refresh(now)
        return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        with self._lock:
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return  # someone refreshed (or tried) a moment ago: do not hammer the endpoint
            self._attempted_at = now
            self.fetch_count += 1
            try:
                keys = parse_jwks(self._fetch(self.url))
            except Exception as exc:
                # Keep serving the keys we have; tokens signed by unknown keys are refused meanwhile.
                log.error(
                    "JWKS refresh failed; keeping %d cached keys",
                    len(self._keys),
                    extra={"url": self.url, "errorType": type(exc).__name__},
                )
                return
            self._keys = keys
            self._fetched_at = now
            log.info("JWKS refreshed", extra={"url": self.url, "kids": sorted(keys)})


def http_fetch(url: str, *, timeout: float = 5.0) -> bytes:
    """Fetch a JWKS over HTTPS (the composition root passes this to :class:`RemoteJwks` in AWS)."""
    if not url.startswith("https://"):
        raise ValueError("JWKS must be fetched over https")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read(1_000_000)
        return body
