"""The Bedrock retriever and drafter against a real ``bedrock-agent-runtime`` client under ``Stubber``.

Every request is checked against the service model and the exact parameters expected. InvokeAgent's
``completion`` is an event stream: the tests encode the events in the wire format (validated one by one
against the stream's shape first) and hand the drafter a real ``botocore.eventstream.EventStream`` over
those bytes, so it reads what boto3 yields in production, including an error event raised as
``EventStreamError`` mid-iteration.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import EventStream
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.parsers import EventStreamJSONParser
from botocore.serialize import RestJSONSerializer
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

from gateway.ai.bedrock import BedrockAgentDrafter, BedrockRetriever
from gateway.ai.ports import AIError, Reference

KNOWLEDGE_BASE_ID = "FZBPKGTOYE"
AGENT_ID = "HQNT0JXN8G"
ALIAS_ID = "TSTALIASID"
SESSION_ID = "contact-7f3a9c"
QUERY = "Where is my parcel?"

S3_LOCATION = {"type": "S3", "s3Location": {"uri": "s3://wecare-kb/shipping/delivery-times.md"}}
WEB_LOCATION = {"type": "WEB", "webLocation": {"url": "https://wecare.digital/help/returns"}}


def _client(**config: Any) -> Any:
    return boto3.client(
        "bedrock-agent-runtime",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(**config),
    )


@pytest.fixture
def client() -> Any:
    return _client()


# --- an InvokeAgent event stream, encoded as the service sends it -------------------------------------


def _completion_shape(client: Any) -> Any:
    return client.meta.service_model.operation_model("InvokeAgent").output_shape.members["completion"]


def _message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC), string headers, payload, message CRC."""
    encoded_headers = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded_headers) + len(payload) + 4, len(encoded_headers))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", binascii.crc32(message))


def _validated(client: Any, events: Sequence[Mapping[str, Any]]) -> None:
    # Stubber cannot check an event stream member (see _stub_invoke_agent), so each event is checked here,
    # in the form boto3 yields it, against the stream's shape: unknown members or wrong types fail.
    shape = _completion_shape(client)
    for event in events:
        assert len(event) == 1, event
        validate_parameters(event, shape)


class _WireBody:
    """What botocore reads an event stream from (urllib3's response): ``stream()`` and ``close()``."""

    def __init__(self, messages: Sequence[bytes], then: Exception | None = None) -> None:
        self._messages = messages
        self._then = then
        self.closed = False

    def stream(self) -> Iterator[bytes]:
        yield from self._messages
        if self._then is not None:
            raise self._then

    def close(self) -> None:
        self.closed = True


def _event_stream(
    client: Any, events: Sequence[Mapping[str, Any]], then: Exception | None = None
) -> tuple[EventStream, _WireBody]:
    """A real EventStream over ``events`` encoded by botocore's own JSON serializer (blobs base64 ...)."""
    _validated(client, events)
    shape = _completion_shape(client)
    serializer = RestJSONSerializer()
    messages = []
    for event in events:
        [(name, body)] = event.items()
        member = shape.members[name]
        if member.metadata.get("exception"):
            headers = {":message-type": "exception", ":exception-type": name}
        else:
            headers = {":message-type": "event", ":event-type": name}
        payload = serializer._serialize_body_params(body, member)
        messages.append(_message({**headers, ":content-type": "application/json"}, payload))
    body = _WireBody(messages, then)
    return EventStream(body, shape, EventStreamJSONParser(), "InvokeAgent"), body


def _stub_invoke_agent(
    stubber: Any, monkeypatch: pytest.MonkeyPatch, completion: Any, expected_params: Mapping[str, Any]
) -> None:
    # Stubber validates the response against the output shape, where ``completion`` is an eventstream
    # structure: only a dict passes, never the iterable boto3 returns. For this stubber alone, check the rest
    # of the response as usual and leave the events to _validated.
    validate = stubber._validate_response

    def validate_all_but_the_stream(shape: Any, response: Mapping[str, Any]) -> None:
        # ``completion`` is required: an empty dict stands in for it (a valid stream of no events).
        validate(shape, {**response, "completion": {}})

    monkeypatch.setattr(stubber, "_validate_response", validate_all_but_the_stream)
    stubber.add_response(
        "invoke_agent",
        {"completion": completion, "contentType": "application/json", "sessionId": SESSION_ID},
        expected_params,
    )


