"""The AWS ``Table`` adapter: the 11 DynamoDB tables (``prefix + logical name``), boto3 client injected.

Semantics match the embedded store exactly (one contract suite runs against both):

* ``limit`` counts *matching* items: a query or scan keeps reading DynamoDB pages, applying the
  ``FilterExpression``, until it has ``limit`` items or the table runs out. It reads one item past the
  limit, so a page's cursor is ``None`` exactly when nothing more matches. The cursor encodes the
  last returned item's key (DynamoDB's ``LastEvaluatedKey`` shape) and is bound to its query.
* TTL: DynamoDB deletes expired items lazily (typically within minutes, up to 48 h later), so every
  read filters them out — server-side with a filter expression and client-side once more. Writes
  treat an expired-but-not-yet-deleted item as absent: a conditional write that fails because of
  one purges it (conditionally: only while it is still expired) and tries again.
* Errors: a failed condition is :class:`ConditionFailed`; a missing table, throttling, denied access
  or no connection is :class:`StoreUnavailable` naming the table; a request DynamoDB rejects as
  invalid is ``ValueError`` (as the other adapters raise for the same input).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gateway.clock import Clock
from gateway.store import keys
from gateway.store.conditions import Condition, SortKey, evaluate
from gateway.store.cursor import CursorCodec, stored_key
from gateway.store.dynamo_expr import Expression, deserialize_item, serialize, serialize_item
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

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
_GUARD_ATTEMPTS = 3
_NO_SUCH_ATTRIBUTE = "__absent__"


class DynamoTable:
    """One logical table, stored in the DynamoDB table ``table_name``."""

    def __init__(
        self, client: Any, schema: TableSchema, table_name: str, clock: Clock, cursors: CursorCodec
    ) -> None:
        self.schema = schema
        self.cursors = cursors
        self.table_name = table_name
        self._client = client
        self._clock = clock

    @property
    def name(self) -> str:
        return self.schema.name

    # -- errors -------------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            raise self._translate(exc, operation) from None
        except BotoCoreError as exc:
            raise StoreUnavailable(
                f"DynamoDB {operation} on table {self.table_name} failed before reaching the service: {exc}; "
                "check network access, the region and credentials"
            ) from None

    def _translate(self, exc: ClientError, operation: str) -> Exception:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        region = getattr(getattr(self._client, "meta", None), "region_name", "?")
        if code == "ConditionalCheckFailedException":
            return ConditionFailed(f"{self.name}: condition failed")
        if code == "ResourceNotFoundException":
            return StoreUnavailable(
                f"DynamoDB table {self.table_name} does not exist or is not active in region {region} "
                f"({message}); deploy the backend's tables or check the table prefix"
            )
        if code in _THROTTLED:
            return StoreUnavailable(
                f"DynamoDB throttled {operation} on {self.table_name} ({message}); retry later"
            )
        if code in ("AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"):
            return StoreUnavailable(
                f"DynamoDB refused {operation} on {self.table_name}: {code}: {message}; check the "
                "credentials and the IAM role's permissions"
            )
        if code == "ValidationException":
            if "incorrect data type" in message:
                # The other adapters raise ConditionFailed for an atomic add to a non-number.
                return ConditionFailed(f"{self.name}: {message}")
            return ValueError(f"{self.name}: DynamoDB rejected the {operation} request: {message}")
        return StoreUnavailable(f"DynamoDB {operation} on {self.table_name} failed: {code}: {message}")

    # -- single items -------------------------------------------------------------------------------

    def _key(self, key: Key) -> dict[str, Any]:
        values = keys.primary_key(self.schema, key)
        return {n: serialize(v) for n, v in zip(self.schema.key_names, values, strict=True)}

    def _expired(self, item: Item) -> bool:
        return keys.expired(self.schema, item, self._clock.now())

    def get(self, key: Key) -> Item | None:
        av_key = self._key(key)
        with self._errors("GetItem"):
            resp = self._client.get_item(TableName=self.table_name, Key=av_key, ConsistentRead=True)
        raw = resp.get("Item")
        if raw is None:
            return None
        item = deserialize_item(raw)
        return None if self._expired(item) else item

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        keys.check_item(self.schema, item)
        request = {"TableName": self.table_name, "Item": serialize_item(item)}
        if condition is None:
            with self._errors("PutItem"):
                self._client.put_item(**request)
            return
        self._guarded("PutItem", self._client.put_item, request, condition=condition, av_key=self._key(item))

    def transact_entry(self, key: Key, update: Update, condition: Condition | None) -> dict[str, Any]:
        """One ``Update`` of a ``TransactWriteItems`` call (see :meth:`DynamoTables.transact`). The
        condition is sent with "the item is live or absent", as a single update sends it."""
        av_key = self._key(key)
        request, expr = self._update_request(key, update)
        parts = [expr.condition(condition)] if condition is not None else []
        if self.schema.ttl_attribute is not None:
            parts.append(expr.live(self.schema.ttl_attribute, self._clock.now()))
        entry: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": av_key,
            "UpdateExpression": request["UpdateExpression"],
        }
        if parts:
            entry["ConditionExpression"] = " AND ".join(parts)
        entry.update(expr.params())
        return {"Update": entry}

    def _update_request(self, key: Key, update: Update) -> tuple[dict[str, Any], Expression]:
        keys.check_update(self.schema, update)
        key_item = {n: key[n] for n in self.schema.key_names}
        keys.check_item(self.schema, {**key_item, **update.set})
        expr = Expression()
        clauses = []
        if update.set:
            sets = (f"{expr.name(k)} = {expr.value(v)}" for k, v in update.set.items())
            clauses.append("SET " + ", ".join(sets))
        if update.add:
            adds = (f"{expr.name(k)} {expr.value(v)}" for k, v in update.add.items())
            clauses.append("ADD " + ", ".join(adds))
        if update.remove:
            clauses.append("REMOVE " + ", ".join(expr.name(k) for k in update.remove))
        if not clauses:
            # An empty update still creates the item; say so with a no-op every DynamoDB accepts.
            clauses.append("REMOVE " + expr.name(_NO_SUCH_ATTRIBUTE))
        return {"UpdateExpression": " ".join(clauses)}, expr

    def update(self, key: Key, update: Update, *, condition: Condition | None = None) -> Item:
        av_key = self._key(key)
        key_item = {n: key[n] for n in self.schema.key_names}
        expression, expr = self._update_request(key, update)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": av_key,
            "ReturnValues": "ALL_NEW",
            **expression,
        }
        resp = self._guarded(
            "UpdateItem",
            self._client.update_item,
            request,
            condition=condition,
            av_key=av_key,
            expr=expr,
            always=True,
        )
        attributes = resp.get("Attributes")
        return deserialize_item(attributes) if attributes else dict(key_item)

    def delete(self, key: Key, *, condition: Condition | None = None) -> None:
        av_key = self._key(key)
        request = {"TableName": self.table_name, "Key": av_key}
        if condition is None:
            with self._errors("DeleteItem"):
                self._client.delete_item(**request)
            return
        self._guarded("DeleteItem", self._client.delete_item, request, condition=condition, av_key=av_key)

    def _guarded(
        self,
        operation: str,
        call: Callable[..., Any],
        request: dict[str, Any],
        *,
        condition: Condition | None,
        av_key: dict[str, Any],
        expr: Expression | None = None,
        always: bool = False,
    ) -> Any:
        """Run a conditional write as if expired items were already gone.

        The condition is sent together with "the item is live or absent". When that fails and the
        item turns out to be expired, it is deleted (only if still expired) and the write retried, so
        the outcome is the one the write would have had after DynamoDB's own TTL deletion.
        ``always``: guard even without a condition (an update must not merge into an expired item).
        """
        ttl = self.schema.ttl_attribute
        for _ in range(_GUARD_ATTEMPTS):
            e = expr.copy() if expr is not None else Expression()
            parts = []
            if condition is not None:
                parts.append(e.condition(condition))
            now = self._clock.now()
            if ttl is not None and (condition is not None or always):
                parts.append(e.live(ttl, now))
            attempt = dict(request)
            if parts:
                attempt["ConditionExpression"] = " AND ".join(parts)
            attempt.update(e.params())
            try:
                with self._errors(operation):
                    return call(**attempt)
            except ConditionFailed:
                if ttl is None or not self._purge_if_expired(av_key, ttl, now):
                    raise
        raise ConditionFailed(f"{self.name}: the item kept changing; condition not applied")

    def _purge_if_expired(self, av_key: dict[str, Any], ttl: str, now: float) -> bool:
        """Delete the item if it is expired; True when it was (so the failed write deserves a retry)."""
        e = Expression()
        request = e.params(TableName=self.table_name, Key=av_key, ConditionExpression=e.expired(ttl, now))
        try:
            with self._errors("DeleteItem"):
                self._client.delete_item(**request)
        except ConditionFailed:
            return False
        return True

    # -- queries ------------------------------------------------------------------------------------

    def _order(self, index: str | None) -> tuple[KeyAttr, ...]:
        """The key attributes DynamoDB needs in ExclusiveStartKey for the table or ``index``."""
        s = self.schema
        attrs = [s.partition_key] + ([s.sort_key] if s.sort_key else [])
        if index is not None:
            idx = s.index(index)
            for a in (idx.partition_key, idx.sort_key):
                if a is not None and all(a.name != b.name for b in attrs):
                    attrs.append(a)
        return tuple(attrs)

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
        pk, sk = keys.check_query(self.schema, index, partition, sort, limit)
        scope = f"q:{self.name}:{index or ''}:{'d' if descending else 'a'}:{json.dumps(partition)}"
        expr = Expression()
        key_condition = f"{expr.name(pk.name)} = {expr.value(partition)}"
        if sort is not None and sk is not None:
            n = expr.name(sk.name)
            if sort.op == "between":
                lo, hi = sort.value
                if lo > hi:
                    return Page([])  # DynamoDB rejects an empty range; nothing can match it
                key_condition += f" AND {n} BETWEEN {expr.value(lo)} AND {expr.value(hi)}"
            elif sort.op == "begins_with":
                key_condition += f" AND begins_with({n}, {expr.value(sort.value)})"
            else:
                op = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[sort.op]
                key_condition += f" AND {n} {op} {expr.value(sort.value)}"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": not descending,
        }
        if index is None:
            request["ConsistentRead"] = True  # GSIs only offer eventually consistent reads
        else:
            request["IndexName"] = index
        return self._pages(
            "Query",
            self._client.query,
            request,
            expr=expr,
            filter=filter,
            limit=limit,
            cursor=cursor,
            scope=scope,
            order=self._order(index),
        )

    def scan(self, *, filter: Condition | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        keys.check_limit(self.name, limit)
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        return self._pages(
            "Scan",
            self._client.scan,
            request,
            expr=Expression(),
            filter=filter,
            limit=limit,
            cursor=cursor,
            scope=f"s:{self.name}",
            order=self._order(None),
        )

    def _pages(
        self,
        operation: str,
        call: Callable[..., Any],
        request: dict[str, Any],
        *,
        expr: Expression,
        filter: Condition | None,
        limit: int,
        cursor: str | None,
        scope: str,
        order: tuple[KeyAttr, ...],
    ) -> Page:
        filters = []
        if filter is not None:
            filters.append(expr.condition(filter))
        ttl = self.schema.ttl_attribute
        if ttl is not None:
            filters.append(expr.live(ttl, self._clock.now()))
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        if filter is None:
            request["Limit"] = limit + 1  # a selective filter reads whole 1 MB pages instead
        request.update(expr.params())
        start = self._decode_cursor(cursor, scope, order) if cursor is not None else None
        items: list[Item] = []
        while len(items) <= limit:
            if start is not None:
                request["ExclusiveStartKey"] = start
            with self._errors(operation):
                resp = call(**request)
            for raw in resp.get("Items", []):
                item = deserialize_item(raw)
                if self._expired(item) or (filter is not None and not evaluate(filter, item)):
                    continue
                items.append(item)
                if len(items) > limit:
                    break
            start = resp.get("LastEvaluatedKey")
            if start is None:
                break
        next_cursor = None
        if len(items) > limit:
            del items[limit:]
            last = items[-1]
            next_cursor = self.cursors.encode({a.name: last[a.name] for a in order}, scope)
        return Page(items, next_cursor)

    def _decode_cursor(self, cursor: str, scope: str, order: tuple[KeyAttr, ...]) -> dict[str, Any]:
        last = self.cursors.decode(cursor, scope)
        out = {}
        for attr in order:
            try:
                keys.check_key_value(self.name, attr, last.get(attr.name), "cursor")
            except ValueError:
                raise InvalidCursor("the cursor is not one this API issued") from None
            out[attr.name] = serialize(last[attr.name])
        return out


class DynamoTables:
    """The 11 tables of one deployment in DynamoDB; ``client`` is a boto3 ``dynamodb`` client."""

    def __init__(self, client: Any, prefix: str, clock: Clock, *, cursor_key: bytes | None = None) -> None:
        self.prefix = prefix
        self._client = client
        # Cursors are signed with the deployment's key from SystemConfig unless one is given.
        self.cursors = CursorCodec(cursor_key or (lambda: stored_key(self["SystemConfig"])))
        self._tables = {
            name: DynamoTable(client, schema, prefix + name, clock, self.cursors)
            for name, schema in table_schemas().items()
        }

    def __getitem__(self, name: str) -> DynamoTable:
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r}; the tables are {sorted(self._tables)}") from None

    def check(self) -> None:
        """Raise StoreUnavailable naming every table that is missing or not ACTIVE (health checks)."""
        problems = []
        for table in self._tables.values():
            try:
                status = self._client.describe_table(TableName=table.table_name)["Table"]["TableStatus"]
            except ClientError as exc:
                problems.append(f"{table.table_name}: {exc.response.get('Error', {}).get('Code', exc)}")
                continue
            except BotoCoreError as exc:
                raise StoreUnavailable(f"cannot reach DynamoDB: {exc}") from None
            if status != "ACTIVE":
                problems.append(f"{table.table_name}: {status}")
        if problems:
            raise StoreUnavailable("DynamoDB tables not usable: " + "; ".join(problems))

    def transact(self, writes: Sequence[Write]) -> None:
        """Every write in one ``TransactWriteItems`` call: all applied, or none (ConditionFailed when
        a condition does not hold). Unlike a single update, an expired item is not purged and
        retried here: it fails the live-or-absent guard (the bulk tables it is used on keep no TTL)."""
        if not writes:
            return
        entries = [self[w.table].transact_entry(w.key, w.update, w.condition) for w in writes]
        try:
            self._client.transact_write_items(TransactItems=entries)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reasons = exc.response.get("CancellationReasons") or []
            if error.get("Code") == "TransactionCanceledException" and any(
                r.get("Code") == "ConditionalCheckFailed" for r in reasons
            ):
                raise ConditionFailed("transaction: a condition failed; nothing was written") from None
            raise self[writes[0].table]._translate(exc, "TransactWriteItems") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(
                f"DynamoDB TransactWriteItems failed before reaching the service: {exc}"
            ) from None

    def close(self) -> None:
        return None  # the client belongs to the caller


def table_definition(schema: TableSchema, table_name: str) -> dict[str, Any]:
    """``CreateTable`` parameters for one logical table: keys, GSIs (all attributes), on-demand billing."""
    definitions: dict[str, str] = {}

    def key_schema(pk: KeyAttr, sk: KeyAttr | None) -> list[dict[str, str]]:
        out = []
        for attr, role in ((pk, "HASH"), (sk, "RANGE")):
            if attr is not None:
                definitions[attr.name] = attr.type
                out.append({"AttributeName": attr.name, "KeyType": role})
        return out

    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": key_schema(schema.partition_key, schema.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if schema.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": idx.name,
                "KeySchema": key_schema(idx.partition_key, idx.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for idx in schema.indexes.values()
        ]
    request["AttributeDefinitions"] = [
        {"AttributeName": n, "AttributeType": t} for n, t in definitions.items()
    ]
    return request


def create_dynamodb_tables(client: Any, prefix: str, *, wait: bool = True) -> list[str]:
    """Create the 11 tables (and their TTL settings) that do not exist yet; returns the names created."""
    created = []
    schemas: Mapping[str, TableSchema] = table_schemas()
    for name, schema in schemas.items():
        table_name = prefix + name
        try:
            client.create_table(**table_definition(schema, table_name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise StoreUnavailable(f"cannot create DynamoDB table {table_name}: {exc}") from None
            continue
        created.append(table_name)
    for name in created:
        schema = schemas[name.removeprefix(prefix)]
        if wait:
            waiter = client.get_waiter("table_exists")
            waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        if schema.ttl_attribute is not None:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute},
            )
    return created
