"""Assemble the three channel drivers for a send mode — for the composition root.

LIVE::

    session = boto3.session.Session(region_name=settings.AWS_REGION)
    drivers = build_drivers("LIVE", builders=default_builders(...),
                            client_factory=lambda name: session.client(name, config=botocore_config()))

DRY_RUN (``client_factory`` is never called; no client exists)::

    drivers = build_drivers("DRY_RUN", builders=default_builders(...), sink=outbox.append)

``default_builders(sms_dry_run=True)`` additionally makes a LIVE SMS driver send ``DryRun=True`` (AWS
validates without delivering) — useful to check the real pool from staging without ever sending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from channels.base import Channel, ChannelDriver
from channels.dryrun import DryRunRecord, DryRunRecorder, ServiceModels
from channels.email import DEFAULT_FROM_ADDRESS, DEFAULT_FROM_NAME, EmailDriver, EmailRequestBuilder
from channels.retry import Retrier
from channels.sms import DEFAULT_POOL_ID, SmsDriver, SmsRequestBuilder
from channels.whatsapp import (
    DEFAULT_MEDIA_BUCKET,
    DEFAULT_MEDIA_PREFIX,
    META_API_VERSION,
    WhatsAppDriver,
    WhatsAppRequestBuilder,
)

SendMode = Literal["LIVE", "DRY_RUN"]


@dataclass(frozen=True)
class Builders:
    whatsapp: WhatsAppRequestBuilder
    sms: SmsRequestBuilder
    email: EmailRequestBuilder


def default_builders(
    *,
    media_bucket: str = DEFAULT_MEDIA_BUCKET,
    media_prefix: str = DEFAULT_MEDIA_PREFIX,
    meta_api_version: str = META_API_VERSION,
    sms_pool_id: str = DEFAULT_POOL_ID,
    sms_configuration_set: str | None = None,
    sms_dry_run: bool = False,
    from_address: str = DEFAULT_FROM_ADDRESS,
    from_name: str = DEFAULT_FROM_NAME,
    email_configuration_set: str | None = None,
) -> Builders:
    return Builders(
        whatsapp=WhatsAppRequestBuilder(
            media_bucket=media_bucket, media_prefix=media_prefix, meta_api_version=meta_api_version
        ),
        sms=SmsRequestBuilder(
            pool_id=sms_pool_id, configuration_set=sms_configuration_set, dry_run=sms_dry_run
        ),
        email=EmailRequestBuilder(
            from_address=from_address, from_name=from_name, configuration_set=email_configuration_set
        ),
    )


def build_drivers(
    send_mode: SendMode,
    *,
    builders: Builders,
    client_factory: Callable[[str], Any] | None = None,
    sink: Callable[[DryRunRecord], None] | None = None,
    retrier: Retrier | None = None,
) -> dict[Channel, ChannelDriver]:
    """One driver per channel. DRY_RUN needs ``sink``; LIVE needs ``client_factory(service_name)``."""
    if send_mode == "DRY_RUN":
        if sink is None:
            raise ValueError("DRY_RUN needs a sink for the recorded requests")
        models = ServiceModels()
        return {
            "whatsapp": DryRunRecorder(builders.whatsapp, sink, models=models),
            "sms": DryRunRecorder(builders.sms, sink, models=models),
            "email": DryRunRecorder(builders.email, sink, models=models),
        }
    if send_mode != "LIVE":
        raise ValueError(f"unknown send mode {send_mode!r}")
    if client_factory is None:
        raise ValueError("LIVE needs a client_factory")
    return {
        "whatsapp": WhatsAppDriver(
            builders.whatsapp, client_factory("socialmessaging"), client_factory("s3"), retrier=retrier
        ),
        "sms": SmsDriver(builders.sms, client_factory("pinpoint-sms-voice-v2"), retrier=retrier),
        "email": EmailDriver(builders.email, client_factory("sesv2"), retrier=retrier),
    }
