"""SMS through AWS End User Messaging SMS (``pinpoint-sms-voice-v2``) ``SendTextMessage``.

Request: ``DestinationPhoneNumber`` (E.164 with ``+``), ``OriginationIdentity`` (the phone pool, e.g.
``pool-6fbf5a5f390d4eeeaa7dbae39d78933e``), ``MessageBody`` (1-1,600 characters), ``MessageType``
(``TRANSACTIONAL`` by default), optional ``ConfigurationSetName`` (event destinations) and ``Context``.

Why not SNS ``Publish``: SNS picks an origination identity itself and cannot be pointed at a phone pool,
so the requirement to send *from the WECARE-DIGITAL pool* can only be met with SendTextMessage (which is
also what SNS uses underneath in current accounts).

The encoding (GSM-7 / UCS-2) and segment count from :mod:`channels.sms_encoding` are put in
``PreparedRequest.info`` and ``SendResult.extra`` for the gateway to store.

``dry_run=True`` makes every request carry ``DryRun=True``: AWS validates it (origination identity,
destination, spend limit…) without sending. The flag is fixed when the builder is made, cannot be
turned off per message, and the driver re-checks it on every call, so a driver built for preview or
staging can never deliver an SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from channels.aws import invoke, request_id, require
from channels.base import ApiCall, Channel, OutboundMessage, PreparedRequest, SendResult, Sms
from channels.errors import ContentInvalid
from channels.retry import Retrier
from channels.sms_encoding import analyze
from channels.validation import e164, non_empty, single_line

SERVICE = "pinpoint-sms-voice-v2"
BODY_MAX_CHARS = 1600
DEFAULT_POOL_ID = "pool-6fbf5a5f390d4eeeaa7dbae39d78933e"
MessageType = Literal["TRANSACTIONAL", "PROMOTIONAL"]


def _context(context: Mapping[str, str] | None) -> dict[str, str] | None:
    if not context:
        return None
    if len(context) > 5:
        raise ContentInvalid("SMS context holds at most 5 entries", code="ContextInvalid")
    return {str(k): str(v) for k, v in context.items()}


class SmsRequestBuilder:
    """The pure half: an :class:`Sms` → the exact SendTextMessage call. Holds no client."""

    channel: Channel = "sms"

    def __init__(
        self,
        *,
        pool_id: str = DEFAULT_POOL_ID,
        message_type: MessageType = "TRANSACTIONAL",
        configuration_set: str | None = None,
        dry_run: bool = False,
    ) -> None:
        self.pool_id = single_line(non_empty(pool_id, "pool_id"), "pool_id")
        self.message_type = message_type
        self.configuration_set = configuration_set
        self._dry_run = bool(dry_run)

    @property
    def dry_run(self) -> bool:
        return self._dry_run

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        if not isinstance(message, Sms):
            raise ContentInvalid(f"the SMS driver cannot send {type(message).__name__}", code="WrongChannel")
        to = e164(message.to)
        body = non_empty(message.body, "body", max_chars=BODY_MAX_CHARS)
        origin = self.pool_id if message.pool_id is None else message.pool_id
        single_line(non_empty(origin, "pool_id"), "pool_id")
        params: dict[str, Any] = {
            "DestinationPhoneNumber": to,
            "OriginationIdentity": origin,
            "MessageBody": body,
            "MessageType": self.message_type,
        }
        if self.configuration_set:
            params["ConfigurationSetName"] = self.configuration_set
        context = _context(message.context)
        if context:
            params["Context"] = context
        if self._dry_run:
            params["DryRun"] = True
        info: dict[str, Any] = {"to": to, **analyze(body).as_dict()}
        if self._dry_run:
            # AWS's own DryRun (validated by the service, not delivered). Absent otherwise, so a DRY_RUN
            # record of this server never shows a "dryRun: false" that reads as "this was sent".
            info["providerDryRun"] = True
        return PreparedRequest("sms", "sms", (ApiCall(SERVICE, "SendTextMessage", params),), info)


class SmsDriver:
    """LIVE SMS driver over an injected ``pinpoint-sms-voice-v2`` client."""

    channel: Channel = "sms"

    def __init__(self, builder: SmsRequestBuilder, client: Any, *, retrier: Retrier | None = None) -> None:
        self.builder = builder
        self._client = client
        self._retry = retrier if retrier is not None else Retrier()

    @property
    def dry_run(self) -> bool:
        return self.builder.dry_run

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        return self.builder.build_request(message)

    def send(self, prepared: PreparedRequest) -> SendResult:
        if prepared.channel != "sms" or [c.operation for c in prepared.calls] != ["SendTextMessage"]:
            raise ValueError("the SMS driver performs exactly one SendTextMessage")
        params = dict(prepared.calls[0].params)
        if self.dry_run and params.get("DryRun") is not True:
            # Belt and braces: a request prepared elsewhere must not slip past a dry-run driver.
            raise ContentInvalid(
                "this SMS driver is dry-run only; the request lacks DryRun=True", code="DryRunRequired"
            )
        response = invoke(self._retry, "SendTextMessage", self._client.send_text_message, params)
        extra = {
            k: prepared.info[k] for k in ("encoding", "segments", "units", "characters") if k in prepared.info
        }
        extra["dryRun"] = params.get("DryRun") is True
        return SendResult(require(response, "MessageId", "SendTextMessage"), request_id(response), extra)