def _invoke_params(input_text: str) -> dict[str, Any]:
    return {
        "agentId": AGENT_ID,
        "agentAliasId": ALIAS_ID,
        "sessionId": SESSION_ID,
        "inputText": input_text,
        "enableTrace": True,
    }


def _trace(kind: str, text: str) -> dict[str, Any]:
    return {
        "trace": {
            "agentId": AGENT_ID,
            "agentAliasId": ALIAS_ID,
            "agentVersion": "1",
            "sessionId": SESSION_ID,
            "eventTime": datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
            "trace": {kind: {"modelInvocationInput": {"text": text, "traceId": "t-1"}}},
        }
    }


def _citation(text: str, location: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "generatedResponsePart": {"textResponsePart": {"text": text, "span": {"start": 0, "end": len(text)}}},
        "retrievedReferences": [
            {"content": {"text": text, "type": "TEXT"}, "location": location, "metadata": metadata}
        ],
    }


# --- Retrieve ---------------------------------------------------------------------------------------------


def test_retrieve_sends_the_exact_request_and_parses_the_passages_best_first(client: Any) -> None:
    response = {
        "retrievalResults": [
            {
                "content": {"text": "Parcels arrive within 3 working days.", "type": "TEXT"},
                "location": S3_LOCATION,
                "score": 0.82,
                "metadata": {"x-amz-bedrock-kb-chunk-id": "c-1", "page": 2, "tags": ["shipping", "eu"]},
            },
            {
                "content": {"type": "IMAGE", "byteContent": "data:image/png;base64,AAAA"},
                "location": S3_LOCATION,
            },
            {"content": {"text": "", "type": "TEXT"}, "location": WEB_LOCATION, "score": 0.7},
            {
                "content": {"text": "Returns are free for 30 days.", "type": "TEXT"},
                "location": WEB_LOCATION,
                "score": 0.61,
            },
        ]
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "retrieve",
            response,
            {
                "knowledgeBaseId": KNOWLEDGE_BASE_ID,
                "retrievalQuery": {"text": QUERY},
                "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3}},
            },
        )
        references = BedrockRetriever(client, KNOWLEDGE_BASE_ID).retrieve(QUERY, max_results=3)
        stubber.assert_no_pending_responses()

    # The image and the empty passage have no text to quote and are left out; the order is the service's.
    assert references == [
        Reference(
            text="Parcels arrive within 3 working days.",
            document="s3://wecare-kb/shipping/delivery-times.md",
            location=S3_LOCATION,
            score=0.82,
            metadata={"x-amz-bedrock-kb-chunk-id": "c-1", "page": 2, "tags": ["shipping", "eu"]},
        ),
        Reference(
            text="Returns are free for 30 days.",
            document="https://wecare.digital/help/returns",
            location=WEB_LOCATION,
            score=0.61,
            metadata={},
        ),
    ]


