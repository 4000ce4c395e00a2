"""The decision the engine returns and every stored message keeps (DESIGN "Decision")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASS = "pass"
FAIL = "fail"
ERROR = "error"
SKIPPED = "skipped"  # the policy's or the rule's match did not select this request


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that did not hold (or could not be evaluated: reason POLICY_ERROR)."""

    policy: str
    rule: str
    reason: str
    message: str
    action: str
    error: str = ""  # what went wrong, for POLICY_ERROR (wording depends on the evaluator)

    def to_dict(self, *, with_action: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "rule": self.rule,
            "reason": self.reason,
            "message": self.message,
        }
        if with_action:
            out["action"] = self.action
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class BundleRef:
    name: str
    version: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: list[str]  # deny reason codes, each once, in bundle order
    warnings: list[str]  # warn reason codes
    audits: list[str]  # audit reason codes (recorded, never blocking)
    violations: list[Finding]
    notices: list[Finding]  # warn and audit findings
    bundle: BundleRef
    rule_keys: tuple[tuple[str, str], ...]  # (policy, rule) of every rule, in order
    outcomes: list[str]  # pass | fail | error | skipped, aligned with rule_keys
    input_problems: tuple[str, ...] = ()

    def outcome(self, policy: str, rule: str) -> str:
        return self.outcomes[self.rule_keys.index((policy, rule))]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "violations": [f.to_dict() for f in self.violations],
            "warnings": list(self.warnings),
            "audits": list(self.audits),
            "notices": [f.to_dict(with_action=True) for f in self.notices],
            "evaluated": [
                {"policy": policy, "rule": rule, "outcome": outcome}
                for (policy, rule), outcome in zip(self.rule_keys, self.outcomes, strict=True)
            ],
            "bundle": self.bundle.to_dict(),
        }
        if self.input_problems:
            out["inputProblems"] = list(self.input_problems)
        return out
