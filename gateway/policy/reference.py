"""The reference evaluator: cel-python (``celpy``), one program per expression.

Slow (an interpreter over the parse tree) but independent of the fast closure compiler, so the
differential test can hold the two to identical decisions. Policy variables are evaluated in
order for each policy and installed as the ``variables`` map; an erroring variable is stored
as its error value, which cel-python propagates (or absorbs in ``&&``/``||``) like any other.
"""

from __future__ import annotations

from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from gateway.policy.bundle import Bundle, Expression
from gateway.policy.decision import BundleRef
from gateway.policy.errors import BundleError, Problem
from gateway.policy.fast import compile_bundle as compile_fast
from gateway.policy.program import CompiledPolicy, CompiledRule, Fn, Program

ENGINE = "celpy"


def compile_bundle(bundle: Bundle) -> Program:
    # The fast compiler is the gatekeeper for the supported subset: a bundle is accepted or
    # refused identically whichever evaluator runs it.
    compile_fast(bundle)
    env = celpy.Environment()
    problems: list[Problem] = []

    def program(expr: Expression) -> Fn | None:
        try:
            prg = env.program(env.compile(expr.source))
        except Exception as exc:
            problems.append(Problem(expr.file, expr.line, f"cel-python cannot compile this: {exc}"))
            return None

        def run(act: Any) -> Any:
            return to_python(prg.evaluate(act))

        return run

    def raw_program(expr: Expression) -> Any:
        return env.program(env.compile(expr.source))

    params = json_to_cel(bundle.params)
    policies = []
    for policy in bundle.policies:
        var_programs = [(var.name, raw_program(var.expression)) for var in policy.variables]

        def prepare(
            act: dict[str, Any], var_programs: list[tuple[str, Any]] = var_programs
        ) -> dict[str, Any]:
            values: dict[Any, Any] = {}
            pact = {**act, "variables": celtypes.MapType(values)}
            for name, prg in var_programs:
                try:
                    value = prg.evaluate(pact)
                except CELEvalError as exc:
                    value = exc
                except Exception as exc:  # a cel-python internal failure is an error value too
                    value = CELEvalError(str(exc), type(exc), None)
                values[celtypes.StringType(name)] = value
                pact = {**act, "variables": celtypes.MapType(values)}
            return pact

        def variable_fn(name: str) -> Fn:
            def read(pact: dict[str, Any]) -> Any:
                value = pact["variables"][celtypes.StringType(name)]
                if isinstance(value, CELEvalError):
                    raise value
                return to_python(value)

            return read

        rules = []
        for rule in policy.rules:
            check = program(rule.expression)
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
                    program(rule.match) if rule.match is not None else None,
                    program(rule.message_expression) if rule.message_expression is not None else None,
                )
            )
        match = program(policy.match) if policy.match is not None else None
        policies.append(
            CompiledPolicy(
                policy.name,
                match,
                rules,
                [(v.name, variable_fn(v.name)) for v in policy.variables],
                prepare if var_programs else None,
            )
        )
    if problems:
        raise BundleError(problems)

    def activation(doc: dict[str, Any]) -> dict[str, Any]:
        act: dict[str, Any] = {name: json_to_cel(value) for name, value in doc.items()}
        act["params"] = params
        return act

    ref = BundleRef(bundle.name, bundle.version, bundle.digest)
    return Program(ENGINE, ref, policies, activation, describe_error=_describe)


def _describe(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], str):
        return args[0]
    return str(exc)


def to_python(value: Any) -> Any:
    """cel-python values → plain Python (BoolType → bool, so ``is True`` works)."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value)
    if isinstance(value, celtypes.ListType):
        return [to_python(v) for v in value]
    if isinstance(value, celtypes.MapType):
        return {to_python(k): to_python(v) for k, v in value.items()}
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return value
