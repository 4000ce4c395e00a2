"""The ``Table`` port: a deliberately small, DynamoDB-shaped key-value table.

Services are written once against this protocol; the SQLite adapter (embedded default), the
DynamoDB adapter (AWS) and the in-memory fake all pass the same contract tests.

Items are plain dicts of JSON-like values (str, int, float, bool, None, list, dict). Adapters know
each table's TTL attribute (Number, epoch seconds) and never return an item whose TTL has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gateway.store.conditions import Condition, SortKey
from gateway.store.schema import TableSchema

if TYPE_CHECKING:
    from gateway.store.cursor import CursorCodec

Item = dict[str, Any]
Key = Mapping[str, Any]


class StoreError(Exception):
    """Base of every store failure; the edges map it to an HTTP or queue outcome."""


class ConditionFailed(StoreError):
    """A conditional write's condition did not hold; nothing was written."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened (corrupt file, locked, missing table, throttled)."""


class InvalidCursor(StoreError):
    """A pagination cursor was forged, edited or belongs to another query: the caller's mistake."""

    code = "INVALID_CURSOR"


@dataclass(frozen=True)
class Page:
    items: list[Item]
    cursor: str | None = None  # opaque; None when there is nothing more


@dataclass(frozen=True)
class Update:
    """One update: ``set`` attributes, atomically ``add`` numbers, ``remove`` attributes."""

    set: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, int | float] = field(default_factory=dict)
    remove: Sequence[str] = ()


@dataclass(frozen=True)
class Write:
    """One conditional update of a transaction (:class:`Transactions`)."""

    table: str
    key: Key
    update: Update
    condition: Condition | None = None


class Transactions(Protocol):
    """Adapters that can apply several updates, across tables, all or none (SQLite: one transaction;
    DynamoDB: ``TransactWriteItems``; memory: under its lock)."""

    def transact(self, writes: Sequence[Write]) -> None:
        """Apply every write or none; ConditionFailed when any condition does not hold."""
        ...


class Table(Protocol):
    schema: TableSchema

    cursors: CursorCodec  # this deployment's cursor signer, shared by its tables

    @property
    def name(self) -> str: ...

    def get(self, key: Key) -> Item | None:
        """The item with this primary key, or None (also when its TTL has passed)."""

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        """Write the whole item; raise ConditionFailed when ``condition`` is false for the current one."""

    def update(self, key: Key, update: Update, *, condition: Condition | None = None) -> Item:
        """Apply ``update`` atomically (creating the item if absent) and return the item after it."""

    def delete(self, key: Key, *, condition: Condition | None = None) -> None:
        """Remove the item (no error if absent, unless ``condition`` fails)."""

    def query(
        self,
        partition: Any,
        *,
        index: str | None = None,
        sort: SortKey | None = None,
        filter: Condition | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        """Items with this partition-key value (in the table or the named index), sort-key ordered."""

    def scan(self, *, filter: Condition | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        """Every item, a page at a time, optionally filtered."""


class Tables(Protocol):
    """The 11 tables of one deployment, by logical name."""

    cursors: CursorCodec

    def __getitem__(self, name: str) -> Table: ...

    def close(self) -> None: ...
