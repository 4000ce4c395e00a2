"""Helpers shared by the queue tests (a module name unique across the test tree)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.queue.port import Queues


@dataclass
class Broker:
    kind: str
    queues: Queues
    advance: Callable[[float], None]  # let this much time pass for the adapter


class SerializedClient:
    """A boto3 client whose calls run one at a time.

    SQS hands a message to one receiver atomically on the server; moto's in-process backend does
    not lock. Serialising calls gives the mock the server's atomicity, so the concurrency tests
    exercise the adapter, not moto's thread safety.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call
