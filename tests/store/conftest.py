"""Fixtures for the Table contract: one ``store`` fixture per adapter (memory, SQLite, DynamoDB on moto)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from store_helpers import Store

from gateway.clock import FakeClock
from gateway.store.dynamodb import DynamoTables, create_dynamodb_tables
from gateway.store.memory import MemoryTables
from gateway.store.port import Tables
from gateway.store.sqlite import SqliteTables


class SerializedClient:
    """A boto3 client whose calls run one at a time.

    DynamoDB evaluates a write's condition and applies the write atomically on the server; moto's
    in-process backend does not lock. Serialising calls gives the mock the server's atomicity, so
    the concurrency tests exercise how the adapter uses conditions, not moto's thread safety.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name == "get_waiter":
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def dynamodb_client() -> Any:
    return boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


ADAPTERS = ["memory", "sqlite", "dynamodb"]


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    clock = FakeClock()
    kind = request.param
    if kind == "memory":
        tables: Tables = MemoryTables(clock)
        yield Store(kind, tables, clock, lambda: tables)
    elif kind == "sqlite":
        path = tmp_path / "wecare.db"
        opened = [SqliteTables(path, clock)]

        def reopen() -> Tables:
            opened.append(SqliteTables(path, clock))
            return opened[-1]

        yield Store(kind, opened[0], clock, reopen)
        for t in opened:
            t.close()
    else:
        with mock_aws():
            client = SerializedClient(dynamodb_client())
            create_dynamodb_tables(client, "test-")
            tables = DynamoTables(client, "test-", clock)
            yield Store(kind, tables, clock, lambda: DynamoTables(client, "test-", clock))
