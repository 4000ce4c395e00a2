"""Verifying Amazon SNS HTTPS deliveries (Notification, SubscriptionConfirmation, UnsubscribeConfirmation).

Following the SNS documentation on verifying message signatures:

1. the signing certificate URL must be ``https://sns.<region>.amazonaws.com/...pem`` (anchored match on the
   host, so ``sns.us-east-1.amazonaws.com.evil.com`` or a user-info trick is refused); it is fetched only
   then, and cached per URL;
2. the string to sign is ``Key\\nValue\\n`` for, in this order, Message, MessageId, Subject (when present),
   Timestamp, TopicArn, Type for a notification, and Message, MessageId, SubscribeURL, Timestamp, Token,
   TopicArn, Type for the two confirmation types;
3. the Base64 ``Signature`` is RSA PKCS#1 v1.5 over it with SHA1 (``SignatureVersion`` 1) or SHA256 (2);
4. ``TopicArn`` must be the configured topic.

The fetcher (certificate download, and the GET that confirms a subscription) is injected; the default
is :func:`urllib_fetch` (HTTPS only, with a timeout), looked up when used. Tests use a locally generated
certificate through a fake fetcher.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.inbound.errors import SignatureInvalid

Fetcher = Callable[[str], bytes]
"""``fetch(url) -> body``: an HTTPS GET; raise on any failure."""

_HOST = re.compile(r"^sns\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?$")
_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_MAX_CACHED = 32


def urllib_fetch(url: str, *, timeout: float = 5.0, max_bytes: int = 1 << 20) -> bytes:
    """The default fetcher: HTTPS only, bounded time and size."""
    if urlsplit(url).scheme != "https":
        raise ValueError(f"refusing to fetch a non-HTTPS URL: {url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # the scheme is checked above
        body: bytes = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ValueError(f"response from {url} is larger than {max_bytes} bytes")
    return body


def is_sns_url(url: str) -> bool:
    """True for ``https://sns.<region>.amazonaws.com/...`` and nothing that merely looks like it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme != "https" or parts.hostname is None:
        return False
    # netloc must be exactly the host: no user-info, no port, no trailing dot games.
    return parts.netloc == parts.hostname and _HOST.match(parts.hostname) is not None


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    kind = message.get("Type")
    keys = _NOTIFICATION_KEYS if kind == "Notification" else _CONFIRMATION_KEYS
    parts = []
    for key in keys:
        value = message.get(key)
        if value is None:
            if key == "Subject":
                continue  # optional, and signed only when present
            raise SignatureInvalid(f"SNS {kind} has no {key}")
        if not isinstance(value, str):
            raise SignatureInvalid(f"SNS {kind} field {key} must be a string")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


class SnsSignatureVerifier:
    def __init__(self, topic_arn: str, fetcher: Fetcher | None = None) -> None:
        self._topic_arn = topic_arn
        self._fetcher = fetcher  # None: this module's urllib_fetch, looked up at each use
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPublicKey] = {}

    @property
    def topic_arn(self) -> str:
        return self._topic_arn

    def verify(self, message: Mapping[str, Any]) -> None:
        """Raise :class:`SignatureInvalid` unless ``message`` is a genuine SNS message for our topic."""
        kind = message.get("Type")
        if kind not in MESSAGE_TYPES:
            raise SignatureInvalid(f"not an SNS message type: {kind!r}")
        if not self._topic_arn or message.get("TopicArn") != self._topic_arn:
            topic = message.get("TopicArn")
            raise SignatureInvalid(f"message is for topic {topic!r}, not the configured one")
        version = message.get("SignatureVersion")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # SignatureVersion 1 is SHA1 by definition
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise SignatureInvalid(f"unsupported SignatureVersion {version!r}")
        cert_url = message.get("SigningCertURL") or message.get("SigningCertUrl")
        if not isinstance(cert_url, str) or not is_sns_url(cert_url) or not cert_url.endswith(".pem"):
            raise SignatureInvalid(f"signing certificate URL is not an SNS one: {cert_url!r}")
        signature_text = message.get("Signature")
        if not isinstance(signature_text, str):
            raise SignatureInvalid("message has no Signature")
        try:
            signature = base64.b64decode(signature_text, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureInvalid("Signature is not Base64") from None
        key = self._public_key(cert_url)
        try:
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise SignatureInvalid("SNS signature does not verify") from None

    def confirm_subscription(self, message: Mapping[str, Any]) -> None:
        """GET the SubscribeURL of a verified SubscriptionConfirmation (only an SNS URL is followed)."""
        url = message.get("SubscribeURL")
        if not isinstance(url, str) or not is_sns_url(url):
            raise SignatureInvalid(f"SubscribeURL is not an SNS URL: {url!r}")
        self._fetch(url)

    def _fetch(self, url: str) -> bytes:
        return (self._fetcher or urllib_fetch)(url)

    def _public_key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None:
            return cached
        try:
            pem = self._fetch(url)
            cert = x509.load_pem_x509_certificate(pem)
        except Exception as exc:  # network, TLS or parse failure: the message cannot be trusted
            raise SignatureInvalid(f"cannot load the SNS signing certificate: {exc}") from None
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("SNS signing certificate does not hold an RSA key")
        with self._lock:
            if len(self._keys) >= _MAX_CACHED:
                self._keys.pop(next(iter(self._keys)))
            self._keys[url] = key
        return key
