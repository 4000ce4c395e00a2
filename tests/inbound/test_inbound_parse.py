from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.inbound.errors import PayloadError
from gateway.inbound.parse import (
    RawEvent,
    StatusUpdate,
    eum_phone_number_id,
    parse_eum_envelope,
    parse_event,
    split_document,
)

from .events import P1, P2, envelope, fixture_names, load, text_value

EXPECTED_TYPES = {
    "eum-inbound-audio.sns-lambda.json": "audio",
    "eum-inbound-button-template-quick-reply.sns-lambda.json": "button",
    "eum-inbound-contacts.sns-lambda.json": "contacts",
    "eum-inbound-document.sns-lambda.json": "document",
    "eum-inbound-image.sns-lambda.json": "image",
    "eum-inbound-interactive-button-reply.sns-lambda.json": "interactive",
    "eum-inbound-interactive-list-reply.sns-lambda.json": "interactive",
    "eum-inbound-location.sns-lambda.json": "location",
    "eum-inbound-reaction.sns-lambda.json": "reaction",
    "eum-inbound-sticker.sns-lambda.json": "sticker",
    "eum-inbound-text.eum.json": "text",
    "eum-inbound-text.sns-https.json": "text",
    "eum-inbound-text.sns-lambda.json": "text",
    "eum-inbound-unsupported.sns-lambda.json": "unsupported",
    "eum-inbound-video.sns-lambda.json": "video",
}
EXPECTED_STATUSES = {
    "eum-status-delivered.sns-lambda.json": "delivered",
    "eum-status-failed-131047.eum.json": "failed",
    "eum-status-failed-131047.sns-lambda.json": "failed",
    "eum-status-read.sns-lambda.json": "read",
    "eum-status-sent.sns-lambda.json": "sent",
}


def test_every_fixture_is_covered_by_an_expectation() -> None:
    assert set(fixture_names()) == set(EXPECTED_TYPES) | set(EXPECTED_STATUSES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_every_inbound_fixture_parses_unchanged(name: str) -> None:
    events = split_document(load(name))
    assert len(events) == 1 and events[0].source == "eum"
    parsed = parse_event(events[0])
    assert parsed.statuses == []
    [message] = parsed.messages
    assert message.type == EXPECTED_TYPES[name]
    assert message.whatsapp_message_id.startswith("wamid.")
    assert message.phone == "+" + message.wa_id and message.wa_id.isdigit()
    assert message.profile_name in ("Amelia Hughes", "Tomasz Nowak")
    assert message.phone_number_id in (P1, P2)
    assert message.timestamp > 1_750_000_000
    assert message.content["type"] == message.type


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUSES))
def test_every_status_fixture_parses_unchanged(name: str) -> None:
    [event] = split_document(load(name))
    parsed = parse_event(event)
    assert parsed.messages == []
    [status] = parsed.statuses
    assert status.status == EXPECTED_STATUSES[name]
    assert status.aws_message_id  # present on status events
    assert status.phone_number_id in (P1, P2)


def test_the_three_wrappers_of_one_text_event_read_the_same() -> None:
    parsed = [
        parse_event(split_document(load(name))[0]).messages[0]
        for name in (
            "eum-inbound-text.sns-lambda.json",
            "eum-inbound-text.sns-https.json",
            "eum-inbound-text.eum.json",
        )
    ]
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0].text == "Hi, is my order on the way?"
    assert parsed[0].content == {"type": "text", "text": "Hi, is my order on the way?"}
    assert parsed[0].phone_number_id == P1 and parsed[0].meta_phone_number_id == "110200300400501"
    assert parsed[0].display_phone_number == "447700900123"


def test_sns_message_id_names_the_delivery() -> None:
    [lambda_event] = split_document(load("eum-inbound-text.sns-lambda.json"))
    [https_event] = split_document(load("eum-inbound-text.sns-https.json"))
    assert (
        lambda_event.original_id == load("eum-inbound-text.sns-lambda.json")["Records"][0]["Sns"]["MessageId"]
    )
    assert https_event.original_id == "98c7c797-14b5-496c-bfb9-a34680fd8adf"


