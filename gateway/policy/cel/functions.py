"""CEL's standard functions and operators over :mod:`values`: arithmetic with int64/uint64
overflow checks, size, string functions, RE2 ``matches`` and the type conversions."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import re2

from gateway.policy.cel.values import (
    INT64_MAX,
    INT64_MIN,
    NUMERIC,
    UINT64_MAX,
    CelError,
    Uint,
    check_int,
    check_uint,
    equals,
    map_lookup,
    no_overload,
    type_of,
)

# ---- arithmetic -----------------------------------------------------------------------------


def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is int:
            r = a + b
            if r < INT64_MIN or r > INT64_MAX:
                raise CelError("return error for overflow: int64 addition")
            return r
        if ta is float or ta is str or ta is bytes or ta is list:
            return a + b
        if ta is Uint:
            return check_uint(int(a) + int(b))
    if (ta is list or ta is tuple) and (tb is list or tb is tuple):
        return [*a, *b]
    raise no_overload("_+_", a, b)


def sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is int:
            return check_int(a - b)
        if ta is float:
            return a - b
        if ta is Uint:
            return check_uint(int(a) - int(b))
    raise no_overload("_-_", a, b)


def mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is int:
            return check_int(a * b)
        if ta is float:
            return a * b
        if ta is Uint:
            return check_uint(int(a) * int(b))
    raise no_overload("_*_", a, b)


def div(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is int or ta is Uint:
            if b == 0:
                raise CelError("divide by zero")
            q = abs(int(a)) // abs(int(b))
            if (a < 0) != (b < 0):
                q = -q
            return check_int(q) if ta is int else Uint(q)
        if ta is float:
            if b == 0.0:
                if a == 0.0 or math.isnan(a):
                    return math.nan
                return math.copysign(math.inf, a) * math.copysign(1.0, b)
            return a / b
    raise no_overload("_/_", a, b)


def mod(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb and (ta is int or ta is Uint):
        if b == 0:
            raise CelError("modulus by zero")
        r = abs(int(a)) % abs(int(b))
        if a < 0:
            r = -r
        return r if ta is int else Uint(r)
    raise no_overload("_%_", a, b)


def neg(a: Any) -> Any:
    ta = type(a)
    if ta is int:
        return check_int(-a)
    if ta is float:
        return -a
    raise no_overload("-_", a)


def index(container: Any, key: Any) -> Any:
    tc = type(container)
    if tc is dict:
        found, value = map_lookup(container, key)
        if not found:
            raise CelError(f"no such key: {key!r}")
        return value
    if tc is list or tc is tuple:
        tk = type(key)
        if tk is int or tk is Uint or (tk is float and math.isfinite(key) and key.is_integer()):
            i = int(key)
        else:
            raise no_overload("_[_]", container, key)
        if i < 0 or i >= len(container):
            raise CelError(f"index out of bounds: {i}")
        return container[i]
    raise no_overload("_[_]", container, key)


def contains_in(element: Any, container: Any) -> bool:
    tc = type(container)
    if tc is list or tc is tuple:
        return any(equals(element, item) for item in container)
    if tc is dict:
        try:
            return map_lookup(container, element)[0]
        except CelError:
            raise no_overload("@in", element, container) from None
    raise no_overload("@in", element, container)


# ---- functions ------------------------------------------------------------------------------


def size(value: Any) -> int:
    tv = type(value)
    if tv is str or tv is bytes or tv is list or tv is tuple or tv is dict:
        return len(value)
    raise no_overload("size", value)


def _strings(name: str, a: Any, b: Any) -> None:
    if type(a) is not str or type(b) is not str:
        raise no_overload(name, a, b)


def contains(a: Any, b: Any) -> bool:
    _strings("contains", a, b)
    return b in a


def starts_with(a: Any, b: Any) -> bool:
    _strings("startsWith", a, b)
    return bool(a.startswith(b))


def ends_with(a: Any, b: Any) -> bool:
    _strings("endsWith", a, b)
    return bool(a.endswith(b))


def compile_regex(pattern: str) -> Any:
    """RE2, as CEL requires (linear time, no backreferences)."""
    try:
        return re2.compile(pattern)
    except Exception as exc:
        raise CelError(f"invalid regular expression {pattern!r}: {exc}") from None


def matches(text: Any, pattern: Any) -> bool:
    _strings("matches", text, pattern)
    return compile_regex(pattern).search(text) is not None


# ---- conversions ----------------------------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_UINT_TEXT = re.compile(r"\+?[0-9]+")
_DOUBLE_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)


def to_int(value: Any) -> int:
    tv = type(value)
    if tv is int:
        return int(value)
    if tv is Uint:
        if value > INT64_MAX:
            raise CelError("range error: uint value does not fit in int")
        return int(value)
    if tv is float:
        # Doubles at or beyond ±2^63 do not fit, including the rounded 2^63-1.
        if not math.isfinite(value) or value >= 9.223372036854775807e18 or value <= -9.223372036854775807e18:
            raise CelError("range error: double value does not fit in int")
        return int(value)
    if tv is str:
        if not _INT_TEXT.fullmatch(value):
            raise CelError(f"cannot convert {value!r} to int")
        return check_int(int(value))
    raise no_overload("int", value)


def to_uint(value: Any) -> Uint:
    tv = type(value)
    if tv is Uint:
        return Uint(value)
    if tv is int:
        if value < 0:
            raise CelError("range error: negative int cannot be uint")
        return Uint(value)
    if tv is float:
        if not math.isfinite(value) or value < 0 or value >= 1.8446744073709552e19:
            raise CelError("range error: double value does not fit in uint")
        return Uint(int(value))
    if tv is str:
        if not _UINT_TEXT.fullmatch(value):
            raise CelError(f"cannot convert {value!r} to uint")
        number = int(value)
        if number > UINT64_MAX:
            raise CelError("range error: uint64 out of range")
        return Uint(number)
    raise no_overload("uint", value)


def to_double(value: Any) -> float:
    tv = type(value)
    if tv is float:
        return float(value)
    if tv is int or tv is Uint:
        return float(value)
    if tv is str:
        if not _DOUBLE_TEXT.fullmatch(value):
            raise CelError(f"cannot convert {value!r} to double")
        return float(value)
    raise no_overload("double", value)


def format_double(value: float) -> str:
    """Shortest round-trip text of a double, formatted like Go's strconv 'g' (as cel-go does)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # position of the decimal point relative to the digits
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 21:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"


