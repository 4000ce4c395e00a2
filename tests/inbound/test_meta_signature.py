from __future__ import annotations

import pytest

from gateway.inbound.errors import SignatureInvalid
from gateway.inbound.meta_signature import MetaWebhookVerifier, meta_signature

SECRET = "app-secret-for-tests"


def test_valid_signature_passes_and_any_change_fails() -> None:
    verifier = MetaWebhookVerifier(SECRET, "token")
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = meta_signature(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    verifier.verify_signature(body, header)
    verifier.verify_signature(body, header.upper().replace("SHA256=", "sha256="))  # hex case does not matter
    with pytest.raises(SignatureInvalid):
        verifier.verify_signature(body + b" ", header)
    with pytest.raises(SignatureInvalid):
        verifier.verify_signature(body, meta_signature("other-secret", body))


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256=", "sha256=zz"])
def test_missing_or_malformed_headers_fail(header: str | None) -> None:
    with pytest.raises(SignatureInvalid):
        MetaWebhookVerifier(SECRET, "token").verify_signature(b"{}", header)


def test_without_a_secret_everything_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="not configured"):
        MetaWebhookVerifier("", "token").verify_signature(b"{}", meta_signature("", b"{}"))


def test_handshake() -> None:
    verifier = MetaWebhookVerifier(SECRET, "verify-me")
    assert verifier.handshake("subscribe", "verify-me", "1158201444") == "1158201444"
    for mode, token in (("subscribe", "wrong"), ("unsubscribe", "verify-me"), (None, "verify-me")):
        with pytest.raises(SignatureInvalid):
            verifier.handshake(mode, token, "1")
    with pytest.raises(SignatureInvalid):
        MetaWebhookVerifier(SECRET, "").handshake("subscribe", "", "1")


def test_the_secret_never_shows_in_repr() -> None:
    assert SECRET not in repr(MetaWebhookVerifier(SECRET, "t"))
