"""Retries for channel API calls: exponential backoff with full jitter, at most 3 retries.

Only errors marked ``retryable`` (throttling, 5xx, connect failures — see :mod:`channels.errors`) are
retried; a validation error or an unknown outcome is raised at once. The wait before retry *n*
(n = 1, 2, 3) is ``uniform(0, min(cap, base * 2**(n-1)))`` — "full jitter", which spreads a burst of
throttled senders out instead of having them retry in lock-step.

Drivers retry each AWS call separately, so a throttled SendWhatsAppMessage does not re-upload media
that was already accepted.

**Do not stack botocore's own retries on top.** botocore retries throttling and 5xx by itself (3
attempts in ``standard`` mode), which would multiply with ours into up to 16 calls per message. The
composition root must build the channel clients with :func:`botocore_config`, which allows exactly one
HTTP attempt per call. Beware botocore's naming: in ``Config(retries=...)`` the key ``max_attempts``
counts *retries* (``max_attempts=1`` means two attempts); ``total_max_attempts`` counts the first try,
so ``total_max_attempts=1`` is the one that means "never retry".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.config import Config

from channels.errors import ChannelError

T = TypeVar("T")

MAX_RETRIES = 3


def botocore_config(**overrides: Any) -> Config:
    """Client config for the channel clients: one HTTP attempt per call, bounded timeouts.

    Use as ``boto3.client("socialmessaging", config=botocore_config())`` (also for
    ``pinpoint-sms-voice-v2``, ``sesv2`` and the S3 client used for outbound media).
    """
    settings: dict[str, Any] = {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 30,
        "user_agent_extra": "wecare-gateway",
    }
    settings.update(overrides)
    return Config(**settings)


def _fresh_random() -> Callable[[], float]:
    return random.Random().random


@dataclass
class Retrier:
    """Calls a function, retrying retryable ChannelErrors with full-jitter exponential backoff.

    ``sleep`` and ``rand`` (a uniform [0, 1) source) are injectable so tests never wait.
    ``on_retry(error, attempt, delay)`` is called before each wait, e.g. to log or count retries.
    """

    max_retries: int = MAX_RETRIES
    base_delay: float = 0.25
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = field(default_factory=_fresh_random)
    on_retry: Callable[[ChannelError, int, float], None] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= MAX_RETRIES:
            raise ValueError(f"max_retries must be between 0 and {MAX_RETRIES}")

    def delay(self, retry: int) -> float:
        """Wait before retry number ``retry`` (1-based): uniform in [0, min(cap, base * 2**(retry-1))]."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** (retry - 1)))
        return self.rand() * ceiling

    def __call__(self, fn: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return fn()
            except ChannelError as exc:
                exc.attempts = attempt
                if not exc.retryable or attempt > self.max_retries:
                    raise
                wait = self.delay(attempt)
                if self.on_retry is not None:
                    self.on_retry(exc, attempt, wait)
                self.sleep(wait)
                attempt += 1


def no_retry() -> Retrier:
    """A retrier that makes exactly one attempt (for previews and tests)."""
    return Retrier(max_retries=0, sleep=lambda _s: None, rand=lambda: 0.0)