@pytest.mark.parametrize(
    ("location", "document"),
    [
        ({"type": "CONFLUENCE", "confluenceLocation": {"url": "https://wiki/x"}}, "https://wiki/x"),
        ({"type": "SALESFORCE", "salesforceLocation": {"url": "https://sf/k"}}, "https://sf/k"),
        ({"type": "SHAREPOINT", "sharePointLocation": {"url": "https://sp/d"}}, "https://sp/d"),
        ({"type": "CUSTOM", "customDocumentLocation": {"id": "faq-12"}}, "faq-12"),
        ({"type": "KENDRA", "kendraDocumentLocation": {"uri": "https://kendra/doc"}}, "https://kendra/doc"),
        ({"type": "SQL", "sqlLocation": {"query": "SELECT * FROM faq"}}, "SELECT * FROM faq"),
        ({"type": "ONEDRIVE"}, "ONEDRIVE"),  # no field naming the document: the kind is all there is
    ],
)
def test_each_kind_of_location_names_its_document(
    client: Any, location: dict[str, Any], document: str
) -> None:
    with Stubber(client) as stubber:
        stubber.add_response(
            "retrieve",
            {"retrievalResults": [{"content": {"text": "passage"}, "location": location}]},
            {
                "knowledgeBaseId": KNOWLEDGE_BASE_ID,
                "retrievalQuery": {"text": QUERY},
                "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 5}},
            },
        )
        [reference] = BedrockRetriever(client, KNOWLEDGE_BASE_ID).retrieve(QUERY)

    assert reference.document == document
    assert reference.location == location
    assert reference.score is None


def test_metadata_values_json_cannot_hold_are_stored_as_text() -> None:
    # botocore only parses JSON documents, so no Stubber response can carry these; a client that hands
    # back richer values (a wrapper, a future parser) must still give references that can be stored.
    class _RichMetadataClient:
        def retrieve(self, **_: Any) -> dict[str, Any]:
            when = datetime(2025, 3, 1, tzinfo=UTC)
            metadata = {"updated": when, "nested": {"at": when, "ok": 1.5}, "ratio": float("nan")}
            return {
                "retrievalResults": [
                    {"content": {"text": "t"}, "location": S3_LOCATION, "metadata": metadata}
                ]
            }

    [reference] = BedrockRetriever(_RichMetadataClient(), KNOWLEDGE_BASE_ID).retrieve(QUERY)

    assert reference.metadata == {
        "updated": "2025-03-01 00:00:00+00:00",
        "nested": {"at": "2025-03-01 00:00:00+00:00", "ok": 1.5},
        "ratio": "nan",
    }


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ThrottlingException", 429, True),
        ("ServiceQuotaExceededException", 400, True),
        ("InternalServerException", 500, True),
        ("DependencyFailedException", 424, True),
        ("BadGatewayException", 502, True),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 403, False),
        ("ResourceNotFoundException", 404, False),
        ("ConflictException", 409, False),
        ("SomethingNewException", 503, True),  # not in the table: a 5xx is worth another try
        ("SomethingElseException", 400, False),
    ],
)
def test_service_errors_from_retrieve_become_ai_errors(
    client: Any, code: str, status: int, retryable: bool
) -> None:
    with Stubber(client) as stubber:
        stubber.add_client_error("retrieve", code, "the reason from Bedrock", http_status_code=status)
        with pytest.raises(AIError) as caught:
            BedrockRetriever(client, KNOWLEDGE_BASE_ID).retrieve(QUERY)

    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert "Retrieve on knowledge base FZBPKGTOYE" in caught.value.message
    assert "the reason from Bedrock" in caught.value.message


def test_access_denied_names_the_permission_to_grant(client: Any) -> None:
    with Stubber(client) as stubber:
        stubber.add_client_error("retrieve", "AccessDeniedException", "not authorized", http_status_code=403)
        with pytest.raises(AIError, match="grant bedrock:Retrieve"):
            BedrockRetriever(client, KNOWLEDGE_BASE_ID).retrieve(QUERY)


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (ReadTimeoutError(endpoint_url="https://bedrock-agent-runtime.us-east-1.amazonaws.com"), "TIMEOUT"),
        (
            ConnectTimeoutError(endpoint_url="https://bedrock-agent-runtime.us-east-1.amazonaws.com"),
            "TIMEOUT",
        ),
        (
            EndpointConnectionError(endpoint_url="https://bedrock-agent-runtime.us-east-1.amazonaws.com"),
            "UNREACHABLE",
        ),
    ],
)
def test_network_failures_are_retryable(failure: Exception, code: str) -> None:
    # Raised where the HTTP request would be sent, after the request was validated and signed; retries are
    # off so botocore hands the failure over at once.
    client = _client(retries={"total_max_attempts": 1, "mode": "standard"})
    sent: list[str] = []

    def fail(request: Any, **_: Any) -> None:
        sent.append(request.url)
        raise failure

    client.meta.events.register("before-send.bedrock-agent-runtime.Retrieve", fail)
    with pytest.raises(AIError) as caught:
        BedrockRetriever(client, KNOWLEDGE_BASE_ID).retrieve(QUERY)

    assert sent == [
        f"https://bedrock-agent-runtime.us-east-1.amazonaws.com/knowledgebases/{KNOWLEDGE_BASE_ID}/retrieve"
    ]
    assert caught.value.code == code
    assert caught.value.retryable is True
    assert KNOWLEDGE_BASE_ID in caught.value.message


