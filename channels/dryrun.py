"""DRY_RUN: record exactly what a driver *would* send, validated against the AWS API model, and send nothing.

:class:`DryRunRecorder` wraps a driver's pure half (a ``*RequestBuilder``), never a driver: it is built
without any AWS client and refuses anything that has a ``send`` method or holds a botocore client, so
it has no way to reach AWS. For each message it

1. builds the exact :class:`~channels.base.ApiCall` list the LIVE driver would perform,
2. validates every call's parameters against the operation's input shape in botocore's bundled service
   model (``botocore.validate.validate_parameters``; loading models needs neither credentials nor
   network) — a malformed request fails here just as it would fail in botocore before sending,
3. hands a :class:`DryRunRecord` to the injected ``sink`` (the gateway stores it as the outbox), and
4. returns a :class:`~channels.base.SendResult` with a synthetic id ``dryrun-<uuid>``.

Media is validated (type, size) but not uploaded: the record shows the would-be S3 key of the
``PutObject`` and the ``SendWhatsAppMessage`` still carries the media-id placeholder.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ParamValidationError
from botocore.model import OperationNotFoundError, Shape
from botocore.validate import validate_parameters

from channels.base import (
    ApiCall,
    Channel,
    MessageKind,
    OutboundMessage,
    PreparedRequest,
    RequestBuilder,
    SendResult,
)
from channels.errors import ContentInvalid

DRY_RUN_PREFIX = "dryrun-"


def _render(value: Any) -> Any:
    """JSON-friendly view of request parameters: blobs holding JSON are shown parsed, others summarised."""
    if isinstance(value, bytes | bytearray):
        try:
            return json.loads(bytes(value).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return {"$bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _render(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v) for v in value]
    return value


@dataclass(frozen=True)
class DryRunRecord:
    """One message that was not sent: the exact calls, in order, and the driver's facts about it."""

    id: str
    channel: Channel
    kind: MessageKind
    calls: tuple[ApiCall, ...]
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sent": False,
            "note": "DRY_RUN: recorded, not sent; nothing left this server",
            "channel": self.channel,
            "kind": self.kind,
            "calls": [
                {"service": c.service, "operation": c.operation, "params": _render(c.params)}
                for c in self.calls
            ],
            "info": _render(self.info),
        }


class ServiceModels:
    """botocore's bundled API models, loaded lazily and cached per instance (no credentials needed)."""

    def __init__(self, session: botocore.session.Session | None = None) -> None:
        self._session = session if session is not None else botocore.session.Session()
        self._shapes: dict[tuple[str, str], Shape] = {}

    def input_shape(self, service: str, operation: str) -> Shape:
        key = (service, operation)
        if key not in self._shapes:
            try:
                model = self._session.get_service_model(service)
                shape = model.operation_model(operation).input_shape
            except (BotoCoreError, OperationNotFoundError) as exc:
                raise ContentInvalid(
                    f"unknown AWS operation {service}:{operation}", code="RequestInvalid"
                ) from exc
            if shape is None:
                raise ContentInvalid(f"{service}:{operation} takes no input", code="RequestInvalid")
            self._shapes[key] = shape
        return self._shapes[key]

    def validate(self, call: ApiCall) -> None:
        """ContentInvalid(code="RequestInvalid") when botocore would refuse the parameters."""
        try:
            validate_parameters(dict(call.params), self.input_shape(call.service, call.operation))
        except ParamValidationError as exc:
            raise ContentInvalid(
                f"{call.service}:{call.operation} request is invalid: {exc}",
                code="RequestInvalid",
                operation=call.operation,
            ) from exc


def _holds_client(obj: object) -> bool:
    attributes = getattr(obj, "__dict__", {})
    return any(isinstance(value, BaseClient) for value in attributes.values())


def _new_id() -> str:
    return f"{DRY_RUN_PREFIX}{uuid.uuid4()}"


class DryRunRecorder:
    """A ChannelDriver that validates and records instead of sending. Built from a request builder only."""

    def __init__(
        self,
        builder: RequestBuilder,
        sink: Callable[[DryRunRecord], None],
        *,
        models: ServiceModels | None = None,
        id_factory: Callable[[], str] = _new_id,
    ) -> None:
        if callable(getattr(builder, "send", None)) or _holds_client(builder):
            raise TypeError(
                "DryRunRecorder takes a request builder (e.g. WhatsAppRequestBuilder), never a driver or "
                "anything holding an AWS client"
            )
        self._builder = builder
        self._sink = sink
        self._models = models if models is not None else ServiceModels()
        self._new_id = id_factory

    @property
    def channel(self) -> Channel:
        return self._builder.channel

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        prepared = self._builder.build_request(message)
        self._validate(prepared)
        return prepared

    def send(self, prepared: PreparedRequest) -> SendResult:
        if prepared.channel != self.channel:
            raise ValueError(f"a {prepared.channel} request was handed to the {self.channel} recorder")
        self._validate(prepared)  # a request prepared elsewhere is checked too
        record = DryRunRecord(
            self._new_id(), prepared.channel, prepared.kind, prepared.calls, dict(prepared.info)
        )
        self._sink(record)
        return SendResult(record.id, None, {**_render(prepared.info), "dryRun": True})

    def _validate(self, prepared: PreparedRequest) -> None:
        for call in prepared.calls:
            self._models.validate(call)
