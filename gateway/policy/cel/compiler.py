"""CEL AST → Python closures: the fast evaluator.

Each node becomes one closure ``fn(act) -> value`` that raises :class:`CelError` for a CEL
error. ``act`` is a plain dict: the policy input's top-level names map to their values; integer
keys hold comprehension variables and the per-decision cache of lazily evaluated policy
variables, so they can never collide with input names. Nothing is converted per decision: the
input dicts are read as they are.

Compile-time work keeps evaluation cheap: constants (literals, the bundle's ``params``) are
folded, field chains on the input become one closure, comparisons with a constant string and
membership in a constant list of strings are specialised. Everything else follows the CEL
specification, including error absorption by ``&&``/``||``/``all``/``exists``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from gateway.policy.cel import functions as f
from gateway.policy.cel import nodes as n
from gateway.policy.cel.parser import CelSyntaxError
from gateway.policy.cel.values import (
    TYPES,
    CelError,
    Uint,
    equals,
    map_lookup,
    no_overload,
    orderable,
    type_name,
)

Fn = Callable[[dict[Any, Any]], Any]

_NO_CONST = object()


class _ErrorBox:
    """A cached evaluation error of a lazily evaluated variable."""

    __slots__ = ("error",)

    def __init__(self, error: CelError) -> None:
        self.error = error


class Compiler:
    """Compiles expressions against one environment.

    ``names``: identifiers resolved from the activation (None: any identifier is looked up at
    run time). ``constants``: identifiers bound to compile-time values (``params``).
    ``variables``: ``variables.<name>`` → closure, evaluated at most once per decision.
    """

    def __init__(
        self,
        *,
        names: frozenset[str] | None = None,
        constants: Mapping[str, Any] | None = None,
        variables: Mapping[str, Fn] | None = None,
        slots: itertools.count[int] | None = None,
    ) -> None:
        self.names = names
        self.constants = dict(constants or {})
        # None: no policy variables in this environment (``variables`` is an ordinary name).
        self.variables: dict[str, Fn] | None = None if variables is None else {}
        self._slots = slots or itertools.count(1)
        for name, fn in (variables or {}).items():
            self.add_variable(name, fn)

    def add_variable(self, name: str, fn: Fn) -> None:
        if self.variables is None:
            self.variables = {}
        self.variables[name] = _lazy(fn, next(self._slots))

    def compile(self, node: n.Node) -> Fn:
        fn, _, _ = self._c(node, {})
        return fn

    # Each _c returns (closure, is_constant, constant value).
    def _c(self, node: n.Node, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        if isinstance(node, n.Lit):
            return _const(node.value)
        if isinstance(node, n.Ident):
            return self._ident(node, scope)
        if isinstance(node, n.Select):
            return self._select(node, scope)
        if isinstance(node, n.Call):
            return self._call(node, scope)
        if isinstance(node, n.ListLit):
            return self._list(node, scope)
        if isinstance(node, n.MapLit):
            return self._map(node, scope)
        if isinstance(node, n.Comprehension):
            return self._comprehension(node, scope)
        raise CelSyntaxError(f"unsupported node {type(node).__name__}", node.line, node.column)

    # ---- names ------------------------------------------------------------------------------

    def _ident(self, node: n.Ident, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        name = node.name
        if name in scope:
            slot = scope[name]
            return (lambda act: act[slot]), False, None
        if name in self.constants:
            return _const(self.constants[name])
        if name == "variables" and self.variables is not None:
            raise CelSyntaxError("use variables.<name> to read a variable", node.line, node.column)
        if self.names is not None and name not in self.names:
            if name in TYPES:
                return _const(TYPES[name])
            raise CelSyntaxError(f"undeclared reference to {name!r}", node.line, node.column)
        if self.names is None and name in TYPES:
            type_value = TYPES[name]

            def ident_or_type(act: dict[Any, Any]) -> Any:
                try:
                    return act[name]
                except KeyError:
                    return type_value

            return ident_or_type, False, None

        def ident(act: dict[Any, Any]) -> Any:
            try:
                return act[name]
            except KeyError:
                raise CelError(f"undeclared reference to {name!r}") from None

        return ident, False, None

    def _select(self, node: n.Select, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        operand_node = node.operand
        if (
            isinstance(operand_node, n.Ident)
            and operand_node.name == "variables"
            and self.variables is not None
            and "variables" not in scope
        ):
            if node.test_only:
                raise CelSyntaxError("has() is for input fields, not variables", node.line, node.column)
            try:
                return self.variables[node.field], False, None
            except KeyError:
                raise CelSyntaxError(f"no variable named {node.field!r}", node.line, node.column) from None
        # A dotted name bound as a whole (e.g. a binding "a.b.c") wins over field selection.
        full = n.field_path(node) if not node.test_only else None
        bound_whole = full is not None and self.names is not None and ".".join(full) in self.names
        if full is not None and bound_whole and full[0] not in scope:
            dotted = ".".join(full)
            return (lambda act: act[dotted]), False, None
        operand, is_const, value = self._c(operand_node, scope)
        field = node.field
        if node.test_only:
            if is_const:
                try:
                    return _const(_has(operand, field)({}))
                except CelError:
                    pass  # keep the error for evaluation time
            return _has(operand, field), False, None
        if is_const:
            try:
                return _const(_select_value(value, field))
            except CelError:
                pass  # keep the error for evaluation time
        if (
            isinstance(operand_node, n.Ident)
            and operand_node.name not in scope
            and self.names is not None
            and operand_node.name in self.names
        ):
            return _select_input(operand_node.name, field), False, None
        return _select(operand, field), False, None

    # ---- calls ------------------------------------------------------------------------------

    def _call(self, node: n.Call, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        name = node.function
        if name in (n.AND, n.OR):
            return self._logic(node, scope)
        if name == n.COND:
            return self._conditional(node, scope)
        compiled = [self._c(arg, scope) for arg in node.args]
        target = self._c(node.target, scope) if node.target is not None else None
        impl = self._implementation(node, target is not None)
        parts = ([target] if target is not None else []) + compiled
        if all(is_const for _, is_const, _ in parts) and name != "matches":
            try:
                return _const(impl(*[value for _, _, value in parts]))
            except CelError:
                pass  # keep the error for evaluation time
        fns = [fn for fn, _, _ in parts]
        special = self._specialise(name, parts)
        if special is not None:
            return special, False, None
        if len(fns) == 1:
            (a,) = fns
            return (lambda act: impl(a(act))), False, None
        if len(fns) == 2:
            a, b = fns
            return (lambda act: impl(a(act), b(act))), False, None
        return (lambda act: impl(*[fn(act) for fn in fns])), False, None

    def _implementation(self, node: n.Call, method: bool) -> Callable[..., Any]:
        name = node.function
        operators: dict[str, Callable[..., Any]] = {
            n.NOT: _not,
            n.NEG: f.neg,
            n.INDEX: f.index,
            n.IN: f.contains_in,
            n.EQ: equals,
            n.NE: _not_equals,
            n.LT: _lt,
            n.LE: _le,
            n.GT: _gt,
            n.GE: _ge,
            n.ADD: f.add,
            n.SUB: f.sub,
            n.MUL: f.mul,
            n.DIV: f.div,
            n.MOD: f.mod,
        }
        if name in operators:
            return operators[name]
        table = f.METHODS if method else f.GLOBAL_FUNCTIONS
        if name not in table:
            other = f.GLOBAL_FUNCTIONS if method else f.METHODS
            hint = ""
            if name in other:
                hint = f" (call it as {name}(x))" if method else f" (call it as x.{name}(…))"
            raise CelSyntaxError(f"unsupported function {name!r}{hint}", node.line, node.column)
        arity, impl = table[name]
        if len(node.args) != arity:
            raise CelSyntaxError(
                f"{name}() takes {arity} argument(s), got {len(node.args)}", node.line, node.column
            )
        if name == "matches":
            return _cached_matches()
        impl_fn: Callable[..., Any] = impl
        return impl_fn

    def _specialise(self, name: str, parts: list[tuple[Fn, bool, Any]]) -> Fn | None:
        if len(parts) != 2:
            return None
        (a, a_const, a_val), (b, b_const, b_val) = parts
        if name in (n.EQ, n.NE) and (a_const or b_const):
            fn, const = (a, b_val) if b_const else (b, a_val)
            negate = name == n.NE
            if type(const) is str:
                text = const

                def eq_str(act: dict[Any, Any]) -> bool:
                    v = fn(act)
                    # A non-string never equals a string (heterogeneous equality).
                    return (type(v) is str and v == text) is not negate

                return eq_str
            if type(const) is bool:
                flag = const

                def eq_bool(act: dict[Any, Any]) -> bool:
                    v = fn(act)
                    return (type(v) is bool and v is flag) is not negate

                return eq_bool
        if (
            name == n.IN
            and b_const
            and type(b_val) in (list, tuple)
            and b_val
            and all(type(item) is str for item in b_val)
        ):
            members = frozenset(b_val)

            def in_strings(act: dict[Any, Any]) -> bool:
                v = a(act)
                if type(v) is str:
                    return v in members
                return f.contains_in(v, b_val)

            return in_strings
        return None

    def _logic(self, node: n.Call, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        (a, a_const, a_val), (b, b_const, b_val) = (self._c(arg, scope) for arg in node.args)
        is_and = node.function == n.AND
        absorbing = not is_and  # && is decided by false, || by true
        if (a_const and a_val is absorbing) or (b_const and b_val is absorbing):
            return _const(absorbing)
        if a_const and b_const and type(a_val) is bool and type(b_val) is bool:
            return _const(a_val and b_val if is_and else a_val or b_val)
        op = node.function

        def logic(act: dict[Any, Any]) -> Any:
            try:
                left = a(act)
            except CelError as exc:
                left = exc
            if left is absorbing:
                return absorbing
            try:
                right = b(act)
            except CelError as exc:
                right = exc
            if right is absorbing:
                return absorbing
            if left is (not absorbing) and right is (not absorbing):
                return not absorbing
            if isinstance(left, CelError):
                raise left
            if isinstance(right, CelError):
                raise right
            raise no_overload(op, left, right)

        return logic, False, None

    def _conditional(self, node: n.Call, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        (c, c_const, c_val), (a, _, _), (b, _, _) = (self._c(arg, scope) for arg in node.args)
        if c_const and type(c_val) is bool:
            return self._c(node.args[1] if c_val else node.args[2], scope)

        def conditional(act: dict[Any, Any]) -> Any:
            cond = c(act)
            if cond is True:
                return a(act)
            if cond is False:
                return b(act)
            raise no_overload("_?_:_", cond)

        return conditional, False, None

    # ---- literals ---------------------------------------------------------------------------

    def _list(self, node: n.ListLit, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        items = [self._c(item, scope) for item in node.items]
        if all(is_const for _, is_const, _ in items):
            return _const(tuple(value for _, _, value in items))
        fns = [fn for fn, _, _ in items]
        return (lambda act: [fn(act) for fn in fns]), False, None

    def _map(self, node: n.MapLit, scope: dict[str, int]) -> tuple[Fn, bool, Any]:
        entries = [(self._c(k, scope), self._c(v, scope)) for k, v in node.entries]
        fns = [(k[0], v[0]) for k, v in entries]

        def build(act: dict[Any, Any]) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for kf, vf in fns:
                key = kf(act)
                if type(key) not in (str, int, bool, Uint):
                    raise CelError(f"unsupported map key type: {type_name(key)}")
                if map_lookup(out, key)[0] or (type(key) is not str and key in out):
                    raise CelError(f"repeated map key: {key!r}")
                out[key] = vf(act)
            return out

        if all(k[1] and v[1] for k, v in entries):
            try:
                return _const(build({}))
            except CelError:
                pass
        return build, False, None

    # ---- comprehensions ---------------------------------------------------------------------

    def _comprehension(self, node: n.Comprehension, scope: dict[str, int]) -> tuple[Fn, bool, Any]:  # noqa: PLR0915 - one closure per macro over a shared range and slot
        rng, _, _ = self._c(node.range, scope)
        slot = next(self._slots)
        inner = {**scope, node.var: slot}
        pred = self._c(node.predicate, inner)[0] if node.predicate is not None else None
        transform = self._c(node.transform, inner)[0] if node.transform is not None else None
        kind = node.kind

        def items(act: dict[Any, Any]) -> Any:
            value = rng(act)
            tv = type(value)
            if tv is list or tv is tuple or tv is dict:
                return list(value)
            raise no_overload(kind, value)

        if kind in ("all", "exists"):
            decisive = kind == "exists"

            def quantifier(act: dict[Any, Any]) -> bool:
                assert pred is not None
                error: CelError | None = None
                for item in items(act):
                    act[slot] = item
                    try:
                        result = pred(act)
                    except CelError as exc:
                        error = error or exc
                        continue
                    if result is decisive:
                        return bool(decisive)
                    if result is not (not decisive):
                        error = error or no_overload(kind, result)
                if error is not None:
                    raise error
                return not decisive

            return quantifier, False, None
        if kind == "exists_one":

            def exists_one(act: dict[Any, Any]) -> bool:
                assert pred is not None
                count = 0
                for item in items(act):
                    act[slot] = item
                    result = pred(act)
                    if result is True:
                        count += 1
                    elif result is not False:
                        raise no_overload("exists_one", result)
                return count == 1

            return exists_one, False, None
        if kind == "filter":

            def filter_(act: dict[Any, Any]) -> list[Any]:
                assert pred is not None
                out = []
                for item in items(act):
                    act[slot] = item
                    result = pred(act)
                    if result is True:
                        out.append(item)
                    elif result is not False:
                        raise no_overload("filter", result)
                return out

            return filter_, False, None

        def map_(act: dict[Any, Any]) -> list[Any]:
            assert transform is not None
            out = []
            for item in items(act):
                act[slot] = item
                if pred is not None:
                    keep = pred(act)
                    if keep is False:
                        continue
                    if keep is not True:
                        raise no_overload("map", keep)
                out.append(transform(act))
            return out

        return map_, False, None


# ---- closure builders -------------------------------------------------------------------------


def _const(value: Any) -> tuple[Fn, bool, Any]:
    return (lambda act: value), True, value


def _lazy(fn: Fn, slot: int) -> Fn:
    def variable(act: dict[Any, Any]) -> Any:
        try:
            value = act[slot]
        except KeyError:
            try:
                value = fn(act)
            except CelError as exc:
                value = _ErrorBox(exc)
            act[slot] = value
        if type(value) is _ErrorBox:
            raise value.error
        return value

    return variable


def _select_value(value: Any, field: str) -> Any:
    if type(value) is dict:
        try:
            return value[field]
        except KeyError:
            raise CelError(f"no such key: {field!r}") from None
    raise CelError(f"type {type_name(value)} has no field {field!r}")


def _select(operand: Fn, field: str) -> Fn:
    def select(act: dict[Any, Any]) -> Any:
        value = operand(act)
        if type(value) is dict:
            try:
                return value[field]
            except KeyError:
                raise CelError(f"no such key: {field!r}") from None
        raise CelError(f"type {type_name(value)} has no field {field!r}")

    return select


def _select_input(root: str, field: str) -> Fn:
    """``root.field`` for an input name: one closure instead of two."""

    def select_input(act: dict[Any, Any]) -> Any:
        try:
            value = act[root]
        except KeyError:
            raise CelError(f"undeclared reference to {root!r}") from None
        if type(value) is dict:
            try:
                return value[field]
            except KeyError:
                raise CelError(f"no such key: {field!r}") from None
        raise CelError(f"type {type_name(value)} has no field {field!r}")

    return select_input


def _has(operand: Fn, field: str) -> Fn:
    def has(act: dict[Any, Any]) -> bool:
        value = operand(act)
        if type(value) is dict:
            return field in value
        raise no_overload("has", value)

    return has


def _not(value: Any) -> bool:
    if value is True:
        return False
    if value is False:
        return True
    raise no_overload("!_", value)


def _not_equals(a: Any, b: Any) -> bool:
    return not equals(a, b)


def _lt(a: Any, b: Any) -> bool:
    a, b = orderable("_<_", a, b)
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    a, b = orderable("_<=_", a, b)
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    a, b = orderable("_>_", a, b)
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    a, b = orderable("_>=_", a, b)
    return bool(a >= b)


def _cached_matches() -> Callable[[Any, Any], bool]:
    cache: dict[str, Any] = {}

    def matches(text: Any, pattern: Any) -> bool:
        if type(text) is not str or type(pattern) is not str:
            raise no_overload("matches", text, pattern)
        regex = cache.get(pattern)
        if regex is None:
            regex = cache[pattern] = f.compile_regex(pattern)
        return regex.search(text) is not None

    return matches
