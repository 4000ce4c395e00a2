"""In-memory ``Table`` fake for unit tests; it passes the same contract suite as the real adapters."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from gateway.clock import Clock, SystemClock
from gateway.store import keys
from gateway.store.conditions import Condition, SortKey, evaluate, sort_key_matches
from gateway.store.cursor import CursorCodec, stored_key
from gateway.store.port import ConditionFailed, Item, Key, Page, Update, Write
from gateway.store.schema import TableSchema, table_schemas
from gateway.store.updates import apply_update


def _sortable(value: Any) -> tuple[int, Any]:
    # DynamoDB orders numbers numerically and strings by code point; never mix types in one key.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


class MemoryTable:
    def __init__(
        self, schema: TableSchema, clock: Clock, lock: threading.RLock, cursors: CursorCodec
    ) -> None:
        self.schema = schema
        self.cursors = cursors
        self._clock = clock
        self._lock = lock
        self._items: dict[tuple[Any, ...], Item] = {}

    @property
    def name(self) -> str:
        return self.schema.name

    def _key_of(self, item: Key) -> tuple[Any, ...]:
        # Same checks as the real adapters (DynamoDB rejects missing, mistyped or empty keys).
        return keys.primary_key(self.schema, item)

    def _live(self, item: Item | None) -> Item | None:
        ttl = self.schema.ttl_attribute
        if item is None or ttl is None:
            return item
        expires = item.get(ttl)
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            return item
        return None if expires <= self._clock.now() else item

    def get(self, key: Key) -> Item | None:
        with self._lock:
            found = self._live(self._items.get(self._key_of(key)))
            return copy.deepcopy(found)

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        keys.check_item(self.schema, item)
        with self._lock:
            k = self._key_of(item)
            current = self._live(self._items.get(k))
            if condition is not None and not evaluate(condition, current):
                raise ConditionFailed(f"{self.name}: condition failed for {k}")
            self._items[k] = copy.deepcopy(item)

    def update(self, key: Key, update: Update, *, condition: Condition | None = None) -> Item:
        with self._lock:
            new = self.updated(key, update, condition)
            self._items[self._key_of(key)] = new
            return copy.deepcopy(new)

    def updated(self, key: Key, update: Update, condition: Condition | None) -> Item:
        """The item ``update`` would make, checked, not stored (the caller holds the lock)."""
        keys.check_update(self.schema, update)
        k = self._key_of(key)
        current = self._live(self._items.get(k))
        if condition is not None and not evaluate(condition, current):
            raise ConditionFailed(f"{self.name}: condition failed for {k}")
        new = apply_update(current, {n: key[n] for n in self.schema.key_names}, update)
        keys.check_item(self.schema, new)
        return new

    def store(self, key: Key, item: Item | None) -> None:
        """Keep ``item`` (from :meth:`updated`), or forget the key (None); the caller holds the lock."""
        if item is None:
            self._items.pop(self._key_of(key), None)
        else:
            self._items[self._key_of(key)] = item

    def stored(self, key: Key) -> Item | None:
        return self._items.get(self._key_of(key))

    def delete(self, key: Key, *, condition: Condition | None = None) -> None:
        with self._lock:
            k = self._key_of(key)
            current = self._live(self._items.get(k))
            if condition is not None and not evaluate(condition, current):
                raise ConditionFailed(f"{self.name}: condition failed for {k}")
            self._items.pop(k, None)

    def _page(
        self,
        rows: list[Item],
        order: Callable[[Item], Any],
        scope: str,
        *,
        limit: int,
        cursor: str | None,
        descending: bool,
    ) -> Page:
        rows.sort(key=order, reverse=descending)
        start = 0
        if cursor is not None:
            last = self.cursors.decode(cursor, scope)
            marker = order(last)

            def after(row: Item) -> bool:
                key = order(row)
                return bool(key < marker) if descending else bool(key > marker)

            start = next((i for i, row in enumerate(rows) if after(row)), len(rows))
        chunk = rows[start : start + limit]
        more = start + limit < len(rows)
        next_cursor = None
        if more and chunk:
            next_cursor = self.cursors.encode(self._cursor_key(chunk[-1]), scope)
        return Page([copy.deepcopy(r) for r in chunk], next_cursor)

    def _cursor_key(self, item: Item) -> Item:
        names = set(self.schema.key_names)
        for idx in self.schema.indexes.values():
            names.add(idx.partition_key.name)
            if idx.sort_key is not None:
                names.add(idx.sort_key.name)
        return {n: item[n] for n in names if n in item}

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
        pk_attr, sk = keys.check_query(self.schema, index, partition, sort, limit)
        pk = pk_attr.name
        primary = self.schema.key_names
        with self._lock:
            rows = []
            for item in self._items.values():
                if self._live(item) is None or item.get(pk) != partition:
                    continue
                if sk is not None and sk.name not in item:
                    continue  # sparse index: items without the index's sort key are not in it
                if sort is not None and (sk is None or not sort_key_matches(item[sk.name], sort)):
                    continue
                if filter is not None and not evaluate(filter, item):
                    continue
                rows.append(item)

            def order(row: Item) -> Any:
                head = (_sortable(row.get(sk.name)),) if sk is not None else ()
                return (*head, *(_sortable(row.get(n)) for n in primary))

            scope = f"q:{self.name}:{index}:{partition}"
            return self._page(rows, order, scope, limit=limit, cursor=cursor, descending=descending)

    def scan(self, *, filter: Condition | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        keys.check_limit(self.name, limit)
        primary = self.schema.key_names
        with self._lock:
            rows = [
                item
                for item in self._items.values()
                if self._live(item) is not None and (filter is None or evaluate(filter, item))
            ]

            def order(row: Item) -> Any:
                return tuple(_sortable(row.get(n)) for n in primary)

            return self._page(rows, order, f"s:{self.name}", limit=limit, cursor=cursor, descending=False)


class MemoryTables:
    def __init__(self, clock: Clock | None = None, *, cursor_key: bytes | None = None) -> None:
        lock = threading.RLock()
        self._lock = lock
        clk = clock or SystemClock()
        self.cursors = CursorCodec(cursor_key or (lambda: stored_key(self["SystemConfig"])))
        self._tables = {name: MemoryTable(s, clk, lock, self.cursors) for name, s in table_schemas().items()}

    def __getitem__(self, name: str) -> MemoryTable:
        return self._tables[name]

    def transact(self, writes: Sequence[Write]) -> None:
        """Every write under the one lock all tables share, or none: a later write of the same item
        sees the earlier one, and a failed condition puts back what was there."""
        with self._lock:
            before: list[tuple[MemoryTable, Key, Item | None]] = []
            try:
                for write in writes:
                    table = self._tables[write.table]
                    new = table.updated(write.key, write.update, write.condition)
                    before.append((table, write.key, table.stored(write.key)))
                    table.store(write.key, new)
            except BaseException:
                for table, key, item in reversed(before):
                    table.store(key, item)
                raise

    def close(self) -> None:
        return None
