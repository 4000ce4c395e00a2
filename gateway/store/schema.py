"""The 11 logical tables and their key schemas, loaded from ``tables.json``.

``tables.json`` is the single definition: both store adapters read it here, and the Amplify
backend's tests read the same file, so a key or index cannot differ between runtimes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

KeyType = Literal["S", "N"]


@dataclass(frozen=True)
class KeyAttr:
    name: str
    type: KeyType


@dataclass(frozen=True)
class IndexSchema:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None


@dataclass(frozen=True)
class TableSchema:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    ttl_attribute: str | None = None
    retention_seconds: int | None = None
    indexes: dict[str, IndexSchema] = field(default_factory=dict)

    @property
    def key_names(self) -> tuple[str, ...]:
        if self.sort_key is None:
            return (self.partition_key.name,)
        return (self.partition_key.name, self.sort_key.name)

    def index(self, name: str) -> IndexSchema:
        try:
            return self.indexes[name]
        except KeyError:
            known = sorted(self.indexes)
            raise KeyError(f"table {self.name} has no index {name!r}; it has {known}") from None


def _key(raw: dict[str, str]) -> KeyAttr:
    kind = raw["type"]
    if kind not in ("S", "N"):
        raise ValueError(f"key type must be S or N, got {kind!r}")
    return KeyAttr(raw["name"], kind)  # type: ignore[arg-type]


def parse_schemas(document: dict[str, object]) -> dict[str, TableSchema]:
    tables = document["tables"]
    assert isinstance(tables, dict)
    out: dict[str, TableSchema] = {}
    for name, raw in tables.items():
        indexes = {
            idx_name: IndexSchema(
                idx_name,
                _key(idx["partitionKey"]),
                _key(idx["sortKey"]) if "sortKey" in idx else None,
            )
            for idx_name, idx in raw.get("indexes", {}).items()
        }
        out[name] = TableSchema(
            name=name,
            partition_key=_key(raw["partitionKey"]),
            sort_key=_key(raw["sortKey"]) if "sortKey" in raw else None,
            ttl_attribute=raw.get("ttlAttribute"),
            retention_seconds=raw.get("retentionSeconds"),
            indexes=indexes,
        )
    return out


@cache
def table_schemas() -> dict[str, TableSchema]:
    text = resources.files("gateway.store").joinpath("tables.json").read_text(encoding="utf-8")
    return parse_schemas(json.loads(text))


TABLE_NAMES: tuple[str, ...] = (
    "Contacts",
    "Messages",
    "BulkJobs",
    "BulkRecipients",
    "Users",
    "MediaFiles",
    "DLQMessages",
    "AuditLogs",
    "AIInteractions",
    "RateLimitTrackers",
    "SystemConfig",
)
