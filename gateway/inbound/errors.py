"""The inbound subsystem's narrow error family; the edges map these to HTTP or DLQ outcomes."""

from __future__ import annotations


class InboundError(Exception):
    """Base of every inbound failure."""


class PayloadError(InboundError):
    """The event is not a payload we can read (bad JSON, missing or malformed fields).

    Retrying cannot fix it; the event goes to ``inbound-dlq`` with this message so a person can.
    """


class SignatureInvalid(InboundError):
    """A webhook's signature (SNS or Meta) did not verify; nothing from it may be stored."""


class MediaError(InboundError):
    """Downloading an inbound media file failed (the event is retried through the DLQ)."""
