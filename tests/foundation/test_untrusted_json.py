"""Every hand-written decoder of outside JSON answers arbitrary input with its one documented bad-input
error, never another exception (a ``RecursionError`` used to escape as a 500 and a critical alert).

Inputs: arbitrary bytes, arbitrary text, arbitrary JSON values (nested up to the strategy's depth), and
pathologically deep documents built on purpose (hypothesis rarely nests thousands of levels by itself).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import safejson
from gateway.auth.jwks import parse_jwks
from gateway.cli.policy import explain_command
from gateway.config import ConfigError
from gateway.errors import InvalidInput
from gateway.inbound.errors import PayloadError
from gateway.inbound.parse import RawEvent, load_json, parse_event, split_document
from gateway.outbound.dlq import replay_outbound
from gateway.secrets import parse_ssm_env_config
from gateway.store.cursor import CursorCodec
from gateway.store.port import InvalidCursor

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)


@st.composite
def deep_documents(draw: st.DrawFn) -> str:
    depth = draw(st.integers(min_value=60, max_value=20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    closed = draw(st.booleans())
    inner = draw(st.sampled_from(["1", '"x"', "[]", ""]))
    return opener * depth + inner + (closer * depth if closed else "")


untrusted_text = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    deep_documents(),
    json_values.map(lambda v: json.dumps({"Message": json.dumps(v), "Type": "Notification"})),
)
untrusted = st.one_of(untrusted_text, st.binary(max_size=200), untrusted_text.map(str.encode))

quick = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(untrusted)
def test_safejson_raises_only_its_own_error(data: str | bytes) -> None:
    try:
        safejson.loads(data)
    except safejson.JsonInputError as exc:
        assert str(exc)  # a message a person can act on
        assert isinstance(exc, ValueError)


def test_safejson_bounds_nesting_before_parsing() -> None:
    with pytest.raises(safejson.JsonInputError, match="nests"):
        safejson.loads("[" * 100 + "]" * 100)
    assert safejson.loads("[" * 64 + "]" * 64) is not None
    in_a_string = json.dumps({"a": "[" * 100})
    assert safejson.loads(in_a_string) == {"a": "[" * 100}


@quick
@given(untrusted)
def test_inbound_decoding_is_a_payload_error_or_an_event(data: str | bytes) -> None:
    try:
        document = load_json(data, "event")
        for event in split_document(document):
            parse_event(event)
    except PayloadError as exc:
        assert str(exc)


@quick
@given(untrusted_text)
def test_a_dead_letter_payload_is_a_payload_error_or_an_event(payload: str) -> None:
    try:
        RawEvent.from_payload(payload)
    except PayloadError as exc:
        assert str(exc)


@quick
@given(st.one_of(untrusted_text, json_values.map(lambda v: json.dumps(v).encode().hex())))
def test_a_cursor_is_refused_as_invalid_cursor(cursor: str) -> None:
    codec = CursorCodec(b"k" * 32)
    try:
        codec.decode(cursor, "s:Messages")
    except InvalidCursor as exc:
        assert exc.code == "INVALID_CURSOR"


@quick
@given(json_values.filter(lambda v: isinstance(v, dict)))
def test_a_genuine_cursor_round_trips(key: dict[str, Any]) -> None:
    codec = CursorCodec(b"k" * 32)
    assert codec.decode(codec.encode(key, "scope"), "scope") == key
    with pytest.raises(InvalidCursor):
        CursorCodec(b"j" * 32).decode(codec.encode(key, "scope"), "scope")  # another deployment's key


class _NoSend:
    def send(self, request: Any) -> Any:
        raise AssertionError("a malformed dead letter must never reach the gateway")


@quick
@given(untrusted_text.filter(lambda t: not t.lstrip().startswith("{")))
def test_an_outbound_dead_letter_that_is_not_an_object_is_invalid_input(payload: str) -> None:
    try:
        replay_outbound(_NoSend(), payload)  # type: ignore[arg-type]
    except InvalidInput as exc:
        assert str(exc)


@quick
@given(untrusted_text)
def test_amplify_ssm_config_is_a_config_error(raw: str) -> None:
    try:
        parse_ssm_env_config(raw)
    except ConfigError as exc:
        assert "AMPLIFY_SSM_ENV_CONFIG" in str(exc)


@quick
@given(untrusted)
def test_a_jwks_document_is_a_value_error(document: str | bytes) -> None:
    try:
        parse_jwks(document)
    except ValueError as exc:
        assert str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(untrusted_text)
def test_a_policy_input_file_is_a_clear_cli_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(text, encoding="utf-8")

    class Args:
        policies = Path(__file__).resolve().parents[2] / "policies"
        input = path
        engine = "fast"
        format = "json"

    out, err = io.StringIO(), io.StringIO()
    code = explain_command(Args(), out, err, io.StringIO())  # type: ignore[arg-type]
    assert code in (0, 1)
    if code == 1:
        assert err.getvalue().startswith("wecare:")