def to_string(value: Any) -> str:
    tv = type(value)
    if tv is str:
        return str(value)
    if tv is int or tv is Uint:
        return str(int(value))
    if tv is float:
        return format_double(value)
    if tv is bool:
        return "true" if value else "false"
    if tv is bytes:
        try:
            return str(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise CelError("invalid UTF-8 in bytes converted to string") from None
    raise no_overload("string", value)


def to_bytes(value: Any) -> bytes:
    tv = type(value)
    if tv is bytes:
        return bytes(value)
    if tv is str:
        return bytes(value.encode("utf-8"))
    raise no_overload("bytes", value)


_TRUE = frozenset({"1", "t", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "false", "FALSE", "False"})


def to_bool(value: Any) -> bool:
    tv = type(value)
    if tv is bool:
        return bool(value)
    if tv is str:
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise CelError(f"cannot convert {value!r} to bool")
    raise no_overload("bool", value)


def dyn(value: Any) -> Any:
    return value


GLOBAL_FUNCTIONS: dict[str, tuple[int, Any]] = {
    # name: (arity, implementation)
    "size": (1, size),
    "int": (1, to_int),
    "uint": (1, to_uint),
    "double": (1, to_double),
    "string": (1, to_string),
    "bytes": (1, to_bytes),
    "bool": (1, to_bool),
    "type": (1, type_of),
    "dyn": (1, dyn),
    "matches": (2, matches),
}

METHODS: dict[str, tuple[int, Any]] = {
    # name: (arity without the receiver, implementation taking the receiver first)
    "size": (0, size),
    "contains": (1, contains),
    "startsWith": (1, starts_with),
    "endsWith": (1, ends_with),
    "matches": (1, matches),
}

__all__ = ["GLOBAL_FUNCTIONS", "METHODS", "NUMERIC"]
