"""The policy test runner behind ``wecare policy test``: cases, rule coverage, mutation check.

A case file (``policy-tests/*.yaml``)::

    base: { ... a policy input every case starts from (optional) ... }
    cases:
      - name: free-form WhatsApp outside the window needs a template
        input: { ... merged over base; null removes a field ... }
        expect:
          allowed: false
          reasons: [TEMPLATE_REQUIRED]   # each listed code must be among the decision's reasons
          warnings: [FREE_FORM_OUTSIDE_WINDOW]   # optional, likewise for warnings
          audits: []                     # optional, likewise for audit records
          exact: true                    # optional: the listed codes are all there may be

Pure: it takes file texts and an engine; reading folders is the loader's job.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from gateway.policy.bundle import POLICY_ERROR, Bundle
from gateway.policy.decision import FAIL, PASS, Decision
from gateway.policy.engine import EngineName, PolicyEngine
from gateway.policy.errors import BundleError, CaseFileError, Problem
from gateway.policy.yamlsrc import Located, YamlError, load

_CASE_KEYS = {"name", "description", "input", "expect"}
_EXPECT_KEYS = {"allowed", "reasons", "warnings", "audits", "exact"}


@dataclass(frozen=True)
class Expect:
    allowed: bool
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] | None = None
    audits: tuple[str, ...] | None = None
    exact: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    line: int
    input: dict[str, Any]
    expect: Expect

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def merge(base: Any, patch: Any) -> Any:
    """``patch`` over ``base``: mappings merge recursively, ``None`` removes a key."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_cases(files: Mapping[str, str], known_reasons: set[str] | None = None) -> list[Case]:
    problems: list[Problem] = []
    cases: list[Case] = []
    names: dict[str, str] = {}
    for file in sorted(files):
        try:
            doc = load(files[file])
        except YamlError as exc:
            problems.append(Problem(file, exc.line, exc.message))
            continue
        reader = _CaseFile(file, doc, problems, known_reasons)
        for case in reader.cases():
            if case.name in names:
                reader.problem(case.line, f"case name {case.name!r} is also used at {names[case.name]}")
            names[case.name] = case.where
            cases.append(case)
    if problems:
        raise CaseFileError(problems)
    return cases


class _CaseFile:
    def __init__(self, file: str, doc: Located, problems: list[Problem], known: set[str] | None) -> None:
        self.file = file
        self.doc = doc
        self.problems = problems
        self.known = known

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def unknown_keys(
        self, path: tuple[str | int, ...], value: dict[str, Any], allowed: set[str], what: str
    ) -> None:
        for key in sorted(set(value) - allowed):
            self.problem(
                self.doc.line((*path, key)),
                f"unknown key {key!r} in {what}; allowed: {', '.join(sorted(allowed))}",
            )

    def cases(self) -> list[Case]:
        root = self.doc.value
        if not isinstance(root, dict) or not isinstance(root.get("cases"), list):
            self.problem(1, "a case file needs a list under 'cases'")
            return []
        self.unknown_keys((), root, {"base", "cases", "description"}, "a case file")
        base = root.get("base", {})
        if not isinstance(base, dict):
            self.problem(self.doc.line(("base",)), "base must be a policy input mapping")
            base = {}
        out = []
        for i, raw in enumerate(root["cases"]):
            case = self.case(("cases", i), raw, base)
            if case is not None:
                out.append(case)
        return out

    def codes(self, path: tuple[str | int, ...], value: Any) -> tuple[str, ...] | None:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(self.doc.line(path), "expected a list of reason codes")
            return None
        for code in value:
            if self.known is not None and code not in self.known:
                self.problem(
                    self.doc.line(path),
                    f"unknown reason code {code!r}; the bundle has: {', '.join(sorted(self.known))}",
                )
        return tuple(value)

    def case(self, path: tuple[str | int, ...], raw: Any, base: dict[str, Any]) -> Case | None:
        line = self.doc.line(path)
        if not isinstance(raw, dict):
            self.problem(line, "each case must be a mapping with name, input and expect")
            return None
        self.unknown_keys(path, raw, _CASE_KEYS, "a case")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(line, "a case needs a name")
            return None
        patch = raw.get("input", {})
        if not isinstance(patch, dict):
            self.problem(self.doc.line((*path, "input")), "input must be a mapping")
            return None
        epath = (*path, "expect")
        expect_raw = raw.get("expect")
        if not isinstance(expect_raw, dict) or not isinstance(expect_raw.get("allowed"), bool):
            self.problem(self.doc.line(epath), "expect needs allowed: true or false")
            return None
        self.unknown_keys(epath, expect_raw, _EXPECT_KEYS, "expect")
        reasons = self.codes((*epath, "reasons"), expect_raw.get("reasons"))
        optional = {
            key: self.codes((*epath, key), expect_raw.get(key)) if key in expect_raw else None
            for key in ("warnings", "audits")
        }
        exact = expect_raw.get("exact", False)
        if not isinstance(exact, bool):
            self.problem(self.doc.line((*epath, "exact")), "exact must be true or false")
            exact = False
        if expect_raw["allowed"] and reasons:
            self.problem(self.doc.line(epath), "an allowed case cannot expect deny reasons")
        if reasons is None:
            return None
        expect = Expect(expect_raw["allowed"], reasons, optional["warnings"], optional["audits"], exact)
        return Case(name.strip(), self.file, line, merge(base, patch), expect)


