"""A small, DynamoDB-shaped condition algebra shared by every ``Table`` adapter.

Conditions guard writes (``put``/``update``/``delete``) and filter reads (``query``/``scan``).
Adapters either translate them (DynamoDB ``ConditionExpression``) or evaluate them with
:func:`evaluate` against the stored item (SQLite, the in-memory fake). Both paths follow DynamoDB's
semantics: a comparison against a missing attribute is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["exists", "not_exists", "eq", "ne", "lt", "le", "gt", "ge", "begins_with", "contains", "in"]


@dataclass(frozen=True)
class Attr:
    """One comparison on one attribute: ``Attr("status", "eq", "sent")``."""

    name: str
    op: Op
    value: Any = None

    def __and__(self, other: Condition) -> And:
        return And((self, other))

    def __or__(self, other: Condition) -> Or:
        return Or((self, other))


@dataclass(frozen=True)
class And:
    parts: tuple[Condition, ...]

    def __and__(self, other: Condition) -> And:
        return And((*self.parts, other))


@dataclass(frozen=True)
class Or:
    parts: tuple[Condition, ...]

    def __or__(self, other: Condition) -> Or:
        return Or((*self.parts, other))


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = Attr | And | Or | Not


def not_exists(name: str) -> Attr:
    return Attr(name, "not_exists")


def exists(name: str) -> Attr:
    return Attr(name, "exists")


def eq(name: str, value: Any) -> Attr:
    return Attr(name, "eq", value)


@dataclass(frozen=True)
class SortKey:
    """A sort-key condition for ``query``: eq, lt, le, gt, ge, between (value = (lo, hi)), begins_with."""

    op: Literal["eq", "lt", "le", "gt", "ge", "between", "begins_with"]
    value: Any


_MISSING = object()


def _comparable(a: Any, b: Any) -> bool:
    number = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, number) and isinstance(b, number)) or type(a) is type(b)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "eq":
        return _comparable(actual, expected) and actual == expected
    if op == "ne":
        return not (_comparable(actual, expected) and actual == expected)
    if op == "in":
        return any(_comparable(actual, v) and actual == v for v in expected)
    if op == "begins_with":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list | set | tuple):
            return expected in actual
        return False
    if not _comparable(actual, expected) or isinstance(actual, bool | dict | list):
        return False
    if op == "lt":
        return bool(actual < expected)
    if op == "le":
        return bool(actual <= expected)
    if op == "gt":
        return bool(actual > expected)
    if op == "ge":
        return bool(actual >= expected)
    raise ValueError(f"unknown condition operator {op!r}")


def evaluate(condition: Condition, item: Mapping[str, Any] | None) -> bool:
    """True when ``item`` (``None`` = no such item) satisfies ``condition``."""
    if isinstance(condition, And):
        return all(evaluate(part, item) for part in condition.parts)
    if isinstance(condition, Or):
        return any(evaluate(part, item) for part in condition.parts)
    if isinstance(condition, Not):
        return not evaluate(condition.part, item)
    actual = _MISSING if item is None else item.get(condition.name, _MISSING)
    if condition.op == "exists":
        return actual is not _MISSING
    if condition.op == "not_exists":
        return actual is _MISSING
    if actual is _MISSING:
        return condition.op == "ne"
    return _compare(actual, condition.op, condition.value)


def sort_key_matches(value: Any, condition: SortKey) -> bool:
    if condition.op == "between":
        lo, hi = condition.value
        return _compare(value, "ge", lo) and _compare(value, "le", hi)
    return _compare(value, condition.op, condition.value)
