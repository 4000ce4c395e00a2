"""``PolicyEngine``: a compiled bundle that turns a policy input into a :class:`Decision`.

Pure: no I/O, no clock (``now`` is part of the input). ``engine="fast"`` (the default) runs the
closure compiler; ``engine="celpy"`` runs cel-python, the reference the fast path is proven
against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from gateway.policy import fast, reference
from gateway.policy.bundle import Bundle
from gateway.policy.decision import Decision
from gateway.policy.program import Program, explain, run

EngineName = Literal["fast", "celpy"]
ENGINES: tuple[EngineName, ...] = ("fast", "celpy")


class PolicyEngine:
    def __init__(self, bundle: Bundle, engine: EngineName = "fast") -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        self.bundle = bundle
        self.engine: EngineName = engine
        self._program: Program = (fast if engine == "fast" else reference).compile_bundle(bundle)

    def evaluate(self, policy_input: Mapping[str, Any]) -> Decision:
        """The decision for one request. Never raises for bad input: it denies (POLICY_ERROR)."""
        return run(self._program, policy_input)

    def explain(self, policy_input: Mapping[str, Any]) -> dict[str, Any]:
        """The decision with every policy's match, variable values and every rule's outcome."""
        to_python = fast.to_python if self.engine == "fast" else reference.to_python
        return explain(self._program, policy_input, to_python)

    def describe(self) -> dict[str, Any]:
        """The bundle as the API shows it: version, digest, files, policies and rules."""
        b = self.bundle
        return {
            "name": b.name,
            "version": b.version,
            "digest": b.digest,
            "description": b.description,
            "engine": self.engine,
            "files": list(b.files),
            "changelog": [
                {"version": c.version, "date": c.date, "changes": list(c.changes)} for c in b.changelog
            ],
            "params": b.params,
            "reasons": b.reasons(),
            "policies": [
                {
                    "name": p.name,
                    "file": p.file,
                    "description": p.description,
                    "header": p.header,
                    "requirements": list(p.requirements),
                    "match": p.match.source if p.match is not None else None,
                    "variables": [{"name": v.name, "expression": v.expression.source} for v in p.variables],
                    "rules": [
                        {
                            "name": r.name,
                            "action": r.action,
                            "reason": r.reason,
                            "message": r.message,
                            "expression": r.expression.source,
                            "match": r.match.source if r.match is not None else None,
                            "line": r.line,
                        }
                        for r in p.rules
                    ],
                }
                for p in b.policies
            ],
        }