# --- InvokeAgent ------------------------------------------------------------------------------------------


def test_draft_reads_the_streamed_answer_its_citations_and_trace(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = [
        Reference(
            text="Parcels arrive within 3 working days.", document="delivery-times.md", location=S3_LOCATION
        ),
        Reference(text="Returns are free for 30 days.", document="returns", location=WEB_LOCATION),
    ]
    cited = _citation("Parcels arrive within 3 working days.", S3_LOCATION, {"page": 2})
    euro = "€".encode()
    events = [
        _trace("preProcessingTrace", "classify"),
        {"chunk": {"bytes": b"Your parcel arrives within 3 working days; delivery costs 5 " + euro[:1]}},
        _trace("orchestrationTrace", "answer"),
        # The same passage cited twice is one citation; the euro sign is split across two chunks.
        {"chunk": {"bytes": euro[1:] + b".", "attribution": {"citations": [cited]}}},
        {"chunk": {"bytes": b"", "attribution": {"citations": [cited]}}},
        _trace("orchestrationTrace", "final"),
    ]
    completion, wire = _event_stream(client, events)
    expected_input = (
        "Where is my parcel?\n\nRelevant passages:\n"
        "[1] delivery-times.md: Parcels arrive within 3 working days.\n"
        "[2] returns: Returns are free for 30 days."
    )
    with Stubber(client) as stubber:
        _stub_invoke_agent(stubber, monkeypatch, completion, _invoke_params(expected_input))
        draft = BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, given, session_id=SESSION_ID)
        stubber.assert_no_pending_responses()

    assert draft.text == "Your parcel arrives within 3 working days; delivery costs 5 €."
    assert draft.backend == "bedrock-agent"
    assert draft.model == "HQNT0JXN8G/TSTALIASID"
    assert draft.citations == (
        Reference(
            text="Parcels arrive within 3 working days.",
            document="s3://wecare-kb/shipping/delivery-times.md",
            location=S3_LOCATION,
            metadata={"page": 2},
        ),
    )
    assert draft.trace == {
        "agentId": AGENT_ID,
        "agentAliasId": ALIAS_ID,
        "sessionId": SESSION_ID,
        "chunks": 3,
        "traceEvents": 3,
        "traceKinds": {"orchestrationTrace": 2, "preProcessingTrace": 1},
    }
    assert wire.closed


def test_without_references_the_agent_gets_the_message_alone(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    completion, _ = _event_stream(client, [{"chunk": {"bytes": b"Hello!"}}])
    with Stubber(client) as stubber:
        _stub_invoke_agent(stubber, monkeypatch, completion, _invoke_params(QUERY))
        draft = BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, [], session_id=SESSION_ID)

    assert draft.text == "Hello!"
    assert draft.citations == ()
    assert draft.trace["traceEvents"] == 0


