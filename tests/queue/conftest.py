"""Fixtures for the Queue contract: one ``broker`` per adapter (memory, local SQLite, SQS on moto)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from queue_helpers import Broker, SerializedClient

from gateway.clock import FakeClock
from gateway.queue.local import LocalQueues
from gateway.queue.memory import MemoryQueues
from gateway.queue.sqs import SqsQueues, create_sqs_queues


@pytest.fixture(params=["memory", "local", "sqs"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    kind = request.param
    if kind == "memory":
        clock = FakeClock()
        yield Broker(kind, MemoryQueues(clock), clock.advance)
    elif kind == "local":
        clock = FakeClock()
        queues = LocalQueues(tmp_path / "queues.db", clock)
        yield Broker(kind, queues, clock.advance)
        queues.close()
    else:
        with mock_aws():
            client = boto3.client(
                "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
            )
            serialized = SerializedClient(client)
            yield Broker(kind, SqsQueues(serialized, create_sqs_queues(serialized, "test-")), time.sleep)
