"""What-if replay: re-evaluate recorded policy inputs under a candidate bundle.

Pure evaluation — no counters, no sends, no writes. For each recorded input the current bundle
(the baseline) and the candidate decide; every flip (allow→deny, deny→allow) is reported with
counts by reason and a few examples, which is what a compliance officer needs before approving
a policy change. Where the record carries the decision actually taken, disagreements between
it and the baseline are counted too (drift: the record was made under another bundle version).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.policy.engine import PolicyEngine

ALLOW_TO_DENY = "allow→deny"
DENY_TO_ALLOW = "deny→allow"


@dataclass(frozen=True)
class ReplayRecord:
    id: str
    policy_input: Mapping[str, Any]
    recorded: Mapping[str, Any] | None = None  # the stored decision, if any


@dataclass(frozen=True)
class Flip:
    id: str
    direction: str
    baseline_reasons: tuple[str, ...]
    candidate_reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction,
            "baselineReasons": list(self.baseline_reasons),
            "candidateReasons": list(self.candidate_reasons),
        }


@dataclass
class ReplayReport:
    baseline: dict[str, str]
    candidate: dict[str, str]
    total: int = 0
    flips: list[Flip] = field(default_factory=list)
    reason_changes: int = 0  # same allow/deny, different reasons or warnings
    by_reason: dict[str, Counter[str]] = field(
        default_factory=lambda: {ALLOW_TO_DENY: Counter(), DENY_TO_ALLOW: Counter()}
    )
    drift: int = 0  # recorded decision disagrees with the baseline's
    examples_per_reason: int = 3

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(f.direction for f in self.flips)
        return {ALLOW_TO_DENY: c[ALLOW_TO_DENY], DENY_TO_ALLOW: c[DENY_TO_ALLOW]}

    def examples(self) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {ALLOW_TO_DENY: {}, DENY_TO_ALLOW: {}}
        for flip in self.flips:
            reasons = flip.candidate_reasons if flip.direction == ALLOW_TO_DENY else flip.baseline_reasons
            for reason in reasons:
                bucket = out[flip.direction].setdefault(reason, [])
                if len(bucket) < self.examples_per_reason:
                    bucket.append(flip.id)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "total": self.total,
            "flips": self.counts,
            "byReason": {d: dict(counter.most_common()) for d, counter in self.by_reason.items()},
            "examples": self.examples(),
            "reasonChanges": self.reason_changes,
            "drift": self.drift,
            "flipped": [f.to_dict() for f in self.flips],
        }

    def text(self) -> str:
        b, c = self.baseline, self.candidate
        lines = [
            f"baseline  {b['name']} {b['version']} ({b['digest'][:19]}…)",
            f"candidate {c['name']} {c['version']} ({c['digest'][:19]}…)",
            f"{self.total} recorded decisions re-evaluated (no side effects)",
        ]
        counts = self.counts
        lines.append(f"flips: {counts[ALLOW_TO_DENY]} allow→deny, {counts[DENY_TO_ALLOW]} deny→allow")
        examples = self.examples()
        labels = ((ALLOW_TO_DENY, "now refused because of"), (DENY_TO_ALLOW, "no longer refused for"))
        for direction, label in labels:
            for reason, n in self.by_reason[direction].most_common():
                ids = ", ".join(examples[direction].get(reason, []))
                lines.append(f"  {direction} {n:6}  {label} {reason}   e.g. {ids}")
        if self.reason_changes:
            lines.append(f"{self.reason_changes} decisions keep allow/deny but change reasons or warnings")
        if self.drift:
            lines.append(
                f"{self.drift} recorded decisions differ from what the baseline decides today "
                "(recorded under another bundle version)"
            )
        if not self.flips:
            lines.append("no decision flips")
        return "\n".join(lines)


def _ref(engine: PolicyEngine) -> dict[str, str]:
    b = engine.bundle
    return {"name": b.name, "version": b.version, "digest": b.digest}


def replay(
    records: Iterable[ReplayRecord],
    baseline: PolicyEngine,
    candidate: PolicyEngine,
    *,
    examples_per_reason: int = 3,
) -> ReplayReport:
    report = ReplayReport(_ref(baseline), _ref(candidate), examples_per_reason=examples_per_reason)
    for record in records:
        report.total += 1
        before = baseline.evaluate(record.policy_input)
        after = candidate.evaluate(record.policy_input)
        if (
            record.recorded is not None
            and "allowed" in record.recorded
            and bool(record.recorded["allowed"]) != before.allowed
        ):
            report.drift += 1
        if before.allowed != after.allowed:
            direction = ALLOW_TO_DENY if before.allowed else DENY_TO_ALLOW
            report.flips.append(Flip(record.id, direction, tuple(before.reasons), tuple(after.reasons)))
            reasons = after.reasons if direction == ALLOW_TO_DENY else before.reasons
            report.by_reason[direction].update(reasons)
        elif before.reasons != after.reasons or before.warnings != after.warnings:
            report.reason_changes += 1
    return report
