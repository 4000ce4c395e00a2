"""``wecare policy lint``: compile and type-check every expression of a bundle.

Errors (a bundle with any does not load): syntax, CEL the engine does not support, unknown
names and fields (``contact.optinSms``), operators on types that can never work, a rule or
match that is not a bool, a message expression that is not a string. Warnings: a policy file
without its header comment, a variable no rule uses.
"""

from __future__ import annotations

from gateway.policy.bundle import Bundle, Expression, Policy
from gateway.policy.cel import nodes as n
from gateway.policy.cel.checker import Checker, T, input_type, obj, type_of_value
from gateway.policy.cel.parser import CelSyntaxError
from gateway.policy.errors import BundleError, Problem
from gateway.policy.fast import compile_bundle, freeze, parse_cached
from gateway.policy.schema import INPUT_TYPES


def lint_bundle(bundle: Bundle) -> list[Problem]:
    compiled: list[Problem] = []
    try:
        compile_bundle(bundle)
    except BundleError as exc:
        compiled.extend(exc.problems)
    problems: list[Problem] = []
    base_env: dict[str, T] = {
        **input_type(INPUT_TYPES),
        "params": type_of_value(freeze(bundle.params), "params"),
    }
    for policy in bundle.policies:
        if not policy.header:
            problems.append(
                Problem(
                    policy.file,
                    1,
                    "no header comment: say which requirement this policy "
                    "implements and why, for the compliance officer reading it",
                    "warning",
                )
            )
        _PolicyLint(policy, base_env, problems).run()
    # Where the type checker explains a line (with a suggestion), the compiler's terser
    # complaint about the same line adds nothing.
    explained = {(p.file, p.line) for p in problems if p.severity == "error"}
    problems.extend(p for p in compiled if (p.file, p.line) not in explained)
    problems.sort(key=lambda p: (p.file, p.line, p.severity))
    return _dedupe(problems)


class _PolicyLint:
    def __init__(self, policy: Policy, base_env: dict[str, T], problems: list[Problem]) -> None:
        self.policy = policy
        self.env = dict(base_env)
        self.problems = problems
        self.used: set[str] = set()

    def run(self) -> None:
        policy = self.policy
        var_types: dict[str, T] = {}
        for var in policy.variables:
            self.env["variables"] = obj("variables", var_types)
            var_types[var.name] = self.check(var.expression, None, f"variable {var.name}")
        self.env["variables"] = obj("variables", var_types)
        if policy.match is not None:
            self.check(policy.match, "bool", "a policy match")
        for rule in policy.rules:
            if rule.match is not None:
                self.check(rule.match, "bool", f"the match of rule {rule.name}")
            self.check(rule.expression, "bool", f"rule {rule.name}")
            if rule.message_expression is not None:
                self.check(rule.message_expression, "string", f"the messageExpression of rule {rule.name}")
        for var in policy.variables:
            if var.name not in self.used:
                self.problems.append(
                    Problem(
                        var.expression.file,
                        var.expression.line,
                        f"variable {var.name!r} is never used",
                        "warning",
                    )
                )

    def check(self, expr: Expression, expected: str | None, what: str) -> T:
        try:
            tree = parse_cached(expr.source)
        except CelSyntaxError:
            return T("dyn")  # already reported by the compiler
        self.used.update(_variables_used(tree))
        checker = Checker(self.env)
        result = checker.check(tree)
        for issue in checker.issues:
            self.problems.append(Problem(expr.file, expr.file_line(issue.line, issue.column), issue.message))
        if expected is not None and result.name not in (expected, "dyn") and not checker.issues:
            self.problems.append(
                Problem(expr.file, expr.line, f"{what} must be a {expected}, but this is a {result}")
            )
        return result


def _variables_used(tree: n.Node) -> set[str]:
    return {
        node.field
        for node in n.walk(tree)
        if isinstance(node, n.Select)
        and isinstance(node.operand, n.Ident)
        and node.operand.name == "variables"
    }


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
