"""The embedded ``Table`` adapter: the 11 logical tables in one SQLite file (``<data-dir>/wecare.db``).

Layout: one SQL table per logical table, named like its DynamoDB counterpart. Each row keeps the
whole item as JSON (``_item``) plus one column per key attribute of the table and of its indexes,
and ``_expires`` (the TTL attribute when it is a number). Every secondary index is a *partial* SQL
index over its key columns (``WHERE pk IS NOT NULL AND sk IS NOT NULL``), which is exactly
DynamoDB's sparse index: an item lacking an index key attribute is not in the index. Queries by
partition key and by index are index range scans, never table scans.

Conditions are evaluated in Python (:func:`gateway.store.conditions.evaluate`) inside
``BEGIN IMMEDIATE``, so a conditional write is atomic across threads and processes. See
:mod:`gateway.store.sqlitedb` for durability (WAL + ``synchronous=NORMAL``) and connections.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from gateway.clock import Clock
from gateway.store import itemjson, keys
from gateway.store.conditions import Attr, Condition, SortKey, evaluate
from gateway.store.cursor import CursorCodec, stored_key
from gateway.store.port import (
    ConditionFailed,
    InvalidCursor,
    Item,
    Key,
    Page,
    StoreUnavailable,
    Update,
    Write,
)
from gateway.store.schema import KeyAttr, TableSchema, table_schemas
from gateway.store.sqlitedb import DEFAULT_BUSY_TIMEOUT, SqliteDatabase
from gateway.store.updates import apply_update

DEFAULT_FILE_NAME = "wecare.db"
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's limit, enforced here too so nothing works only locally

_dumps = itemjson.dumps
_loads = itemjson.loads
_SCAN_BATCH = 64


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class _Layout:
    """The SQL shape of one logical table: its columns, DDL and the statements reused on every call."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.table = _q(schema.name)
        names: list[str] = list(schema.key_names)
        self.index_columns: dict[str, tuple[str, ...]] = {}
        for idx in schema.indexes.values():
            cols = (idx.partition_key.name,) + ((idx.sort_key.name,) if idx.sort_key else ())
            self.index_columns[idx.name] = cols
            names.extend(c for c in cols if c not in names)
        for reserved in ("_item", "_expires"):
            if reserved in names:
                raise ValueError(f"{schema.name}: key attribute name {reserved!r} is reserved by this store")
        self.columns: tuple[str, ...] = tuple(names)
        self.key_columns = schema.key_names
        all_cols = [*names, "_expires", "_item"]
        col_list = ", ".join(_q(c) for c in all_cols)
        marks = ", ".join("?" for _ in all_cols)
        conflict = ", ".join(_q(c) for c in self.key_columns)
        updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in all_cols if c not in self.key_columns)
        key_where = " AND ".join(f"{_q(c)} = ?" for c in self.key_columns)
        self.upsert = (
            f"INSERT INTO {self.table} ({col_list}) VALUES ({marks}) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        # A must-not-exist put in one statement: the existing row is replaced only when it has expired.
        self.insert_if_absent = (
            f"{self.upsert} WHERE {self.table}._expires IS NOT NULL AND {self.table}._expires <= ?"
        )
        self.select_live = (
            f"SELECT _item FROM {self.table} WHERE {key_where} AND (_expires IS NULL OR _expires > ?)"
        )
        self.select_for_write = f"SELECT _item, _expires FROM {self.table} WHERE {key_where}"
        self.delete = f"DELETE FROM {self.table} WHERE {key_where}"
        key_cols = ", ".join(_q(c) for c in self.key_columns)
        # No index on _expires: it would cost every write a page, and purging is rare and bounded.
        self.purge = (
            f"DELETE FROM {self.table} WHERE ({key_cols}) IN (SELECT {key_cols} FROM {self.table} "
            "WHERE _expires IS NOT NULL AND _expires <= ? LIMIT ?)"
        )

    def ddl(self) -> list[str]:
        cols = [f"{_q(c)}{' NOT NULL' if c in self.key_columns else ''}" for c in self.columns]
        pk = ", ".join(_q(c) for c in self.key_columns)
        # WITHOUT ROWID: the item lives in the primary-key b-tree, so a write touches one page fewer
        # and a get is one b-tree search.
        out = [
            f"CREATE TABLE IF NOT EXISTS {self.table} ({', '.join(cols)}, _expires, _item TEXT NOT NULL, "
            f"PRIMARY KEY ({pk})) WITHOUT ROWID"
        ]
        for name, cols_ in self.index_columns.items():
            out.append(self.index_ddl(name, cols_))
        return out

    def index_ddl(self, name: str, cols: tuple[str, ...]) -> str:
        order = [*cols, *(c for c in self.key_columns if c not in cols)]
        where = " AND ".join(f"{_q(c)} IS NOT NULL" for c in cols)
        return (
            f"CREATE INDEX IF NOT EXISTS {_q(self.schema.name + '.' + name)} ON {self.table} "
            f"({', '.join(_q(c) for c in order)}) WHERE {where}"
        )

    def row(self, item: Item) -> list[Any]:
        """Column values for ``item`` (already validated), in ``upsert`` order."""
        values: list[Any] = [item.get(c) for c in self.columns]
        ttl = self.schema.ttl_attribute
        expires = item.get(ttl) if ttl is not None else None
        numeric = isinstance(expires, int | float) and not isinstance(expires, bool)
        values.append(float(expires) if numeric else None)  # type: ignore[arg-type]
        try:
            doc = _dumps(item)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.schema.name}: the item is not storable as JSON: {exc}") from None
        if len(doc) > MAX_ITEM_BYTES // 4 and len(doc.encode("utf-8")) > MAX_ITEM_BYTES:
            raise ValueError(f"{self.schema.name}: the item is larger than DynamoDB's 400 KB item limit")
        values.append(doc)
        return values


