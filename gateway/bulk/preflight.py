"""Preflight: the decision every recipient of a job would get now, with no side effect.

It asks the gateway itself (:meth:`~gateway.outbound.gateway.Gateway.decide`): the same contact snapshot,
window, tier counters, input builder and engine as a real send, and nothing is written (no message, no
token, no tier count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.outbound.records import Decided
from gateway.outbound.types import OutboundRequest


class Decider(Protocol):
    """What preflight needs of :class:`~gateway.outbound.gateway.Gateway`."""

    def decide(self, request: OutboundRequest) -> Decided: ...


@dataclass
class Preflight:
    total: int = 0
    would_send: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    opens_conversations: int = 0

    def add(self, decided: Decided) -> None:
        self.total += 1
        if decided.decision.allowed:
            self.would_send += 1
            if decided.policy_input["tier"]["opensConversation"]:
                self.opens_conversations += 1
        else:
            for reason in decided.decision.reasons or ["UNSPECIFIED"]:
                self.refused[reason] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "wouldSend": self.would_send,
            "refused": dict(sorted(self.refused.items())),
            "opensConversations": self.opens_conversations,
        }


def preflight(decider: Decider, requests: Iterable[OutboundRequest]) -> Preflight:
    answer = Preflight()
    for request in requests:
        answer.add(decider.decide(request))
    return answer