def test_media_content_and_reference() -> None:
    image = parse_event(split_document(load("eum-inbound-image.sns-lambda.json"))[0]).messages[0]
    assert image.media is not None and image.media.media_id == "1081239475620183"
    assert image.content["caption"] == "Damaged box" and image.content["mimeType"] == "image/jpeg"
    assert image.text == "Damaged box"
    document = parse_event(split_document(load("eum-inbound-document.sns-lambda.json"))[0]).messages[0]
    assert document.media is not None and document.media.filename == "invoice-2025-0918.pdf"
    audio = parse_event(split_document(load("eum-inbound-audio.sns-lambda.json"))[0]).messages[0]
    assert audio.content["voice"] is False and audio.media is not None
    sticker = parse_event(split_document(load("eum-inbound-sticker.sns-lambda.json"))[0]).messages[0]
    assert sticker.content["animated"] is False and sticker.media is not None
    video = parse_event(split_document(load("eum-inbound-video.sns-lambda.json"))[0]).messages[0]
    assert video.phone_number_id == P2 and video.media is not None


def test_structured_types_keep_their_fields() -> None:
    def first(name: str) -> dict[str, Any]:
        return parse_event(split_document(load(name))[0]).messages[0].content

    location = first("eum-inbound-location.sns-lambda.json")
    assert location == {"type": "location", "latitude": 51.5033635, "longitude": -0.1276248}
    contacts = first("eum-inbound-contacts.sns-lambda.json")
    assert contacts["contacts"][0]["name"]["formatted_name"] == "Oliver Bennett"
    button = first("eum-inbound-interactive-button-reply.sns-lambda.json")
    assert button["interactiveType"] == "button_reply" and button["replyId"] == "track_order"
    assert button["context"]["id"].startswith("wamid.")
    listed = first("eum-inbound-interactive-list-reply.sns-lambda.json")
    assert listed["description"] == "Store pickup, Camden" and listed["title"] == "Fri 10:00"
    quick = first("eum-inbound-button-template-quick-reply.sns-lambda.json")
    assert quick["payload"] == "STOP_PROMOS" and quick["text"] == "Stop promotions"
    reaction = first("eum-inbound-reaction.sns-lambda.json")
    assert reaction["emoji"] == "\U0001f44d" and reaction["reactedMessageId"].startswith("wamid.")


def test_unsupported_keeps_raw_json_and_errors() -> None:
    content = (
        parse_event(split_document(load("eum-inbound-unsupported.sns-lambda.json"))[0]).messages[0].content
    )
    assert content["originalType"] == "unsupported"
    assert json.loads(content["raw"])["errors"][0]["code"] == 131051
    assert content["errors"][0]["code"] == 131051


def test_an_unknown_type_is_unsupported_not_a_crash() -> None:
    value = text_value("wamid.X1", "x")
    value["messages"][0] = {
        "from": "447812345678",
        "id": "wamid.X1",
        "timestamp": "1758186994",
        "type": "order",
        "order": {"catalog_id": "c1", "product_items": []},
    }
    [message] = parse_eum_envelope(envelope(value)).messages
    assert message.type == "unsupported"
    assert message.content["originalType"] == "order"
    assert json.loads(message.content["raw"])["order"]["catalog_id"] == "c1"


def test_several_messages_and_statuses_in_one_event() -> None:
    value = text_value("wamid.A", "one")
    value["messages"].append(
        {
            "from": "447898765432",
            "id": "wamid.B",
            "timestamp": "1758186995",
            "type": "text",
            "text": {"body": "two"},
        }
    )
    value["statuses"] = [
        {"id": "wamid.OUT", "status": "delivered", "timestamp": "1758186996", "recipient_id": "447812345678"}
    ]
    parsed = parse_eum_envelope(envelope(value))
    assert [m.whatsapp_message_id for m in parsed.messages] == ["wamid.A", "wamid.B"]
    assert parsed.messages[1].profile_name == ""  # not in value.contacts
    assert [s.status for s in parsed.statuses] == ["delivered"]


def test_status_fields_for_cost_reports() -> None:
    [event] = split_document(load("eum-status-sent.sns-lambda.json"))
    [status] = parse_event(event).statuses
    assert status.conversation == {
        "id": "a75d17ad06104c51166f948319b03c6a",
        "originType": "utility",
        "expirationTimestamp": 1758273600,
    }
    assert status.pricing == {
        "billable": True,
        "pricingModel": "PMP",
        "category": "utility",
        "type": "regular",
    }
    assert StatusUpdate.from_dict(status.to_dict()) == status


