"""A static type checker for CEL against declared input fields.

It exists so that ``contact.optinSms`` (a misspelt field) or ``request.channel == 1`` is an
error a policy author sees at file:line, instead of a rule that errors — or is silently always
false — in production. Objects are closed (every field is declared); ``dyn`` is accepted
anywhere and checked at run time instead. Only definite mistakes are reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.policy.cel import nodes as n
from gateway.policy.cel.functions import compile_regex
from gateway.policy.cel.values import TYPES, CelError, CelType, Uint


@dataclass(frozen=True)
class T:
    """A static type: a primitive name, ``list``/``map`` with parameters, an object, or dyn."""

    name: str  # int uint double bool string bytes null_type type list map object dyn
    params: tuple[T, ...] = ()
    fields: Mapping[str, T] | None = field(default=None, compare=False)
    label: str = ""  # what an object is called in messages ("contact", "params.whatsapp")

    def __str__(self) -> str:
        if self.name == "object":
            return self.label or "object"
        if self.params:
            return f"{self.name}({', '.join(str(p) for p in self.params)})"
        return self.name


DYN = T("dyn")
BOOL = T("bool")
INT = T("int")
UINT = T("uint")
DOUBLE = T("double")
STRING = T("string")
BYTES = T("bytes")
NULL = T("null_type")
TYPE = T("type")
NUMERIC = ("int", "uint", "double")
PRIMS = {t.name: t for t in (BOOL, INT, UINT, DOUBLE, STRING, BYTES, NULL, TYPE)}


def list_of(elem: T) -> T:
    return T("list", (elem,))


def map_of(key: T, value: T) -> T:
    return T("map", (key, value))


def obj(label: str, fields: Mapping[str, T]) -> T:
    return T("object", (), dict(fields), label)


def join(types: list[T]) -> T:
    distinct = {t for t in types if t.name != "dyn"}
    if len(distinct) == 1 and len(distinct) == len(set(types)):
        return distinct.pop()
    return DYN


def type_of_value(value: Any, label: str = "") -> T:
    """The static type of a constant (used for ``params``): dicts are closed objects."""
    if type(value) is bool:
        return BOOL
    if type(value) is Uint:
        return UINT
    if type(value) is int:
        return INT
    if type(value) is float:
        return DOUBLE
    if type(value) is str:
        return STRING
    if type(value) is bytes:
        return BYTES
    if value is None:
        return NULL
    if type(value) is CelType:
        return TYPE
    if isinstance(value, list | tuple):
        return list_of(join([type_of_value(v) for v in value]) if value else DYN)
    if isinstance(value, dict):
        fields = {str(k): type_of_value(v, f"{label}.{k}" if label else str(k)) for k, v in value.items()}
        return obj(label, fields)
    return DYN


@dataclass(frozen=True)
class TypeIssue:
    line: int
    column: int
    message: str


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f" (did you mean {close[0]!r}?)" if close else ""


class Checker:
    def __init__(self, env: Mapping[str, T]) -> None:
        self.env = dict(env)
        self.issues: list[TypeIssue] = []

    def error(self, node: n.Node, message: str) -> T:
        self.issues.append(TypeIssue(node.line, node.column, message))
        return DYN

    def check(self, node: n.Node, scope: Mapping[str, T] | None = None) -> T:
        return self._t(node, dict(scope or {}))

    def _t(self, node: n.Node, scope: dict[str, T]) -> T:
        if isinstance(node, n.Lit):
            return type_of_value(node.value)
        if isinstance(node, n.Ident):
            if node.name in scope:
                return scope[node.name]
            if node.name in self.env:
                return self.env[node.name]
            if node.name in TYPES:
                return TYPE
            return self.error(
                node, f"undeclared reference to {node.name!r}{_did_you_mean(node.name, [*self.env, *scope])}"
            )
        if isinstance(node, n.Select):
            return self._select(node, scope)
        if isinstance(node, n.ListLit):
            return list_of(join([self._t(i, scope) for i in node.items]) if node.items else DYN)
        if isinstance(node, n.MapLit):
            keys = [self._t(k, scope) for k, _ in node.entries]
            values = [self._t(v, scope) for _, v in node.entries]
            for (k_node, _), kt in zip(node.entries, keys, strict=True):
                if kt.name not in ("int", "uint", "bool", "string", "dyn"):
                    self.error(k_node, f"a map key must be int, uint, bool or string, not {kt}")
            return map_of(join(keys) if keys else DYN, join(values) if values else DYN)
        if isinstance(node, n.Comprehension):
            return self._comprehension(node, scope)
        if isinstance(node, n.Call):
            return self._call(node, scope)
        return DYN  # pragma: no cover

    def _select(self, node: n.Select, scope: dict[str, T]) -> T:
        operand = self._t(node.operand, scope)
        if operand.name == "object":
            assert operand.fields is not None
            if node.field not in operand.fields:
                return self.error(
                    node,
                    f"{operand} has no field {node.field!r}"
                    f"{_did_you_mean(node.field, operand.fields)}; it has: "
                    f"{', '.join(sorted(operand.fields))}",
                )
            return BOOL if node.test_only else operand.fields[node.field]
        if operand.name == "map":
            key = operand.params[0]
            if key.name not in ("string", "dyn"):
                return self.error(node, f"cannot select a field of {operand} (its keys are not strings)")
            return BOOL if node.test_only else operand.params[1]
        if operand.name == "dyn":
            return BOOL if node.test_only else DYN
        return self.error(node, f"{operand} has no fields (selecting {node.field!r})")

    def _comprehension(self, node: n.Comprehension, scope: dict[str, T]) -> T:
        rng = self._t(node.range, scope)
        if rng.name in ("list", "map"):
            var = rng.params[0]
        elif rng.name == "object":
            var = STRING
        elif rng.name == "dyn":
            var = DYN
        else:
            self.error(node.range, f"{node.kind}() needs a list or map, not {rng}")
            var = DYN
        inner = {**scope, node.var: var}
        if node.predicate is not None:
            pred = self._t(node.predicate, inner)
            if pred.name not in ("bool", "dyn"):
                self.error(node.predicate, f"the condition of {node.kind}() must be a bool, not {pred}")
        if node.kind in ("all", "exists", "exists_one"):
            return BOOL
        if node.kind == "filter":
            return list_of(var)
        assert node.transform is not None
        return list_of(self._t(node.transform, inner))

    def _call(self, node: n.Call, scope: dict[str, T]) -> T:  # noqa: PLR0912 - one branch per CEL operator: the typing rules read as one table, like the spec
        fn = node.function
        args = [self._t(a, scope) for a in node.args]
        target = self._t(node.target, scope) if node.target is not None else None
        if fn in (n.AND, n.OR):
            for arg_node, arg in zip(node.args, args, strict=True):
                self._expect(arg_node, arg, ("bool",), f"'{n.OPERATOR_SYMBOLS[fn]}'")
            return BOOL
        if fn == n.NOT:
            self._expect(node.args[0], args[0], ("bool",), "'!'")
            return BOOL
        if fn == n.COND:
            self._expect(node.args[0], args[0], ("bool",), "the condition of '?:'")
            return args[1] if args[1] == args[2] else DYN
        if fn in (n.EQ, n.NE):
            a, b = args
            if not _comparable(a, b):
                self.error(
                    node,
                    f"comparing {a} with {b} with '{n.OPERATOR_SYMBOLS[fn]}' is always "
                    f"{'false' if fn == n.EQ else 'true'}",
                )
            return BOOL
        if fn in (n.LT, n.LE, n.GT, n.GE):
            a, b = args
            if not (
                _dyn(a)
                or _dyn(b)
                or (a.name in NUMERIC and b.name in NUMERIC)
                or (a.name == b.name and a.name in ("string", "bytes", "bool"))
            ):
                self.error(node, f"cannot order {a} and {b} with '{n.OPERATOR_SYMBOLS[fn]}'")
            return BOOL
        if fn in (n.ADD, n.SUB, n.MUL, n.DIV, n.MOD):
            return self._arith(node, fn, args)
        if fn == n.NEG:
            if not (_dyn(args[0]) or args[0].name in ("int", "double")):
                self.error(node, f"cannot negate {args[0]}")
            return args[0]
        if fn == n.IN:
            elem, container = args
            if container.name == "list":
                if not _comparable(elem, container.params[0]):
                    self.error(node, f"{elem} can never be in a {container}")
            elif container.name == "map":
                if not _comparable(elem, container.params[0]):
                    self.error(node, f"{elem} can never be a key of a {container}")
            elif container.name == "object":
                if elem.name not in ("string", "dyn"):
                    self.error(node, f"{elem} can never be a field name of {container}")
            elif not _dyn(container):
                self.error(node, f"'in' needs a list or map on its right, not {container}")
            return BOOL
        if fn == n.INDEX:
            container, key = args
            if container.name == "list":
                if not (_dyn(key) or key.name in ("int", "uint")):
                    self.error(node, f"a list index must be an int, not {key}")
                return container.params[0]
            if container.name == "map":
                if not _comparable(key, container.params[0]):
                    self.error(node, f"{key} is never a key of a {container}")
                return container.params[1]
            if container.name == "object":
                assert container.fields is not None
                if isinstance(node.args[1], n.Lit) and isinstance(node.args[1].value, str):
                    if node.args[1].value not in container.fields:
                        return self.error(node, f"{container} has no field {node.args[1].value!r}")
                    return container.fields[node.args[1].value]
                return DYN
            if not _dyn(container):
                self.error(node, f"cannot index {container}")
            return DYN
        return self._function(node, fn, target, args)

    def _arith(self, node: n.Call, fn: str, args: list[T]) -> T:
        a, b = args
        sym = n.OPERATOR_SYMBOLS[fn]
        if _dyn(a) or _dyn(b):
            return b if _dyn(a) else a
        if a.name != b.name and not (a.name == b.name == "list"):
            return self.error(
                node,
                f"no '{sym}' for {a} and {b} (CEL never converts numbers implicitly; "
                "use int(), double() or uint())",
            )
        allowed = {
            n.ADD: ("int", "uint", "double", "string", "bytes", "list"),
            n.SUB: NUMERIC,
            n.MUL: NUMERIC,
            n.DIV: NUMERIC,
            n.MOD: ("int", "uint"),
        }[fn]
        if a.name not in allowed:
            return self.error(node, f"no '{sym}' for {a}")
        if a.name == "list":
            return list_of(join([a.params[0], b.params[0]]))
        return a

    def _expect(self, node: n.Node, actual: T, names: tuple[str, ...], what: str) -> None:
        if not _dyn(actual) and actual.name not in names:
            self.error(node, f"{what} needs {' or '.join(names)}, not {actual}")

    def _function(self, node: n.Call, fn: str, target: T | None, args: list[T]) -> T:
        if target is not None:
            args = [target, *args]
        if fn == "size":
            if not (_dyn(args[0]) or args[0].name in ("string", "bytes", "list", "map", "object")):
                self.error(node, f"size() needs a string, bytes, list or map, not {args[0]}")
            return INT
        if fn in ("contains", "startsWith", "endsWith", "matches"):
            for i, arg in enumerate(args):
                arg_node = (
                    node.target
                    if node.target is not None and i == 0
                    else node.args[i - (1 if node.target is not None else 0)]
                )
                assert arg_node is not None
                self._expect(arg_node, arg, ("string",), f"{fn}()")
            if fn == "matches":
                pattern = node.args[-1]
                if isinstance(pattern, n.Lit) and isinstance(pattern.value, str):
                    try:
                        compile_regex(pattern.value)
                    except CelError as exc:
                        self.error(pattern, str(exc))
            return BOOL
        conversions = {
            "int": INT,
            "uint": UINT,
            "double": DOUBLE,
            "string": STRING,
            "bytes": BYTES,
            "bool": BOOL,
            "type": TYPE,
        }
        if fn in conversions:
            return conversions[fn]
        if fn == "dyn":
            return DYN
        return DYN


def _dyn(t: T) -> bool:
    return t.name == "dyn"


def _comparable(a: T, b: T) -> bool:
    if _dyn(a) or _dyn(b):
        return True
    if a.name in NUMERIC and b.name in NUMERIC:
        return True
    if a.name == "null_type" or b.name == "null_type":
        return True  # comparing with null is legitimate for optional values
    if (a.name == "object" and b.name == "map") or (a.name == "map" and b.name == "object"):
        return True
    if a.name != b.name:
        return False
    if a.params and b.params:
        return all(_comparable(x, y) for x, y in zip(a.params, b.params, strict=True))
    return True


def input_type(spec: Mapping[str, Any], label: str = "") -> dict[str, T]:
    """Types from a schema like ``{"now": "int", "request": {"channel": "string"}}``."""
    out: dict[str, T] = {}
    for name, item in spec.items():
        if isinstance(item, Mapping):
            out[name] = obj(f"{label}{name}", input_type(item, f"{label}{name}."))
        else:
            out[name] = PRIMS[item]
    return out
