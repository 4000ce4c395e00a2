"""Meta's own webhook: the verify-token handshake and the ``X-Hub-Signature-256`` check.

Meta signs every POST with HMAC-SHA256 of the raw body keyed by the app secret, sent as
``X-Hub-Signature-256: sha256=<hex>``. The comparison is constant-time. With no app secret or no
verify token configured, everything is refused (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.inbound.errors import SignatureInvalid

SIGNATURE_HEADER = "X-Hub-Signature-256"


def meta_signature(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class MetaWebhookVerifier:
    def __init__(self, app_secret: str, verify_token: str) -> None:
        self._secret = app_secret
        self._token = verify_token

    def __repr__(self) -> str:  # never show the secret
        return "MetaWebhookVerifier(app_secret=[redacted])"

    def verify_signature(self, body: bytes, header: str | None) -> None:
        if not self._secret:
            raise SignatureInvalid("the Meta webhook is not configured (no app secret)")
        if not header or not header.startswith("sha256="):
            raise SignatureInvalid(f"missing or malformed {SIGNATURE_HEADER} header")
        expected = meta_signature(self._secret, body)
        given = header.strip().lower().encode("ascii", "replace")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")

    def handshake(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Answer Meta's subscription check: echo ``hub.challenge`` when mode and token are right."""
        if not self._token:
            raise SignatureInvalid("the Meta webhook is not configured (no verify token)")
        if mode != "subscribe" or token is None or challenge is None:
            raise SignatureInvalid("not a subscription handshake")
        if not hmac.compare_digest(token.encode("utf-8"), self._token.encode("utf-8")):
            raise SignatureInvalid("verify token does not match")
        return challenge
