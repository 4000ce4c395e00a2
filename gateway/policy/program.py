"""A compiled bundle and the one evaluation loop both evaluators share.

An evaluator (the fast closure compiler, or cel-python as the reference) turns each expression
into a callable ``fn(activation) -> Python value`` that raises on a CEL error. Everything
else — match handling, fail-closed errors, actions, reasons, the decision — is decided here
once, so the two evaluators can only differ in what an expression evaluates to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.policy.bundle import POLICY_ERROR
from gateway.policy.decision import ERROR, FAIL, PASS, SKIPPED, BundleRef, Decision, Finding
from gateway.policy.schema import normalize

Fn = Callable[[Any], Any]


@dataclass(slots=True)
class CompiledRule:
    policy: str
    name: str
    reason: str
    message: str
    action: str
    check: Fn
    match: Fn | None = None
    message_fn: Fn | None = None


@dataclass(slots=True)
class CompiledPolicy:
    name: str
    match: Fn | None
    rules: list[CompiledRule]
    variables: list[tuple[str, Fn]] = field(default_factory=list)
    # Builds this policy's activation from the decision's (the reference evaluator installs
    # the policy's variables there); None: use the decision's activation as it is.
    prepare: Callable[[Any], Any] | None = None


@dataclass
class Program:
    engine: str
    bundle: BundleRef
    policies: list[CompiledPolicy]
    activation: Callable[[dict[str, Any]], Any]  # normalized input → activation
    describe_error: Callable[[BaseException], str] = str
    rule_keys: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        self.rule_keys = tuple((p.name, r.name) for p in self.policies for r in p.rules)


def _error_text(program: Program, exc: BaseException) -> str:
    try:
        return program.describe_error(exc)
    except Exception:  # describing an error must never fail a decision
        return type(exc).__name__


def run(program: Program, policy_input: Mapping[str, Any]) -> Decision:  # noqa: PLR0912, PLR0915 - the hot loop of every decision: inline, fail closed at each step
    """Evaluate every policy; never raises for bad input (fail closed: POLICY_ERROR)."""
    doc, problems = normalize(policy_input)
    act = program.activation(doc)
    outcomes: list[str] = []
    violations: list[Finding] = []
    notices: list[Finding] = []
    for cp in program.policies:
        pact = cp.prepare(act) if cp.prepare is not None else act
        if cp.match is not None:
            try:
                selected = cp.match(pact)
            except Exception as exc:
                selected = exc
            if selected is not True:
                if selected is False:
                    outcomes.extend([SKIPPED] * len(cp.rules))
                    continue
                violations.append(_policy_error(program, cp.name, "match", selected))
                outcomes.extend([ERROR] * len(cp.rules))
                continue
        for cr in cp.rules:
            if cr.match is not None:
                try:
                    selected = cr.match(pact)
                except Exception as exc:
                    selected = exc
                if selected is not True:
                    if selected is False:
                        outcomes.append(SKIPPED)
                        continue
                    violations.append(_policy_error(program, cp.name, cr.name, selected))
                    outcomes.append(ERROR)
                    continue
            try:
                result = cr.check(pact)
            except Exception as exc:
                result = exc
            if result is True:
                outcomes.append(PASS)
                continue
            if result is not False:
                violations.append(_policy_error(program, cp.name, cr.name, result))
                outcomes.append(ERROR)
                continue
            outcomes.append(FAIL)
            finding = Finding(cp.name, cr.name, cr.reason, _message(cr, pact), cr.action)
            if cr.action == "deny":
                violations.append(finding)
            else:
                notices.append(finding)
    reasons = list(dict.fromkeys(f.reason for f in violations))
    warnings = list(dict.fromkeys(f.reason for f in notices if f.action == "warn"))
    audits = list(dict.fromkeys(f.reason for f in notices if f.action == "audit"))
    return Decision(
        not violations,
        reasons,
        warnings,
        audits,
        violations,
        notices,
        program.bundle,
        program.rule_keys,
        outcomes,
        problems,
    )


def _message(cr: CompiledRule, act: Any) -> str:
    if cr.message_fn is None:
        return cr.message
    try:
        text = cr.message_fn(act)
    except Exception:
        return cr.message  # a message must never change a decision
    return text if type(text) is str and text.strip() else cr.message


def _policy_error(program: Program, policy: str, rule: str, problem: Any) -> Finding:
    if isinstance(problem, BaseException):
        detail = _error_text(program, problem)
    else:
        detail = f"expected a bool, got {_describe(problem)}"
    where = f"{policy}/{rule}"
    message = f"rule {where} could not be evaluated, so the send is denied (fail closed)"
    return Finding(policy, rule, POLICY_ERROR, message, "deny", detail)


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


# ---- explain ---------------------------------------------------------------------------------


def explain(
    program: Program, policy_input: Mapping[str, Any], to_python: Callable[[Any], Any]
) -> dict[str, Any]:
    """The decision plus, per policy, its match, its variables' values and every rule's outcome."""
    decision = run(program, policy_input)
    doc, _ = normalize(policy_input)
    act = program.activation(doc)
    outcomes = dict(zip(program.rule_keys, decision.outcomes, strict=True))
    findings = {(f.policy, f.rule): f for f in [*decision.violations, *decision.notices]}
    policies = []
    for cp in program.policies:
        pact = cp.prepare(act) if cp.prepare is not None else act
        entry: dict[str, Any] = {"policy": cp.name, "match": _value(program, cp.match, pact, to_python)}
        entry["variables"] = {name: _value(program, fn, pact, to_python) for name, fn in cp.variables}
        rules = []
        for cr in cp.rules:
            item: dict[str, Any] = {
                "rule": cr.name,
                "action": cr.action,
                "reason": cr.reason,
                "outcome": outcomes[(cp.name, cr.name)],
            }
            if cr.match is not None:
                item["match"] = _value(program, cr.match, pact, to_python)
            item["value"] = _value(program, cr.check, pact, to_python)
            finding = findings.get((cp.name, cr.name))
            if finding is not None:
                item["message"] = finding.message
            rules.append(item)
        entry["rules"] = rules
        policies.append(entry)
    return {"decision": decision.to_dict(), "engine": program.engine, "policies": policies}


def _value(program: Program, fn: Fn | None, act: Any, to_python: Callable[[Any], Any]) -> dict[str, Any]:
    if fn is None:
        return {"value": True, "note": "no match condition: applies to every request"}
    try:
        return {"value": to_python(fn(act))}
    except Exception as exc:
        return {"error": _error_text(program, exc)}
