from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.inbound.errors import SignatureInvalid
from gateway.inbound.sns_signature import SnsSignatureVerifier, is_sns_url, string_to_sign, urllib_fetch

from .events import load
from .signing import CERT_URL, TOPIC, FakeFetcher, confirmation, sign


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture
def verifier(fetcher: FakeFetcher) -> SnsSignatureVerifier:
    return SnsSignatureVerifier(TOPIC, fetcher)


def https_fixture() -> dict[str, Any]:
    return load("eum-inbound-text.sns-https.json")


def test_the_fixture_as_is_has_a_fake_signature_and_is_refused(verifier: SnsSignatureVerifier) -> None:
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verifier.verify(https_fixture())


@pytest.mark.parametrize("version", ["1", "2"])
def test_resigned_fixture_verifies(
    verifier: SnsSignatureVerifier, fetcher: FakeFetcher, version: str
) -> None:
    verifier.verify(sign(https_fixture(), version))
    assert fetcher.urls == [CERT_URL]


def test_signature_version_1_is_not_accepted_as_2(verifier: SnsSignatureVerifier) -> None:
    signed = sign(https_fixture(), "1")
    signed["SignatureVersion"] = "2"
    with pytest.raises(SignatureInvalid):
        verifier.verify(signed)


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "Type"])
def test_any_signed_field_changed_breaks_the_signature(verifier: SnsSignatureVerifier, field: str) -> None:
    signed = sign(https_fixture())
    signed[field] = "SubscriptionConfirmation" if field == "Type" else signed[field] + "x"
    with pytest.raises(SignatureInvalid):
        verifier.verify(signed)


def test_subject_is_signed_when_present(verifier: SnsSignatureVerifier) -> None:
    with_subject = sign(dict(https_fixture(), Subject="hello"))
    verifier.verify(with_subject)
    with_subject["Subject"] = "changed"
    with pytest.raises(SignatureInvalid):
        verifier.verify(with_subject)


def test_another_topic_is_refused_even_when_signed(fetcher: FakeFetcher) -> None:
    verifier = SnsSignatureVerifier("arn:aws:sns:us-east-1:809904170947:base-wecare-digital", fetcher)
    with pytest.raises(SignatureInvalid, match="topic"):
        verifier.verify(sign(https_fixture()))
    assert fetcher.urls == []  # refused before any fetch


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/cert.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com@evil.com/cert.pem",
        "https://evil.com@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://sns.amazonaws.com/cert.pem",
        "https://xsns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "https://sns.evil.amazonaws.com/cert.pem",
    ],
)
def test_certificates_are_fetched_only_from_sns_hosts(
    verifier: SnsSignatureVerifier, fetcher: FakeFetcher, url: str
) -> None:
    message = sign(https_fixture())
    message["SigningCertURL"] = url
    with pytest.raises(SignatureInvalid, match="certificate URL"):
        verifier.verify(message)
    assert fetcher.urls == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.us-east-1.amazonaws.com/x.pem", True),
        ("https://sns.eu-west-2.amazonaws.com/x.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/x.pem", True),
        ("https://sns.us-gov-west-1.amazonaws.com/x.pem", True),
        ("https://SNS.us-east-1.amazonaws.com.evil/x.pem", False),
        ("ftp://sns.us-east-1.amazonaws.com/x.pem", False),
        ("not a url", False),
    ],
)
def test_is_sns_url(url: str, ok: bool) -> None:
    assert is_sns_url(url) is ok


def test_certificates_are_cached(verifier: SnsSignatureVerifier, fetcher: FakeFetcher) -> None:
    message = sign(https_fixture())
    for _ in range(3):
        verifier.verify(message)
    assert fetcher.urls == [CERT_URL]


def test_lambda_spelling_of_the_cert_url_is_accepted(verifier: SnsSignatureVerifier) -> None:
    message = sign(https_fixture())
    message["SigningCertUrl"] = message.pop("SigningCertURL")
    verifier.verify(message)


def test_a_fetch_failure_is_a_refusal() -> None:
    def broken(url: str) -> bytes:
        raise OSError("network down")

    with pytest.raises(SignatureInvalid, match="cannot load"):
        SnsSignatureVerifier(TOPIC, broken).verify(sign(https_fixture()))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"Type": "Nope"}, "message type"),
        ({"SignatureVersion": "3"}, "SignatureVersion"),
        ({"Signature": "***"}, "Base64"),
        ({"Signature": None}, "no Signature"),
    ],
)
def test_malformed_messages(verifier: SnsSignatureVerifier, change: dict[str, Any], fragment: str) -> None:
    message = dict(sign(https_fixture()), **change)
    with pytest.raises(SignatureInvalid, match=fragment):
        verifier.verify(message)


def test_subscription_confirmation_string_to_sign_and_confirm(
    verifier: SnsSignatureVerifier, fetcher: FakeFetcher
) -> None:
    message = sign(confirmation())
    assert string_to_sign(message).startswith(b"Message\nYou have chosen")
    assert b"SubscribeURL\n" in string_to_sign(message) and b"Token\n" in string_to_sign(message)
    verifier.verify(message)
    verifier.confirm_subscription(message)
    assert fetcher.urls[-1] == message["SubscribeURL"]


def test_subscribe_url_must_be_sns(verifier: SnsSignatureVerifier, fetcher: FakeFetcher) -> None:
    message = copy.deepcopy(confirmation())
    message["SubscribeURL"] = "https://evil.example/confirm"
    with pytest.raises(SignatureInvalid):
        verifier.confirm_subscription(sign(message))
    assert not any("evil" in u for u in fetcher.urls)


def test_default_fetcher_refuses_plain_http() -> None:
    with pytest.raises(ValueError, match="non-HTTPS"):
        urllib_fetch("http://sns.us-east-1.amazonaws.com/x.pem")
