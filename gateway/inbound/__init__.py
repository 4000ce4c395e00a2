"""Inbound WhatsApp: events from SNS (Lambda or HTTPS) and Meta's webhook, through one pipeline.

The gateway calls :func:`apply_pending_statuses` right after it records an outbound message's
``whatsappMessageId`` (and status, in the same write), so a delivery status that arrived first is
applied, never dropped.
"""

from __future__ import annotations

from gateway.inbound.errors import InboundError, MediaError, PayloadError, SignatureInvalid
from gateway.inbound.keywords import KeywordConfig
from gateway.inbound.media import MediaDownloader
from gateway.inbound.meta_signature import MetaWebhookVerifier
from gateway.inbound.service import InboundService, IngestResult, inbound_message_id
from gateway.inbound.sns_signature import SnsSignatureVerifier, urllib_fetch
from gateway.inbound.statuses import StatusTracker, apply_pending_statuses

__all__ = [
    "InboundError",
    "InboundService",
    "IngestResult",
    "KeywordConfig",
    "MediaDownloader",
    "MediaError",
    "MetaWebhookVerifier",
    "PayloadError",
    "SignatureInvalid",
    "SnsSignatureVerifier",
    "StatusTracker",
    "apply_pending_statuses",
    "inbound_message_id",
    "urllib_fetch",
]