def _migrations(conn: sqlite3.Connection, layout: _Layout) -> list[str]:
    """Columns an older file lacks (an index added to tables.json later), added and backfilled."""
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({layout.table})")}
    if not have:
        return []
    out = []
    for column in layout.columns:
        if column in have:
            continue
        attr = _attr_type(layout.schema, column)
        kind = "text" if attr == "S" else "integer', 'real"
        out.append(f"ALTER TABLE {layout.table} ADD COLUMN {_q(column)}")
        path = "$." + json.dumps(column)
        out.append(
            f"UPDATE {layout.table} SET {_q(column)} = json_extract(_item, '{path}') "
            f"WHERE json_type(_item, '{path}') IN ('{kind}')"
        )
    return out


def _attr_type(schema: TableSchema, name: str) -> str:
    for idx in schema.indexes.values():
        for attr in (idx.partition_key, idx.sort_key):
            if attr is not None and attr.name == name:
                return attr.type
    return "S"


class SqliteTable:
    """One logical table in the shared SQLite file."""

    def __init__(self, schema: TableSchema, db: SqliteDatabase, clock: Clock, cursors: CursorCodec) -> None:
        self.schema = schema
        self.cursors = cursors
        self._db = db
        self._clock = clock
        self._layout = _Layout(schema)
        self._not_exists_fast = frozenset(schema.key_names)
        # Text columns a put's condition can be checked on in SQL, without reading the item.
        self._text_columns = frozenset(c for c in self._layout.columns if _attr_type(schema, c) == "S")
        self._query_sql = lru_cache(maxsize=256)(self._build_query_sql)
        self._guarded_put_sql = lru_cache(maxsize=32)(self._build_guarded_put_sql)

    @property
    def name(self) -> str:
        return self.schema.name

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._db.error(exc) from None

    # -- single items -------------------------------------------------------------------------------

    def get(self, key: Key) -> Item | None:
        kv = keys.primary_key(self.schema, key)
        with self._errors():
            row = self._db.connection().execute(self._layout.select_live, (*kv, self._clock.now())).fetchone()
        if row is None:
            return None
        item: Item = _loads(row[0])
        return item

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        keys.check_item(self.schema, item)
        layout = self._layout
        values = layout.row(item)
        with self._errors():
            if condition is None:
                self._db.connection().execute(layout.upsert, values)
                return
            if (
                isinstance(condition, Attr)
                and condition.op == "not_exists"
                and condition.name in self._not_exists_fast
            ):
                cur = self._db.connection().execute(layout.insert_if_absent, (*values, self._clock.now()))
                if cur.rowcount == 0:
                    raise ConditionFailed(f"{self.name}: an item with this key already exists")
                return
            kv = keys.primary_key(self.schema, item)
            guard = self._column_guard(condition)
            if guard is not None:
                # One UPDATE: the live row is replaced only if its column satisfies the condition.
                column, wanted = guard
                n_keys = len(layout.key_columns)
                sql = self._guarded_put_sql(column, len(wanted))
                params = (*values[n_keys:], *kv, self._clock.now(), *wanted)
                if self._db.connection().execute(sql, params).rowcount == 0:
                    raise ConditionFailed(f"{self.name}: condition failed for {kv}")
                return
            with self._db.transaction() as conn:
                current = self._current(conn, kv)
                if not evaluate(condition, current):
                    raise ConditionFailed(f"{self.name}: condition failed for {kv}")
                conn.execute(layout.upsert, values)

    def _column_guard(self, condition: Condition) -> tuple[str, tuple[str, ...]] | None:
        """(column, accepted texts) when ``condition`` is ``eq``/``in`` of strings on a text column.

        Such a column holds exactly the item's attribute (or NULL when it has none), and SQL text
        equality is Python's, so the check needs no decoding of the stored item.
        """
        if not isinstance(condition, Attr) or condition.name not in self._text_columns:
            return None
        if condition.op == "eq":
            wanted: tuple[Any, ...] = (condition.value,)
        elif condition.op == "in" and isinstance(condition.value, list | tuple) and condition.value:
            wanted = tuple(condition.value)
        else:
            return None
        if not all(isinstance(v, str) for v in wanted):
            return None
        return condition.name, wanted

    def _build_guarded_put_sql(self, column: str, n_values: int) -> str:
        layout = self._layout
        assigned = [c for c in layout.columns if c not in layout.key_columns] + ["_expires", "_item"]
        key_where = " AND ".join(f"{_q(c)} = ?" for c in layout.key_columns)
        accepted = ", ".join("?" for _ in range(n_values))
        return (
            f"UPDATE {layout.table} SET {', '.join(f'{_q(c)} = ?' for c in assigned)} "
            f"WHERE {key_where} AND (_expires IS NULL OR _expires > ?) AND {_q(column)} IN ({accepted})"
        )

    def put_many(self, items: Sequence[Item]) -> None:
        """Write many items unconditionally in one transaction (all or nothing): bulk loads, imports."""
        rows = []
        for item in items:
            keys.check_item(self.schema, item)
            rows.append(self._layout.row(item))
        with self._errors(), self._db.transaction() as conn:
            conn.executemany(self._layout.upsert, rows)

    def _current(self, conn: sqlite3.Connection, kv: tuple[Any, ...]) -> Item | None:
        row = conn.execute(self._layout.select_for_write, kv).fetchone()
        if row is None or (row[1] is not None and row[1] <= self._clock.now()):
            return None
        item: Item = _loads(row[0])
        return item

    def update(self, key: Key, update: Update, *, condition: Condition | None = None) -> Item:
        with self._errors(), self._db.transaction() as conn:
            return self.update_in(conn, key, update, condition)

    def update_in(
        self, conn: sqlite3.Connection, key: Key, update: Update, condition: Condition | None
    ) -> Item:
        """:meth:`update` inside the caller's transaction (see :meth:`SqliteTables.transact`)."""
        kv = keys.primary_key(self.schema, key)
        keys.check_update(self.schema, update)
        key_item = dict(zip(self.schema.key_names, kv, strict=True))
        current = self._current(conn, kv)
        if condition is not None and not evaluate(condition, current):
            raise ConditionFailed(f"{self.name}: condition failed for {kv}")
        new = apply_update(current, key_item, update)
        keys.check_item(self.schema, new)
        conn.execute(self._layout.upsert, self._layout.row(new))
        return new

    def delete(self, key: Key, *, condition: Condition | None = None) -> None:
        kv = keys.primary_key(self.schema, key)
        with self._errors():
            if condition is None:
                self._db.connection().execute(self._layout.delete, kv)
                return
            with self._db.transaction() as conn:
                current = self._current(conn, kv)
                if not evaluate(condition, current):
                    raise ConditionFailed(f"{self.name}: condition failed for {kv}")
                conn.execute(self._layout.delete, kv)

    def purge_expired(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` items whose TTL has passed (reads already hide them); returns how many."""
        if self.schema.ttl_attribute is None:
            return 0
        with self._errors():
            cur = self._db.connection().execute(self._layout.purge, (self._clock.now(), limit))
        return cur.rowcount

    # -- queries ------------------------------------------------------------------------------------

    def _order(self, index: str | None) -> tuple[str, ...]:
        """Columns that totally order the results of a query on the table or ``index`` (scan: None)."""
        s = self.schema
        if index is None:
            return (s.sort_key.name,) if s.sort_key is not None else s.key_names
        _, sk = keys.query_keys(s, index)
        head = (sk.name,) if sk is not None else ()
        return head + tuple(n for n in s.key_names if n not in head)

    def _build_query_sql(
        self,
        index: str | None,
        sort_op: str | None,
        *,
        has_upper: bool,
        descending: bool,
        after: bool,
        limited: bool,
    ) -> str:
        layout = self._layout
        pk, sk = keys.query_keys(self.schema, index)
        where = [f"{_q(pk.name)} = ?"]
        if index is not None:
            where += [f"{_q(c)} IS NOT NULL" for c in layout.index_columns[index]]
        if sk is not None and sort_op is not None:
            col = _q(sk.name)
            if sort_op == "between":
                where.append(f"{col} BETWEEN ? AND ?")
            elif sort_op == "begins_with":
                where.append(f"{col} >= ?")
                if has_upper:
                    where.append(f"{col} < ?")
            else:
                op = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[sort_op]
                where.append(f"{col} {op} ?")
        return self._select(
            where, self._order(index), descending=descending, after=after, limited=limited, index=index
        )

    def _select(
        self,
        where: list[str],
        order: tuple[str, ...],
        *,
        descending: bool,
        after: bool,
        limited: bool,
        index: str | None = None,
    ) -> str:
        where = [*where, "(_expires IS NULL OR _expires > ?)"]
        cols = ", ".join(_q(c) for c in order)
        if after:
            marks = ", ".join("?" for _ in order)
            where.append(f"({cols}) {'<' if descending else '>'} ({marks})")
        direction = " DESC" if descending else ""
        order_by = ", ".join(_q(c) + direction for c in order)
        hint = f" INDEXED BY {_q(self.schema.name + '.' + index)}" if index is not None else ""
        sql = f"SELECT _item FROM {self._layout.table}{hint} WHERE {' AND '.join(where)} ORDER BY {order_by}"
        return sql + (" LIMIT ?" if limited else "")

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
        keys.check_query(self.schema, index, partition, sort, limit)
        order = self._order(index)
        scope = f"q:{self.name}:{index or ''}:{'d' if descending else 'a'}:{json.dumps(partition)}"
        params: list[Any] = [partition]
        upper: str | None = None
        if sort is not None:
            if sort.op == "between":
                params.extend(sort.value)
            elif sort.op == "begins_with":
                upper = keys.prefix_upper_bound(sort.value)
                params.append(sort.value)
                if upper is not None:
                    params.append(upper)
            else:
                params.append(sort.value)
        params.append(self._clock.now())
        if cursor is not None:
            params.extend(self._decode_cursor(cursor, scope, order))
        sql = self._query_sql(
            index,
            sort.op if sort else None,
            has_upper=upper is not None,
            descending=descending,
            after=cursor is not None,
            limited=filter is None,
        )
        return self._run(sql, params, order=order, scope=scope, limit=limit, filter=filter)

    def scan(self, *, filter: Condition | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        keys.check_limit(self.name, limit)
        order = self.schema.key_names
        scope = f"s:{self.name}"
        params: list[Any] = [self._clock.now()]
        if cursor is not None:
            params.extend(self._decode_cursor(cursor, scope, order))
        sql = self._select([], order, descending=False, after=cursor is not None, limited=filter is None)
        return self._run(sql, params, order=order, scope=scope, limit=limit, filter=filter)

    def _decode_cursor(self, cursor: str, scope: str, order: tuple[str, ...]) -> list[Any]:
        last = self.cursors.decode(cursor, scope)
        out = []
        for name in order:
            value = last.get(name)
            attr = self._attr(name)
            try:
                keys.check_key_value(self.name, attr, value, "cursor")
            except ValueError:
                raise InvalidCursor("the cursor is not one this API issued") from None
            out.append(value)
        return out

    def _attr(self, name: str) -> KeyAttr:
        s = self.schema
        for attr in (
            s.partition_key,
            s.sort_key,
            *(a for idx in s.indexes.values() for a in (idx.partition_key, idx.sort_key)),
        ):
            if attr is not None and attr.name == name:
                return attr
        raise KeyError(name)

    def _run(
        self,
        sql: str,
        params: list[Any],
        *,
        order: tuple[str, ...],
        scope: str,
        limit: int,
        filter: Condition | None,
    ) -> Page:
        with self._errors():
            conn = self._db.connection()
            if filter is None:
                rows = conn.execute(sql, (*params, limit + 1)).fetchall()
                items: list[Item] = [_loads(r[0]) for r in rows]
            else:
                items = self._filtered(conn.execute(sql, params), filter, limit + 1)
        next_cursor = None
        if len(items) > limit:
            del items[limit:]
            last = items[-1]
            next_cursor = self.cursors.encode({n: last[n] for n in order}, scope)
        return Page(items, next_cursor)

    @staticmethod
    def _filtered(cur: sqlite3.Cursor, filter: Condition, wanted: int) -> list[Item]:
        out: list[Item] = []
        try:
            while len(out) < wanted:
                batch = cur.fetchmany(_SCAN_BATCH)
                if not batch:
                    break
                for (doc,) in batch:
                    item = _loads(doc)
                    if evaluate(filter, item):
                        out.append(item)
                        if len(out) >= wanted:
                            break
        finally:
            cur.close()
        return out

    def explain(self, index: str | None = None, *, paged: bool = False, get: bool = False) -> list[str]:
        """SQLite's plan for a partition-key query, a page after a cursor, or a get (tests pin them)."""
        sql = (
            self._layout.select_live
            if get
            else self._query_sql(index, None, has_upper=False, descending=False, after=paged, limited=True)
        )
        n = sql.count("?")
        with self._errors():
            rows = self._db.connection().execute("EXPLAIN QUERY PLAN " + sql, [None] * n).fetchall()
        return [str(r[-1]) for r in rows]


class SqliteTables:
    """The 11 tables in one SQLite file; ``path`` is the file (an existing directory means its wecare.db).

    Opening creates the file, its directory and any missing table or index, and runs SQLite's
    ``quick_check`` (pass ``integrity_check=False`` to skip it on very large files). Faults — a
    corrupt or foreign file, an unwritable directory, a lock held past ``busy_timeout`` seconds —
    raise :class:`StoreUnavailable` naming the file and what to do.
    """

    def __init__(
        self,
        path: Path,
        clock: Clock,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        integrity_check: bool = True,
        cursor_key: bytes | None = None,
    ) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / DEFAULT_FILE_NAME
        schemas = table_schemas()
        layouts = [_Layout(s) for s in schemas.values()]
        self.path = path
        self._db = SqliteDatabase(
            path,
            unavailable=StoreUnavailable,
            busy_timeout=busy_timeout,
            integrity_check=integrity_check,
        )
        try:
            with self._db.transaction() as conn:
                for layout in layouts:
                    for statement in _migrations(conn, layout) + layout.ddl():
                        conn.execute(statement)
        except sqlite3.Error as exc:
            self._db.close()
            raise self._db.error(exc) from None
        # Signed with the key kept in this file's SystemConfig (so every process over it agrees).
        self.cursors = CursorCodec(cursor_key or (lambda: stored_key(self["SystemConfig"])))
        self._tables = {
            name: SqliteTable(schema, self._db, clock, self.cursors) for name, schema in schemas.items()
        }

    def __getitem__(self, name: str) -> SqliteTable:
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r}; the tables are {sorted(self._tables)}") from None

    def purge_expired(self, limit_per_table: int = 1000) -> int:
        """Delete items whose TTL has passed, up to ``limit_per_table`` per table; returns the count."""
        return sum(t.purge_expired(limit_per_table) for t in self._tables.values())

    def transact(self, writes: Sequence[Write]) -> None:
        """Every write in one SQLite transaction: all are committed, or (a condition fails) none."""
        try:
            with self._db.transaction() as conn:
                for write in writes:
                    self[write.table].update_in(conn, write.key, write.update, write.condition)
        except sqlite3.Error as exc:
            raise self._db.error(exc) from None

    def close(self) -> None:
        self._db.close()


def statements(schema: TableSchema) -> Sequence[str]:
    """The DDL the store runs for one table (documentation and tests)."""
    return _Layout(schema).ddl()
