"""CEL runtime values over plain Python objects, and the semantics every operator shares.

The evaluator works on the policy input as it arrives (JSON-shaped dicts, lists, str, int,
float, bool, None), with no conversion step: CEL ``int`` is a Python ``int`` (never a ``bool``),
``double`` a ``float``, ``uint`` the :class:`Uint` subclass, ``bytes`` ``bytes``, ``null``
``None``, ``list`` a list or tuple and ``map`` a dict. Types are compared with ``type(x) is``,
never ``isinstance``, because Python's ``bool`` is an ``int`` and CEL's is not.

Evaluation errors are raised as :class:`CelError`; the ``&&``/``||`` operators and the
``all``/``exists`` macros absorb them exactly as the CEL specification says.
"""

from __future__ import annotations

import math
from typing import Any

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


class CelError(Exception):
    """A CEL evaluation error (no such key, no matching overload, overflow, division by zero…)."""


class Uint(int):
    """CEL ``uint``: an unsigned 64-bit integer kept distinct from ``int``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}u"


class CelType:
    """A CEL type value, e.g. the result of ``type(1)`` or the identifier ``int``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return type(other) is CelType and other.name == self.name

    def __hash__(self) -> int:
        return hash(("CelType", self.name))

    def __repr__(self) -> str:
        return self.name


TYPES: dict[str, CelType] = {
    name: CelType(name)
    for name in ("int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type")
}

_TYPE_BY_PYTYPE: dict[type, CelType] = {
    int: TYPES["int"],
    Uint: TYPES["uint"],
    float: TYPES["double"],
    bool: TYPES["bool"],
    str: TYPES["string"],
    bytes: TYPES["bytes"],
    list: TYPES["list"],
    tuple: TYPES["list"],
    dict: TYPES["map"],
    type(None): TYPES["null_type"],
    CelType: TYPES["type"],
}

NUMERIC = (int, Uint, float)


def type_of(value: Any) -> CelType:
    try:
        return _TYPE_BY_PYTYPE[type(value)]
    except KeyError:
        raise CelError(f"unsupported value of Python type {type(value).__name__}") from None


def type_name(value: Any) -> str:
    t = _TYPE_BY_PYTYPE.get(type(value))
    return t.name if t is not None else type(value).__name__


def no_overload(op: str, *args: Any) -> CelError:
    return CelError(f"no such overload: {op}({', '.join(type_name(a) for a in args)})")


def check_int(value: int) -> int:
    if value < INT64_MIN or value > INT64_MAX:
        raise CelError("return error for overflow: int64 out of range")
    return value


def check_uint(value: int) -> Uint:
    if value < 0 or value > UINT64_MAX:
        raise CelError("return error for overflow: uint64 out of range")
    return Uint(value)


def equals(a: Any, b: Any) -> bool:
    """CEL heterogeneous equality: numbers compare by value across int/uint/double; other
    values of different types are simply unequal (never an error)."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list or ta is tuple:
            return _list_equals(a, b)
        if ta is dict:
            return _map_equals(a, b)
        return bool(a == b)
    if ta in NUMERIC and tb in NUMERIC:
        # int/uint compare exactly; against a double the integer is converted to double first
        # (as CEL implementations do), and NaN equals nothing.
        if ta is float or tb is float:
            return float(a) == float(b)
        return bool(a == b)
    if (ta is list or ta is tuple) and (tb is list or tb is tuple):
        return _list_equals(a, b)
    return False


def _list_equals(a: Any, b: Any) -> bool:
    if len(a) != len(b):
        return False
    return all(equals(x, y) for x, y in zip(a, b, strict=True))


def _map_equals(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    if len(a) != len(b):
        return False
    for key, value in a.items():
        found, other = map_lookup(b, key)
        if not found or not equals(value, other):
            return False
    return True


def map_lookup(mapping: dict[Any, Any], key: Any) -> tuple[bool, Any]:
    """Find ``key`` the way CEL does: strings and bools by value, numbers across int/uint/double.

    Python hashes ``True``, ``1`` and ``Uint(1)`` alike, so non-string keys are matched by type
    explicitly rather than trusting ``in``.
    """
    tk = type(key)
    if tk is str:
        if key in mapping:
            return True, mapping[key]
        return False, None
    if tk is bool:
        for stored, value in mapping.items():
            if type(stored) is bool and stored == key:
                return True, value
        return False, None
    if tk is int or tk is Uint or tk is float:
        if tk is float and not (math.isfinite(key) and key.is_integer()):
            return False, None
        wanted = int(key)
        for stored, value in mapping.items():
            if (type(stored) is int or type(stored) is Uint) and int(stored) == wanted:
                return True, value
        return False, None
    raise no_overload("_[_]", mapping, key)


ORDERED = (str, bytes, bool)


def orderable(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    """The operands of ``a op b`` ready for Python's operator, or no matching overload.

    Numbers compare across int/uint/double (an integer meets a double as a double, and NaN
    orders with nothing); otherwise both must be strings, bytes or bools.
    """
    ta, tb = type(a), type(b)
    if ta is tb and (ta is int or ta is str or ta in ORDERED or ta is float or ta is Uint):
        return a, b
    if ta in NUMERIC and tb in NUMERIC:
        if ta is float or tb is float:
            return float(a), float(b)
        return a, b
    raise no_overload(op, a, b)
