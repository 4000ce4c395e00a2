"""The AWS implementations of :mod:`gateway.ai.ports`: a Bedrock knowledge base and a Bedrock agent.

Both take a ``bedrock-agent-runtime`` client, injected (the composition root creates it, so importing this
module costs no AWS session and tests can put a ``Stubber`` on a real client). Every failure, a service
error, an error event inside the agent's stream or a network problem, leaves as :class:`AIError`, with
``retryable`` decided by one table (:data:`_SERVICE_ERRORS`) and a message naming the knowledge base or
agent and what to do about it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

from gateway.ai.ports import AIError, Draft, Reference

# Bedrock's error codes → (retryable, what the person reading the message can do). ``{operation}`` is the
# API called, which is also the IAM action (bedrock:Retrieve, bedrock:InvokeAgent). Keys are the
# ``ClientError`` codes; errors inside the agent's stream carry the same names in camelCase
# (``throttlingException``) and are normalised before the lookup.
_SERVICE_ERRORS: dict[str, tuple[bool, str]] = {
    "ThrottlingException": (True, "Bedrock is throttling requests; retry shortly, or ask for a higher quota"),
    # The model documents it as "Resubmit your request later": a rate quota, not a permanent limit.
    "ServiceQuotaExceededException": (True, "a Bedrock quota is exhausted; retry later or raise the quota"),
    "InternalServerException": (True, "Bedrock had an internal error; retry"),
    "DependencyFailedException": (
        True,
        "a resource the agent relies on (model, knowledge base, action group Lambda) failed; retry, then "
        "check that resource",
    ),
    "BadGatewayException": (True, "a resource Bedrock called answered badly; retry, then check it"),
    "ModelNotReadyException": (True, "the model is not ready to serve requests yet; retry in a few seconds"),
    "ValidationException": (False, "Bedrock rejected the request as invalid; check the configured ids"),
    "AccessDeniedException": (
        False,
        "the gateway's AWS role may not call it; grant bedrock:{operation} on this resource",
    ),
    "ResourceNotFoundException": (
        False,
        "it does not exist in this account and region; check the configured id and the region",
    ),
    "ConflictException": (
        False,
        "it conflicts with a request in progress (the same session?); retry once that one has finished",
    ),
}

# Error events the agent can send inside its ``completion`` stream (the members of the stream's shape).
_STREAM_ERROR_EVENTS = frozenset(code[0].lower() + code[1:] for code in _SERVICE_ERRORS)

# Where each kind of ``location`` keeps the name of its document, in the order they are tried.
_DOCUMENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("s3Location", "uri"),
    ("webLocation", "url"),
    ("confluenceLocation", "url"),
    ("salesforceLocation", "url"),
    ("sharePointLocation", "url"),
    ("googleDriveLocation", "url"),
    ("oneDriveLocation", "url"),
    ("customDocumentLocation", "id"),
    ("kendraDocumentLocation", "uri"),
    ("sqlLocation", "query"),
)


def _json_safe(value: Any) -> Any:
    """``value`` with everything JSON cannot hold turned into text: references are stored and shown."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return str(value)


def _document_name(location: Mapping[str, Any]) -> str:
    for kind, field in _DOCUMENT_FIELDS:
        name = (location.get(kind) or {}).get(field)
        if name:
            return str(name)
    return str(location.get("type") or "unknown")


def _reference(result: Mapping[str, Any]) -> Reference | None:
    """A ``retrievalResults`` item (or an agent citation's ``retrievedReferences`` item) as a
    :class:`Reference`; ``None`` when it has no text (images, table rows), which a reply cannot quote."""
    text = (result.get("content") or {}).get("text")
    if not text:
        return None
    location = result.get("location") or {}
    score = result.get("score")
    return Reference(
        text=str(text),
        document=_document_name(location),
        location=location,
        score=float(score) if score is not None else None,
        metadata=_json_safe(result.get("metadata") or {}),
    )


def _service_error(code: str, message: str, *, operation: str, target: str, status: int | None) -> AIError:
    code = code[:1].upper() + code[1:]
    known = _SERVICE_ERRORS.get(code)
    if known is None:
        # Not in the table: only a server-side failure (5xx) is worth trying again.
        retryable, hint = (status is not None and status >= 500), "see the message from Bedrock"
    else:
        retryable, hint = known
    return AIError(
        f"Bedrock {operation} on {target} failed: {code}: {message or 'no message'}; "
        + hint.format(operation=operation),
        code=code,
        retryable=retryable,
    )