def test_non_message_changes_are_ignored_with_a_reason() -> None:
    env = envelope(text_value("wamid.A", "x"))
    entry = json.loads(env["whatsAppWebhookEntry"])
    entry["changes"].append({"field": "message_template_status_update", "value": {"event": "APPROVED"}})
    env["whatsAppWebhookEntry"] = json.dumps(entry)
    parsed = parse_eum_envelope(env)
    assert len(parsed.messages) == 1
    assert parsed.ignored and "message_template_status_update" in parsed.ignored[0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "EUM envelope (SNS Message) is not valid JSON"),
        (json.dumps({"context": {}}), "no 'whatsAppWebhookEntry'"),
        (
            json.dumps({"context": {}, "whatsAppWebhookEntry": "{broken"}),
            "whatsAppWebhookEntry is not valid JSON",
        ),
        (json.dumps({"whatsAppWebhookEntry": 42}), "must be a JSON string"),
        (json.dumps({"whatsAppWebhookEntry": json.dumps({"id": "1"})}), "no 'changes' list"),
        (json.dumps([1, 2]), "EUM envelope must be a JSON object"),
    ],
)
def test_malformed_envelopes_raise_clear_payload_errors(body: str, fragment: str) -> None:
    with pytest.raises(PayloadError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_event(RawEvent("eum", body, "x"))


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ({"id": "wamid.A", "timestamp": "1", "type": "text", "text": {"body": "x"}}, "has no 'from'"),
        ({"from": "447812345678", "id": "wamid.A", "timestamp": "soon", "type": "text"}, "valid 'timestamp'"),
        ({"from": "+44 7812", "id": "wamid.A", "timestamp": "1", "type": "text"}, "6-15 digits"),
        ({"from": "447812345678", "timestamp": "1", "type": "text"}, "message has no 'id'"),
    ],
)
def test_messages_without_identity_are_payload_errors(message: dict[str, Any], fragment: str) -> None:
    value = text_value("wamid.A", "x")
    value["messages"] = [message]
    with pytest.raises(PayloadError, match=fragment):
        parse_eum_envelope(envelope(value))


def test_unrecognised_documents_say_what_was_expected() -> None:
    with pytest.raises(PayloadError, match="unrecognised event document"):
        split_document({"hello": "world"})


def test_meta_webhook_body_splits_into_entries() -> None:
    entry = json.loads(load("eum-inbound-text.eum.json")["whatsAppWebhookEntry"])
    events = split_document({"object": "whatsapp_business_account", "entry": [entry, entry]})
    assert [e.source for e in events] == ["meta", "meta"]
    [message] = parse_event(events[0], {"110200300400501": P1}).messages
    assert message.phone_number_id == P1
    [unmapped] = parse_event(events[0]).messages
    assert unmapped.phone_number_id == "" and unmapped.meta_phone_number_id == "110200300400501"


def test_dead_letter_payload_round_trip() -> None:
    raw = RawEvent("eum", '{"a": 1}', "mid-1")
    assert RawEvent.from_payload(raw.to_payload()) == raw
    with pytest.raises(PayloadError):
        RawEvent.from_payload('{"source": "smtp", "body": "x"}')


def test_eum_phone_number_id_from_arn() -> None:
    assert (
        eum_phone_number_id(
            "arn:aws:social-messaging:us-east-1:809904170947:phone-number-id/baa217c3f11b4ffd956f6f3afb44ce54"
        )
        == P1
    )
    with pytest.raises(PayloadError):
        eum_phone_number_id("arn:aws:social-messaging:us-east-1:809904170947:waba/abc")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_message_like = st.fixed_dictionaries(
    {},
    optional={
        "from": st.sampled_from(["447812345678", "", "abc", 12]),
        "id": st.sampled_from(["wamid.A", "", 5]),
        "timestamp": st.sampled_from(["1758186994", "-1", "x", 3]),
        "type": st.sampled_from(["text", "image", "interactive", "button", "zzz", 7]),
        "text": _json,
        "image": _json,
        "interactive": _json,
        "button": _json,
        "context": _json,
    },
)


_status_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["wamid.O", "", 1]),
        "status": st.sampled_from(["sent", "READ", 3, None]),
        "timestamp": st.sampled_from(["1758186994", "x", -1, 2.5, None]),
        "errors": _json,
        "conversation": _json,
        "pricing": _json,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(_message_like | _json, max_size=3), statuses=st.lists(_status_like | _json, max_size=2)
)
def test_parser_fails_only_with_payload_error(messages: list[Any], statuses: list[Any]) -> None:
    value = text_value("wamid.A", "x")
    value["messages"] = messages
    value["statuses"] = statuses
    try:
        parsed = parse_eum_envelope(envelope(value))
    except PayloadError:
        return
    for message in parsed.messages:
        json.dumps(message.content)  # always storable as JSON
        assert message.type in {"text", "image", "interactive", "button", "unsupported"}
