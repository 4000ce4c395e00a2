"""Email through Amazon SES v2 ``SendEmail`` with simple (SES-assembled) content.

Request::

    FromEmailAddress = '"WECARE.DIGITAL" <one@wecare.digital>'      # email.utils.formataddr
    Destination      = {"ToAddresses": [to]}
    Content          = {"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                   "Body": {"Text": {...}, "Html": {...}}}}   # at least one of the two

Header safety: the subject, display name and every address are refused if they contain a line break
(CR, LF or another Unicode line separator), so no caller can smuggle extra headers in. Display names are
quoted or RFC 2047-encoded by ``formataddr``; address domains are sent in IDNA (punycode) form and
local parts must be ASCII, which is what SES accepts.
"""

from __future__ import annotations

import re
from email.utils import formataddr
from typing import Any

from channels.aws import invoke, request_id, require
from channels.base import ApiCall, Channel, Email, OutboundMessage, PreparedRequest, SendResult
from channels.errors import ContentInvalid
from channels.retry import Retrier
from channels.validation import non_empty, single_line

SERVICE = "sesv2"
DEFAULT_FROM_ADDRESS = "one@wecare.digital"
DEFAULT_FROM_NAME = "WECARE.DIGITAL"
SUBJECT_MAX_CHARS = 998  # RFC 5322 line length; SES refuses longer subjects anyway
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


def mailbox(address: str, field: str) -> str:
    """A bare ``local@domain`` address, domain in IDNA form; ContentInvalid otherwise."""
    single_line(address, field)
    local, at, domain = address.strip().rpartition("@")
    if (
        not at
        or not local
        or not domain
        or not _LOCAL_PART.fullmatch(local)
        or any(c.isspace() for c in domain)
    ):
        raise ContentInvalid(f"{field} is not a plain email address: {address!r}", code="AddressInvalid")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ContentInvalid(f"{field} has an invalid domain: {domain!r}", code="AddressInvalid") from exc
    if "." not in ascii_domain or ascii_domain.startswith(".") or ascii_domain.endswith("."):
        raise ContentInvalid(f"{field} has an invalid domain: {domain!r}", code="AddressInvalid")
    return f"{local}@{ascii_domain}"


def _content(data: str) -> dict[str, str]:
    return {"Data": data, "Charset": "UTF-8"}


class EmailRequestBuilder:
    """The pure half: an :class:`Email` → the exact SES v2 SendEmail call. Holds no client."""

    channel: Channel = "email"

    def __init__(
        self,
        *,
        from_address: str = DEFAULT_FROM_ADDRESS,
        from_name: str = DEFAULT_FROM_NAME,
        configuration_set: str | None = None,
    ) -> None:
        self.from_address = mailbox(from_address, "from_address")
        self.from_name = single_line(from_name, "from_name")
        self.configuration_set = configuration_set

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        if not isinstance(message, Email):
            raise ContentInvalid(
                f"the email driver cannot send {type(message).__name__}", code="WrongChannel"
            )
        to = mailbox(message.to, "to")
        subject = single_line(non_empty(message.subject, "subject", max_chars=SUBJECT_MAX_CHARS), "subject")
        if not (message.text and message.text.strip()) and not (message.html and message.html.strip()):
            raise ContentInvalid("an email needs a text or an HTML body", code="ContentEmpty")
        name = single_line(self.from_name if message.from_name is None else message.from_name, "from_name")
        sender = self.from_address if message.from_address is None else mailbox(message.from_address, "from")
        body: dict[str, Any] = {}
        if message.text and message.text.strip():
            body["Text"] = _content(message.text)
        if message.html and message.html.strip():
            body["Html"] = _content(message.html)
        params: dict[str, Any] = {
            "FromEmailAddress": formataddr((name, sender)) if name else sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Simple": {"Subject": _content(subject), "Body": body}},
        }
        if message.reply_to:
            params["ReplyToAddresses"] = [mailbox(a, "reply_to") for a in message.reply_to]
        if self.configuration_set:
            params["ConfigurationSetName"] = self.configuration_set
        info = {"to": to, "from": sender, "hasText": "Text" in body, "hasHtml": "Html" in body}
        return PreparedRequest("email", "email", (ApiCall(SERVICE, "SendEmail", params),), info)


class EmailDriver:
    """LIVE email driver over an injected ``sesv2`` client."""

    channel: Channel = "email"

    def __init__(self, builder: EmailRequestBuilder, client: Any, *, retrier: Retrier | None = None) -> None:
        self.builder = builder
        self._client = client
        self._retry = retrier if retrier is not None else Retrier()

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        return self.builder.build_request(message)

    def send(self, prepared: PreparedRequest) -> SendResult:
        if prepared.channel != "email" or [c.operation for c in prepared.calls] != ["SendEmail"]:
            raise ValueError("the email driver performs exactly one SendEmail")
        response = invoke(self._retry, "SendEmail", self._client.send_email, prepared.calls[0].params)
        return SendResult(require(response, "MessageId", "SendEmail"), request_id(response), {})
