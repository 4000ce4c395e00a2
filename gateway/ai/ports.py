"""What the suggestion flow needs of a knowledge base and a drafting backend (retrieve → draft).

Two implementations of each: Bedrock (knowledge-base ``Retrieve``, agent ``InvokeAgent``) in AWS, and
an offline one over a folder of Markdown documents in the embedded default. The flow
(:mod:`gateway.ai.service`) sees only these types, so the drafting backend can be swapped by
configuration (Bedrock Agents → AgentCore) without touching it.

References have the shape of Bedrock's ``retrievalResults`` items once parsed, so the citations, the
stored interaction and the UI are the same whichever knowledge base answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Reference:
    """One retrieved passage: its text, where it comes from, how well it matched."""

    text: str
    document: str  # a stable name for the source document (S3 URI, file name, web URL)
    location: Mapping[str, Any]  # Bedrock's ``location`` object, as returned
    score: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "document": self.document,
            "location": dict(self.location),
            "score": self.score,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Draft:
    """A suggested reply and what produced it."""

    text: str
    backend: str  # "bedrock-agent", "local"
    model: str  # agent id/alias or the local drafter's name
    citations: Sequence[Reference] = ()  # the references the draft cites (a subset of those given)
    trace: Mapping[str, Any] = field(default_factory=dict)  # backend details worth keeping (ids, counts)


class AIError(Exception):
    """A knowledge base or drafting backend did not answer. ``retryable``: throttling, timeouts, 5xx."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


class Retriever(Protocol):
    name: str

    def retrieve(self, query: str, *, max_results: int = 5) -> list[Reference]:
        """The best passages for ``query``, best first. Raises :class:`AIError`."""
        ...


class Drafter(Protocol):
    name: str

    def draft(self, query: str, references: Sequence[Reference], *, session_id: str) -> Draft:
        """A reply to ``query`` grounded in ``references``; ``session_id`` is one per contact.
        Raises :class:`AIError`."""
        ...