# ---- running ---------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: Case
    decision: Decision
    mismatches: list[str]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def check_case(case: Case, decision: Decision) -> list[str]:
    e = case.expect
    out: list[str] = []
    if decision.allowed != e.allowed:
        out.append(f"allowed: expected {str(e.allowed).lower()}, got {str(decision.allowed).lower()}")
    for label, expected, actual in (
        ("reasons", e.reasons, decision.reasons),
        ("warnings", e.warnings, decision.warnings),
        ("audits", e.audits, decision.audits),
    ):
        if expected is None:
            if e.exact and label == "reasons" and actual:
                out.append(f"reasons: expected none, got {list(actual)}")
            continue
        missing = [c for c in expected if c not in actual]
        if missing:
            out.append(f"{label}: expected {list(expected)}, got {list(actual)} (missing {missing})")
        elif e.exact and set(actual) != set(expected):
            extra = [c for c in actual if c not in expected]
            out.append(f"{label}: expected exactly {list(expected)}, got {list(actual)} (unexpected {extra})")
    return out


@dataclass
class RuleCoverage:
    policy: str
    rule: str
    file: str
    line: int
    passed: int = 0
    failed: int = 0

    @property
    def covered(self) -> bool:
        return self.passed > 0 and self.failed > 0


@dataclass
class RunReport:
    engine: str
    bundle: dict[str, str]
    results: list[CaseResult]
    coverage: list[RuleCoverage]
    min_coverage: float | None = None
    mutants: list[MutantResult] | None = None

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def coverage_percent(self) -> float:
        if not self.coverage:
            return 100.0
        return 100.0 * sum(c.covered for c in self.coverage) / len(self.coverage)

    @property
    def surviving_mutants(self) -> list[MutantResult]:
        return [m for m in self.mutants or [] if not m.killed]

    @property
    def ok(self) -> bool:
        if self.failures or self.surviving_mutants:
            return False
        return self.min_coverage is None or self.coverage_percent >= self.min_coverage

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "engine": self.engine,
            "bundle": self.bundle,
            "cases": {
                "total": len(self.results),
                "passed": len(self.results) - len(self.failures),
                "failed": len(self.failures),
            },
            "results": [
                {
                    "name": r.case.name,
                    "where": r.case.where,
                    "passed": r.passed,
                    "mismatches": r.mismatches,
                    "expected": _expect_dict(r.case.expect),
                    "actual": _actual_dict(r.decision),
                }
                for r in self.results
            ],
            "coverage": {
                "percent": round(self.coverage_percent, 2),
                "minimum": self.min_coverage,
                "rules": [
                    {
                        "policy": c.policy,
                        "rule": c.rule,
                        "where": f"{c.file}:{c.line}",
                        "passed": c.passed,
                        "failed": c.failed,
                        "covered": c.covered,
                    }
                    for c in self.coverage
                ],
            },
        }
        if self.mutants is not None:
            out["mutation"] = {
                "total": len(self.mutants),
                "killed": sum(m.killed for m in self.mutants),
                "survivors": [m.to_dict() for m in self.surviving_mutants],
            }
        return out

    def text(self, *, verbose: bool = True) -> str:
        lines = [
            f"bundle {self.bundle['name']} {self.bundle['version']} ({self.bundle['digest'][:19]}…), "
            f"engine {self.engine}"
        ]
        for r in self.results:
            if r.passed:
                if verbose:
                    lines.append(f"  PASS  {r.case.name}")
                continue
            lines.append(f"  FAIL  {r.case.name}  ({r.case.where})")
            lines.append(f"        expected: {json.dumps(_expect_dict(r.case.expect))}")
            lines.append(f"        actual:   {json.dumps(_actual_dict(r.decision))}")
            lines.extend(f"        - {m}" for m in r.mismatches)
        passed = len(self.results) - len(self.failures)
        lines.append(f"{passed}/{len(self.results)} cases passed")
        covered = sum(c.covered for c in self.coverage)
        lines.append(
            f"rule coverage: {covered}/{len(self.coverage)} rules seen both passing and failing "
            f"({self.coverage_percent:.1f} %)"
        )
        for c in self.coverage:
            if not c.covered:
                sides = (("passing", c.passed), ("failing", c.failed))
                missing = " and ".join(side for side, n in sides if n == 0)
                lines.append(f"  not covered: {c.policy}/{c.rule} ({c.file}:{c.line}) never seen {missing}")
        if self.min_coverage is not None and self.coverage_percent < self.min_coverage:
            lines.append(
                f"coverage {self.coverage_percent:.1f} % is below the minimum {self.min_coverage:g} %"
            )
        if self.mutants is not None:
            killed = sum(m.killed for m in self.mutants)
            lines.append(f"mutation check: {killed}/{len(self.mutants)} mutants killed")
            for m in self.surviving_mutants:
                lines.append(
                    f"  untested rule: {m.policy}/{m.rule} ({m.where}) — the mutant '{m.mutation}' "
                    f"({m.expression}) passes every case"
                )
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)

    def junit(self) -> str:
        suite = ET.Element(
            "testsuite",
            name=f"policy-tests ({self.engine})",
            tests=str(len(self.results)),
            failures=str(len(self.failures)),
            errors="0",
            skipped="0",
        )
        for r in self.results:
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=r.case.file.removesuffix(".yaml"),
                name=r.case.name,
                file=r.case.file,
                line=str(r.case.line),
            )
            if not r.passed:
                failure = ET.SubElement(tc, "failure", message="; ".join(r.mismatches))
                failure.text = (
                    f"expected: {json.dumps(_expect_dict(r.case.expect))}\n"
                    f"actual:   {json.dumps(_actual_dict(r.decision))}"
                )
        for c in self.coverage:
            tc = ET.SubElement(suite, "testcase", classname="coverage", name=f"{c.policy}/{c.rule}")
            if not c.covered and self.min_coverage is not None and self.min_coverage >= 100:
                ET.SubElement(tc, "failure", message="rule not seen both passing and failing")
        suites = ET.Element("testsuites")
        suites.append(suite)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _expect_dict(e: Expect) -> dict[str, Any]:
    out: dict[str, Any] = {"allowed": e.allowed, "reasons": list(e.reasons)}
    if e.warnings is not None:
        out["warnings"] = list(e.warnings)
    if e.audits is not None:
        out["audits"] = list(e.audits)
    if e.exact:
        out["exact"] = True
    return out


