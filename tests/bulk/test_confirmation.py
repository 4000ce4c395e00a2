"""Confirmation tokens (gateway.bulk.confirmation) and the codec's sign/verify they rest on."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.bulk import confirmation
from gateway.bulk.confirmation import JobTerms, issue, recipients_digest, verify
from gateway.store.cursor import CursorCodec

KEY = b"k" * 32
NOW = 1_760_000_000.0
TERMS = JobTerms(
    creator="usr_op",
    channel="sms",
    content={"type": "text", "body": "hello"},
    recipients=recipients_digest(["ct_1", "ct_2", "ct_3"]),
    phone_number_id=None,
    send_at=None,
)


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(KEY)


def test_sign_and_verify_are_bound_to_purpose_payload_and_key(codec: CursorCodec) -> None:
    tag = codec.sign("one", b"payload")
    assert codec.verify("one", b"payload", tag)
    assert not codec.verify("two", b"payload", tag)
    assert not codec.verify("one", b"payload!", tag)
    assert not codec.verify("one", b"payload", tag[:-1] + ("A" if tag[-1] != "A" else "B"))
    assert not codec.verify("one", b"payload", "")
    assert not CursorCodec(b"x" * 32).verify("one", b"payload", tag)
    with pytest.raises(ValueError):
        codec.sign("", b"payload")


def test_a_signature_is_never_a_cursor_tag(codec: CursorCodec) -> None:
    cursor = codec.encode({"pk": "a"}, "scope")
    body, _, tag = cursor.partition(".")
    assert codec.sign("scope", body.encode()) != tag


def test_a_token_verifies_for_its_terms_until_it_expires(codec: CursorCodec) -> None:
    token = issue(codec, TERMS, NOW)
    assert verify(codec, TERMS, token, NOW)
    assert verify(codec, TERMS, token, NOW + confirmation.TOKEN_TTL_SECONDS)
    assert not verify(codec, TERMS, token, NOW + confirmation.TOKEN_TTL_SECONDS + 1)


@pytest.mark.parametrize(
    "change",
    [
        {"creator": "usr_other"},
        {"channel": "email"},
        {"content": {"type": "text", "body": "hello!"}},
        {"recipients": recipients_digest(["ct_1", "ct_2"])},
        {"recipients": recipients_digest(["ct_1", "ct_2", "ct_3", "ct_4"])},
        {"recipients": recipients_digest(["ct_1ct_2", "ct_3"])},
        {"phone_number_id": "phone-number-id-x"},
        {"send_at": NOW + 60},
    ],
)
def test_a_token_binds_every_field(codec: CursorCodec, change: dict[str, object]) -> None:
    token = issue(codec, TERMS, NOW)
    assert not verify(codec, dataclasses.replace(TERMS, **change), token, NOW)  # type: ignore[arg-type]


def test_a_tampered_token_is_refused(codec: CursorCodec) -> None:
    token = issue(codec, TERMS, NOW)
    expiry, _, tag = token.partition(".")
    later = f"{int(expiry) + 3600}.{tag}"  # a longer life is not the signer's
    assert not verify(codec, TERMS, later, NOW)
    for bad in ("", "nodot", f"{expiry}.", f".{tag}", f"x{expiry}.{tag}", token + "A", "1" * 300):
        assert not verify(codec, TERMS, bad, NOW), bad
    assert not verify(CursorCodec(b"z" * 32), TERMS, token, NOW)
