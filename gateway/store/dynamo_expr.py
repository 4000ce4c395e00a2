"""Values and conditions in DynamoDB's wire format: the type conversion and the expression builder.

Numbers go out as ``Decimal`` (floats via their shortest repr, so 0.1 stays 0.1) and come back as
``int`` when integral, else ``float``. Conditions from :mod:`gateway.store.conditions` become
``ConditionExpression``/``FilterExpression`` text with placeholders for every name and value, so
reserved words (``status``, ``timestamp``) and odd characters never need escaping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from gateway.store.conditions import And, Attr, Condition, Not, Or

AttributeValue = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _outgoing(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store {value!r}")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _outgoing(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_outgoing(v) for v in value]
    return value


def _incoming(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _incoming(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_incoming(v) for v in value]
    if isinstance(value, set):
        return {_incoming(v) for v in value}
    return value


def serialize(value: Any) -> AttributeValue:
    try:
        out: AttributeValue = _serializer.serialize(_outgoing(value))
    except TypeError as exc:
        raise ValueError(f"DynamoDB cannot store {value!r}: {exc}") from None
    except ArithmeticError as exc:  # more than 38 significant digits or out of DynamoDB's range
        raise ValueError(f"DynamoDB cannot store the number {value!r}: {exc!r}") from None
    return out


def serialize_item(item: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {k: serialize(v) for k, v in item.items()}


def deserialize_item(raw: Mapping[str, AttributeValue]) -> dict[str, Any]:
    return {k: _incoming(_deserializer.deserialize(v)) for k, v in raw.items()}


class Expression:
    """Collects ``ExpressionAttributeNames``/``Values`` while conditions are rendered."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}
        self._by_name: dict[str, str] = {}

    def copy(self) -> Expression:
        out = Expression()
        out.names, out.values, out._by_name = dict(self.names), dict(self.values), dict(self._by_name)
        return out

    def name(self, attribute: str) -> str:
        placeholder = self._by_name.get(attribute)
        if placeholder is None:
            placeholder = f"#n{len(self._by_name)}"
            self._by_name[attribute] = placeholder
            self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = serialize(value)
        return placeholder

    def condition(self, condition: Condition) -> str:
        # One part is that part alone: DynamoDB refuses "((a))" as redundant parentheses.
        if isinstance(condition, And):
            if not condition.parts:
                return self.true()
            if len(condition.parts) == 1:
                return self.condition(condition.parts[0])
            return "(" + " AND ".join(self.condition(p) for p in condition.parts) + ")"
        if isinstance(condition, Or):
            if not condition.parts:
                return self.false()
            if len(condition.parts) == 1:
                return self.condition(condition.parts[0])
            return "(" + " OR ".join(self.condition(p) for p in condition.parts) + ")"
        if isinstance(condition, Not):
            return f"(NOT {self.condition(condition.part)})"
        return self._attr(condition)

    def _attr(self, c: Attr) -> str:
        if c.op == "in":
            values = list(c.value)
            if not values:
                return self.false()
            kinds = {next(iter(serialize(v))) for v in values}
            if len(kinds) > 1:
                return "(" + " OR ".join(self._compare(c.name, "=", v) for v in values) + ")"
            n = self.name(c.name)
            listed = ", ".join(self.value(v) for v in values)
            return f"(attribute_type({n}, {self._type(values[0])}) AND {n} IN ({listed}))"
        n = self.name(c.name)
        if c.op == "exists":
            return f"attribute_exists({n})"
        if c.op == "not_exists":
            return f"attribute_not_exists({n})"
        if c.op == "ne":
            # A missing attribute or one of another type is "not equal", as in conditions.evaluate.
            return f"(NOT {self._compare(c.name, '=', c.value)})"
        if c.op in ("begins_with", "contains"):
            return f"{c.op}({n}, {self.value(c.value)})"
        op = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}.get(c.op)
        if op is None:
            raise ValueError(f"unknown condition operator {c.op!r}")
        return self._compare(c.name, op, c.value)

    def _type(self, value: Any) -> str:
        return self.value(next(iter(serialize(value))))

    def _compare(self, attribute: str, op: str, value: Any) -> str:
        # Comparisons hold only between values of one type (a missing attribute has none), as in
        # conditions.evaluate; the explicit type test keeps every DynamoDB implementation in line.
        n = self.name(attribute)
        return f"(attribute_type({n}, {self._type(value)}) AND {n} {op} {self.value(value)})"

    def true(self) -> str:
        return self.condition(Or((Attr("_", "exists"), Attr("_", "not_exists"))))

    def false(self) -> str:
        return self.condition(And((Attr("_", "exists"), Attr("_", "not_exists"))))

    def live(self, ttl: str, now: float) -> str:
        """True for an item whose TTL (a Number) has not passed; non-numeric TTLs never expire."""
        n = self.name(ttl)
        number, now_ = self.value("N"), self.value(now)
        return f"(attribute_not_exists({n}) OR NOT attribute_type({n}, {number}) OR {n} > {now_})"

    def expired(self, ttl: str, now: float) -> str:
        n = self.name(ttl)
        return f"(attribute_type({n}, {self.value('N')}) AND {n} <= {self.value(now)})"

    def params(self, **extra: Any) -> dict[str, Any]:
        out = dict(extra)
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out
