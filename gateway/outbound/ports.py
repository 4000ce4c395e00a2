"""What the gateway needs from its collaborators, as small Protocols (the engine, the audit log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Decision(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def reasons(self) -> list[str]: ...
    @property
    def warnings(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...


class PolicyEvaluator(Protocol):
    def evaluate(self, policy_input: Mapping[str, Any]) -> Decision: ...


class AuditTrail(Protocol):
    """:class:`gateway.audit.AuditLog`'s recording method."""

    def record(
        self,
        user_id: str,
        action: str,
        resource_type: str,
        resource_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...