def _actual_dict(d: Decision) -> dict[str, Any]:
    return {
        "allowed": d.allowed,
        "reasons": list(d.reasons),
        "warnings": list(d.warnings),
        "audits": list(d.audits),
    }


def run_cases(engine: PolicyEngine, cases: list[Case], *, min_coverage: float | None = None) -> RunReport:
    coverage = {
        (p.name, r.name): RuleCoverage(p.name, r.name, r.file, r.line) for p, r in engine.bundle.rules()
    }
    results = []
    for case in cases:
        decision = engine.evaluate(case.input)
        results.append(CaseResult(case, decision, check_case(case, decision)))
        for key, outcome in zip(decision.rule_keys, decision.outcomes, strict=True):
            if outcome == PASS:
                coverage[key].passed += 1
            elif outcome == FAIL:
                coverage[key].failed += 1
    b = engine.bundle
    return RunReport(
        engine.engine,
        {"name": b.name, "version": b.version, "digest": b.digest},
        results,
        list(coverage.values()),
        min_coverage,
    )


# ---- the mutation check ------------------------------------------------------------------------


@dataclass
class MutantResult:
    policy: str
    rule: str
    where: str
    mutation: str  # negated | true
    expression: str
    killed_by: list[str] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "rule": self.rule,
            "where": self.where,
            "mutation": self.mutation,
            "expression": self.expression,
            "killedBy": self.killed_by[:5],
        }


MUTATIONS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("negated", lambda source: f"!({source})"),
    ("true", lambda source: "true"),
)


def mutate(bundle: Bundle, cases: list[Case], engine: EngineName = "fast") -> list[MutantResult]:
    """Each rule in turn negated, then replaced by ``true``; some case must fail for every mutant."""
    results = []
    for policy, rule in bundle.rules():
        for label, mutation in MUTATIONS:
            source = mutation(rule.expression.source)
            mutant = MutantResult(policy.name, rule.name, f"{rule.file}:{rule.line}", label, source)
            try:
                mutated = bundle.with_rule_expression(policy.name, rule.name, source)
                mutant_engine = PolicyEngine(mutated, engine)
            except BundleError:  # pragma: no cover - negation and `true` always compile
                mutant.killed_by.append("(does not compile)")
                results.append(mutant)
                continue
            for case in cases:
                if check_case(case, mutant_engine.evaluate(case.input)):
                    mutant.killed_by.append(case.name)
            results.append(mutant)
    return results


def reason_codes(bundle: Bundle) -> set[str]:
    return {*bundle.reasons(), POLICY_ERROR}
