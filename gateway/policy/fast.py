"""The fast evaluator: every expression of the bundle compiled once into Python closures.

No per-decision conversion (the closures read the input dicts directly), ``params`` folded in
as constants, policy variables evaluated lazily at most once per decision. See
:mod:`gateway.policy.cel.compiler` for the CEL semantics.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

from gateway.policy.bundle import Bundle, Expression
from gateway.policy.cel.compiler import Compiler, Fn
from gateway.policy.cel.nodes import Node
from gateway.policy.cel.parser import CelSyntaxError, parse
from gateway.policy.cel.values import CelType, Uint
from gateway.policy.decision import BundleRef
from gateway.policy.errors import BundleError, Problem
from gateway.policy.program import CompiledPolicy, CompiledRule, Program
from gateway.policy.schema import INPUT_NAMES

ENGINE = "fast"


@lru_cache(maxsize=4096)
def parse_cached(source: str) -> Node:
    """Parse once per distinct source text (mutation testing recompiles a bundle many times)."""
    return parse(source)


def freeze(value: Any) -> Any:
    """A params value as an immutable CEL constant (lists become tuples)."""
    if isinstance(value, dict):
        return {k: freeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


class _Builder:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.problems: list[Problem] = []
        self.slots = itertools.count(1)
        self.params = freeze(bundle.params)

    def compile(self, compiler: Compiler, expr: Expression) -> Fn | None:
        try:
            return compiler.compile(parse_cached(expr.source))
        except CelSyntaxError as exc:
            self.problems.append(Problem(expr.file, expr.file_line(exc.line, exc.column), exc.message))
            return None

    def program(self) -> Program:
        policies = []
        for policy in self.bundle.policies:
            compiler = Compiler(
                names=INPUT_NAMES, constants={"params": self.params}, variables={}, slots=self.slots
            )
            variables: list[tuple[str, Fn]] = []
            for var in policy.variables:
                fn = self.compile(compiler, var.expression)
                if fn is not None:
                    compiler.add_variable(var.name, fn)
                    assert compiler.variables is not None
                    variables.append((var.name, compiler.variables[var.name]))
            match = self.compile(compiler, policy.match) if policy.match is not None else None
            rules = []
            for rule in policy.rules:
                check = self.compile(compiler, rule.expression)
                rule_match = self.compile(compiler, rule.match) if rule.match is not None else None
                message = (
                    self.compile(compiler, rule.message_expression)
                    if rule.message_expression is not None
                    else None
                )
                if check is None:
                    continue
                rules.append(
                    CompiledRule(
                        policy.name,
                        rule.name,
                        rule.reason,
                        rule.message,
                        rule.action,
                        check,
                        rule_match,
                        message,
                    )
                )
            policies.append(CompiledPolicy(policy.name, match, rules, variables))
        if self.problems:
            raise BundleError(self.problems)
        ref = BundleRef(self.bundle.name, self.bundle.version, self.bundle.digest)
        return Program(ENGINE, ref, policies, _activation)


def _activation(doc: dict[str, Any]) -> dict[Any, Any]:
    # A fresh dict per decision: it also holds comprehension variables and the variable cache
    # under integer keys, which can never clash with the input's names.
    return dict(doc)


def compile_bundle(bundle: Bundle) -> Program:
    """Compile every expression; raise BundleError naming file:line for anything unsupported."""
    return _Builder(bundle).program()


def to_python(value: Any) -> Any:
    if type(value) is Uint:
        return int(value)
    if type(value) is CelType:
        return value.name
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple | list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    return value
