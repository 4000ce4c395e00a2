"""Checks every ``Table`` adapter applies before it touches storage.

DynamoDB rejects a missing or wrongly typed key, an empty-string key, and an index key attribute of
the wrong type; the embedded store and the in-memory fake reject the same things here, so code that
works on one adapter does not fail later on another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway.store.conditions import SortKey
from gateway.store.port import Item, Key, Update
from gateway.store.schema import KeyAttr, TableSchema

# SQLite stores integers in 64 bits; DynamoDB allows more digits, but a key beyond this range would
# silently change meaning in the embedded store, so every adapter refuses it.
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_key_value(table: str, attr: KeyAttr, value: object, role: str = "key") -> None:
    """Raise ValueError unless ``value`` can be the value of key attribute ``attr``."""
    if attr.type == "S":
        if not isinstance(value, str):
            raise ValueError(f"{table}: {role} attribute {attr.name!r} must be a string, got {value!r}")
        if value == "":
            raise ValueError(f"{table}: {role} attribute {attr.name!r} must not be an empty string")
        return
    if not is_number(value):
        raise ValueError(f"{table}: {role} attribute {attr.name!r} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{table}: {role} attribute {attr.name!r} must be finite, got {value!r}")
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{table}: {role} attribute {attr.name!r} is out of the 64-bit range: {value!r}")


def primary_key(schema: TableSchema, key: Key) -> tuple[Any, ...]:
    """The validated primary-key values of ``key`` (an item or a bare key), in schema order."""
    out = []
    attrs = (schema.partition_key,) if schema.sort_key is None else (schema.partition_key, schema.sort_key)
    for attr in attrs:
        if attr.name not in key:
            raise ValueError(f"{schema.name}: key attribute {attr.name!r} is required")
        value = key[attr.name]
        check_key_value(schema.name, attr, value)
        out.append(value)
    return tuple(out)


def check_item(schema: TableSchema, item: Mapping[str, Any]) -> None:
    """Primary key present and typed; every index key attribute the item has is typed too."""
    primary_key(schema, item)
    for index in schema.indexes.values():
        for attr in (index.partition_key, index.sort_key):
            if attr is not None and attr.name in item:
                check_key_value(schema.name, attr, item[attr.name], f"index {index.name!r} key")


def check_update(schema: TableSchema, update: Update) -> None:
    touched = set(update.set) | set(update.add) | set(update.remove)
    for name in schema.key_names:
        if name in touched:
            raise ValueError(f"{schema.name}: an update cannot change key attribute {name!r}")
    for name, delta in update.add.items():
        if not is_number(delta):
            raise ValueError(f"{schema.name}: add {name!r} needs a number, got {delta!r}")
    overlap = (set(update.set) & set(update.add)) | ((set(update.set) | set(update.add)) & set(update.remove))
    if overlap:
        raise ValueError(f"{schema.name}: update names {sorted(overlap)} in more than one of set/add/remove")


def query_keys(schema: TableSchema, index: str | None) -> tuple[KeyAttr, KeyAttr | None]:
    """The partition and sort key attributes a query on the table or ``index`` uses."""
    if index is None:
        return schema.partition_key, schema.sort_key
    idx = schema.index(index)
    return idx.partition_key, idx.sort_key


def check_query(
    schema: TableSchema, index: str | None, partition: object, sort: SortKey | None, limit: int
) -> tuple[KeyAttr, KeyAttr | None]:
    pk, sk = query_keys(schema, index)
    check_key_value(schema.name, pk, partition, "partition")
    if sort is not None:
        if sk is None:
            where = f"index {index!r}" if index else "the table"
            raise ValueError(f"{schema.name}: {where} has no sort key, so a sort condition cannot apply")
        if sort.op == "between":
            if not isinstance(sort.value, tuple | list) or len(sort.value) != 2:
                raise ValueError(f"{schema.name}: between needs a (low, high) pair, got {sort.value!r}")
            for v in sort.value:
                check_key_value(schema.name, sk, v, "sort condition")
        elif sort.op == "begins_with":
            if sk.type != "S" or not isinstance(sort.value, str):
                raise ValueError(f"{schema.name}: begins_with needs a string sort key and a string prefix")
        else:
            check_key_value(schema.name, sk, sort.value, "sort condition")
    check_limit(schema.name, limit)
    return pk, sk


def check_limit(table: str, limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"{table}: limit must be a whole number ≥ 1, got {limit!r}")


def expired(schema: TableSchema, item: Mapping[str, Any], now: float) -> bool:
    """True when the item's TTL attribute (Number, epoch seconds) is at or before ``now``."""
    ttl = schema.ttl_attribute
    if ttl is None:
        return False
    value = item.get(ttl)
    return is_number(value) and value <= now  # type: ignore[operator]


def key_dict(schema: TableSchema, item: Item, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {n: item[n] for n in (names or schema.key_names)}


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: no such bound).

    Lets a begins_with sort condition become an index range ``prefix <= sk < bound``.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates cannot be stored as UTF-8; the next real code point follows them
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None