@contextmanager
def _bedrock_errors(operation: str, target: str) -> Iterator[None]:
    """Turns whatever botocore raises during ``operation`` into :class:`AIError`; ``target`` names the
    knowledge base or agent for the message."""
    try:
        yield
    except ClientError as exc:  # also EventStreamError: an error event read from the agent's stream
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise _service_error(
            str(error.get("Code", "")),
            str(error.get("Message", "")),
            operation=operation,
            target=target,
            status=status if isinstance(status, int) else None,
        ) from exc
    # The agent's stream is read straight from urllib3, so a timeout mid-answer arrives as urllib3's
    # ReadTimeoutError, which botocore's (based on its vendored copy of urllib3) does not cover.
    except (ReadTimeoutError, URLLib3ReadTimeoutError, ConnectTimeoutError) as exc:
        raise AIError(
            f"Bedrock {operation} on {target} timed out: {exc}; retry, or raise the client's timeouts if "
            "it keeps happening",
            code="TIMEOUT",
            retryable=True,
        ) from exc
    except EndpointConnectionError as exc:
        raise AIError(
            f"Bedrock {operation} on {target} could not reach the service: {exc}; check network access "
            "to AWS and the region",
            code="UNREACHABLE",
            retryable=True,
        ) from exc
    except ProtocolError as exc:  # the connection dropped while the agent's answer was streaming
        raise AIError(
            f"Bedrock {operation} on {target} lost the connection mid-answer: {exc}; retry",
            code="UNREACHABLE",
            retryable=True,
        ) from exc
    except BotoCoreError as exc:
        # Credentials, parameter validation, a broken response: retrying the same call will not help.
        raise AIError(
            f"Bedrock {operation} on {target} failed before an answer: {exc}; check the credentials, the "
            "region and the request",
            code="CLIENT_FAILURE",
            retryable=False,
        ) from exc


class BedrockRetriever:
    """A Bedrock knowledge base, queried with ``Retrieve`` (vector search, best passages first)."""

    def __init__(self, client: Any, knowledge_base_id: str, *, name: str = "bedrock-kb") -> None:
        self._client = client
        self.knowledge_base_id = knowledge_base_id
        self.name = name

    def retrieve(self, query: str, *, max_results: int = 5) -> list[Reference]:
        with _bedrock_errors("Retrieve", f"knowledge base {self.knowledge_base_id}"):
            response = self._client.retrieve(
                knowledgeBaseId=self.knowledge_base_id,
                retrievalQuery={"text": query},
                retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": max_results}},
            )
        references = (_reference(result) for result in response.get("retrievalResults", []))
        return [reference for reference in references if reference is not None]


def _input_text(query: str, references: Sequence[Reference]) -> str:
    """The customer's message, then the passages already retrieved, numbered with their documents so the
    agent can ground its answer in them (and its citations can be matched to them)."""
    if not references:
        return query
    passages = "\n".join(
        f"[{number}] {reference.document}: {reference.text}"
        for number, reference in enumerate(references, start=1)
    )
    return f"{query}\n\nRelevant passages:\n{passages}"


class BedrockAgentDrafter:
    """A Bedrock agent, asked with ``InvokeAgent`` for a reply; its streamed answer is read to the end."""

    def __init__(
        self, client: Any, agent_id: str, agent_alias_id: str, *, name: str = "bedrock-agent"
    ) -> None:
        self._client = client
        self.agent_id = agent_id
        self.agent_alias_id = agent_alias_id
        self.name = name

    def draft(self, query: str, references: Sequence[Reference], *, session_id: str) -> Draft:
        target = f"agent {self.agent_id} (alias {self.agent_alias_id}, session {session_id})"
        chunks: list[bytes] = []
        citations: list[Reference] = []
        trace_kinds: Counter[str] = Counter()
        trace_events = 0
        # The request and the reading of the stream are one operation: the service reports throttling,
        # dependency failures ... as events in the stream, and the connection can time out mid-answer.
        with _bedrock_errors("InvokeAgent", target):
            response = self._client.invoke_agent(
                agentId=self.agent_id,
                agentAliasId=self.agent_alias_id,
                sessionId=session_id,
                inputText=_input_text(query, references),
                enableTrace=True,
            )
            stream = response["completion"]
            try:
                for event in stream:
                    error_event = next((key for key in event if key in _STREAM_ERROR_EVENTS), None)
                    if error_event is not None:
                        # botocore raises EventStreamError for these; a stream handed over as parsed
                        # events (or a future botocore) may yield them instead.
                        raise _service_error(
                            error_event,
                            str(event[error_event].get("message", "")),
                            operation="InvokeAgent",
                            target=target,
                            status=None,
                        )
                    if "chunk" in event:
                        chunk = event["chunk"]
                        chunks.append(bytes(chunk.get("bytes", b"")))
                        for citation in (chunk.get("attribution") or {}).get("citations", []):
                            for item in citation.get("retrievedReferences", []):
                                reference = _reference(item)
                                if reference is not None and reference not in citations:
                                    citations.append(reference)
                    elif "trace" in event:
                        trace_events += 1
                        trace_kinds.update((event["trace"].get("trace") or {}).keys())
            finally:
                # Release the HTTP connection even when the answer is abandoned half-read.
                close = getattr(stream, "close", None)
                if callable(close):
                    close()
        # Decoded once, whole: a multi-byte character may be split across two chunks.
        text = b"".join(chunks).decode("utf-8", errors="replace").strip()
        if not text:
            raise AIError(
                f"Bedrock InvokeAgent on {target} returned no text; check the agent's instructions and "
                "that its alias points at a prepared version",
                code="EMPTY_RESPONSE",
                retryable=False,
            )
        return Draft(
            text=text,
            backend="bedrock-agent",
            model=f"{self.agent_id}/{self.agent_alias_id}",
            citations=tuple(citations),
            trace={
                "agentId": self.agent_id,
                "agentAliasId": self.agent_alias_id,
                "sessionId": session_id,
                "chunks": len(chunks),
                "traceEvents": trace_events,
                "traceKinds": dict(sorted(trace_kinds.items())),
            },
        )