@pytest.mark.parametrize(
    ("event", "code", "retryable"),
    [
        ("throttlingException", "ThrottlingException", True),
        ("dependencyFailedException", "DependencyFailedException", True),
        ("modelNotReadyException", "ModelNotReadyException", True),
        ("validationException", "ValidationException", False),
        ("accessDeniedException", "AccessDeniedException", False),
    ],
)
def test_an_error_event_in_the_stream_becomes_an_ai_error(
    client: Any, monkeypatch: pytest.MonkeyPatch, event: str, code: str, retryable: bool
) -> None:
    # botocore raises EventStreamError (a ClientError) when it reads the error event, after the chunk.
    completion, wire = _event_stream(
        client, [{"chunk": {"bytes": b"Your parcel"}}, {event: {"message": "the agent's reason"}}]
    )
    with Stubber(client) as stubber:
        _stub_invoke_agent(stubber, monkeypatch, completion, _invoke_params(QUERY))
        with pytest.raises(AIError) as caught:
            BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, [], session_id=SESSION_ID)

    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert f"InvokeAgent on agent {AGENT_ID} (alias {ALIAS_ID}, session {SESSION_ID})" in caught.value.message
    assert "the agent's reason" in caught.value.message
    assert wire.closed


def test_an_error_event_yielded_as_a_parsed_event_also_becomes_an_ai_error(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stream handed over as parsed events (a wrapper, another botocore) yields the error as an event.
    events: list[dict[str, Any]] = [
        {"chunk": {"bytes": b"Your parcel"}},
        {"internalServerException": {"message": "boom"}},
    ]
    _validated(client, events)
    with Stubber(client) as stubber:
        _stub_invoke_agent(stubber, monkeypatch, events, _invoke_params(QUERY))
        with pytest.raises(AIError) as caught:
            BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, [], session_id=SESSION_ID)

    assert caught.value.code == "InternalServerException"
    assert caught.value.retryable is True
    assert "boom" in caught.value.message


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ThrottlingException", 429, True),
        ("ValidationException", 400, False),
        ("ConflictException", 409, False),
    ],
)
def test_service_errors_from_invoke_agent_become_ai_errors(
    client: Any, code: str, status: int, retryable: bool
) -> None:
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "invoke_agent", code, "the reason", http_status_code=status, expected_params=_invoke_params(QUERY)
        )
        with pytest.raises(AIError) as caught:
            BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, [], session_id=SESSION_ID)
        stubber.assert_no_pending_responses()

    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert AGENT_ID in caught.value.message
    assert ALIAS_ID in caught.value.message


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        # A stream is read straight from urllib3 (botocore does not wrap it), so its own exceptions arrive.
        (URLLib3ReadTimeoutError(None, "/agents/HQNT0JXN8G", "Read timed out."), "TIMEOUT"),  # type: ignore[arg-type]
        (ProtocolError("Connection broken: ConnectionResetError(104)"), "UNREACHABLE"),
    ],
    ids=["read-timeout", "connection-broken"],
)
def test_a_network_failure_mid_answer_is_retryable(
    client: Any, monkeypatch: pytest.MonkeyPatch, failure: Exception, code: str
) -> None:
    completion, wire = _event_stream(client, [{"chunk": {"bytes": b"Your parcel"}}], then=failure)
    with Stubber(client) as stubber:
        _stub_invoke_agent(stubber, monkeypatch, completion, _invoke_params(QUERY))
        with pytest.raises(AIError) as caught:
            BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, [], session_id=SESSION_ID)

    assert caught.value.code == code
    assert caught.value.retryable is True
    assert AGENT_ID in caught.value.message
    assert wire.closed


@pytest.mark.parametrize(
    "events",
    [
        [],
        [_trace("orchestrationTrace", "thinking")],
        [{"chunk": {"bytes": b"  \n"}}],
    ],
    ids=["no-events", "trace-only", "blank-chunk"],
)
def test_an_answer_without_text_is_an_empty_response(
    client: Any, monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]]
) -> None:
    completion, _ = _event_stream(client, events)
    with Stubber(client) as stubber:
        _stub_invoke_agent(stubber, monkeypatch, completion, _invoke_params(QUERY))
        with pytest.raises(AIError) as caught:
            BedrockAgentDrafter(client, AGENT_ID, ALIAS_ID).draft(QUERY, [], session_id=SESSION_ID)

    assert caught.value.code == "EMPTY_RESPONSE"
    assert caught.value.retryable is False
    assert "returned no text" in caught.value.message
