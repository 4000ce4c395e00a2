from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Environment, SendMode, Settings
from gateway.errors import InvalidInput
from gateway.outbound.policy_input import (
    TierSnapshot,
    build_policy_input,
    contact_section,
    window_open,
    window_seconds_from_params,
)
from gateway.outbound.types import (
    EmailContent,
    MediaContent,
    MediaUpload,
    OutboundRequest,
    TemplateContent,
    TextContent,
)

from .fakes import PARAMS, PN1, contact_item

NOW = 1_764_067_200.0
SETTINGS = Settings(SEND_MODE=SendMode.DRY_RUN, ENVIRONMENT=Environment.production)
TIER = TierSnapshot(limit=250, used24h=3, opens_conversation=True)

# The document's exact shape (DESIGN.md, "Policy input document"), extended by contact.whatsappUnreachable.
TOP = {"now", "request", "contact", "environment", "tier"}
REQUEST = {"channel", "kind", "origin", "phoneNumberId", "bodyLength", "templateName", "approvedBy"}
CONTACT = {
    "found",
    "deleted",
    "optInWhatsApp",
    "optInSms",
    "optInEmail",
    "hasPhone",
    "hasEmail",
    "lastInboundMessageAt",
    "whatsappUnreachable",
}
ENVIRONMENT = {"name", "sendMode", "paused"}
TIER_KEYS = {"limit", "used24h", "opensConversation"}


def text(channel: str = "whatsapp", body: str = "Hello there!", **kw: Any) -> OutboundRequest:
    return OutboundRequest(contact_id="ct_1", channel=channel, content=TextContent(body), **kw)  # type: ignore[arg-type]


def test_document_matches_the_design_example() -> None:
    contact = contact_item("ct_1", now=NOW, sms=False, mail=False, email=None)
    doc = build_policy_input(
        text(), contact, now=NOW, settings=SETTINGS, tier=TierSnapshot(250, 0, True), phone_number_id=PN1
    )
    assert doc == {
        "now": 1764067200,
        "request": {
            "channel": "whatsapp",
            "kind": "text",
            "origin": "api",
            "phoneNumberId": PN1,
            "bodyLength": 12,
            "templateName": "",
            "approvedBy": "",
        },
        "contact": {
            "found": True,
            "deleted": False,
            "optInWhatsApp": True,
            "optInSms": False,
            "optInEmail": False,
            "hasPhone": True,
            "hasEmail": False,
            "lastInboundMessageAt": 0,
            "whatsappUnreachable": False,  # an extension of the design's example
        },
        "environment": {"name": "production", "sendMode": "DRY_RUN", "paused": False},
        "tier": {"limit": 250, "used24h": 0, "opensConversation": True},
    }


def test_missing_contact_fails_closed() -> None:
    doc = build_policy_input(text(), None, now=NOW, settings=SETTINGS, tier=TIER, phone_number_id=PN1)
    assert doc["contact"] == {
        "found": False,
        "deleted": False,
        "optInWhatsApp": False,
        "optInSms": False,
        "optInEmail": False,
        "hasPhone": False,
        "hasEmail": False,
        "lastInboundMessageAt": 0,
        "whatsappUnreachable": False,
    }


def test_a_record_of_another_kind_is_not_a_contact() -> None:
    guard = {"contactId": "phone#+447812345678", "kind": "phone-guard", "optInWhatsApp": True}
    assert contact_section(guard)["found"] is False
    assert contact_section(guard)["optInWhatsApp"] is False


@pytest.mark.parametrize("value", ["true", 1, "yes", None, [True]])
def test_only_a_real_true_counts_as_consent(value: Any) -> None:
    contact = contact_item("ct_1", now=NOW, whatsapp=value, sms=value, mail=value)
    section = contact_section(contact)
    assert (section["optInWhatsApp"], section["optInSms"], section["optInEmail"]) == (False, False, False)


def test_deleted_and_blank_addresses() -> None:
    contact = contact_item("ct_1", now=NOW, deleted=True, phone="  ", email="")
    section = contact_section(contact)
    assert section["deleted"] is True
    assert section["hasPhone"] is False and section["hasEmail"] is False


def test_body_length_counts_code_points() -> None:
    doc = build_policy_input(
        text(body="héllo 👋🏽"), None, now=NOW, settings=SETTINGS, tier=TIER, phone_number_id=PN1
    )
    assert doc["request"]["bodyLength"] == 8  # the skin-tone modifier is its own code point


def test_kind_specific_fields() -> None:
    template = OutboundRequest(
        contact_id="c", channel="whatsapp", content=TemplateContent("order_update", "en_GB")
    )
    media = OutboundRequest(
        contact_id="c",
        channel="whatsapp",
        content=MediaContent("image", upload=MediaUpload(b"x", "image/jpeg"), caption="look"),
    )
    email = OutboundRequest(
        contact_id="c", channel="email", content=EmailContent("Hi", text="abc", html="<b>")
    )
    sms = text("sms", body="ping")
    ai = text(origin="ai", approved_by="u_1")
    docs = [
        build_policy_input(r, None, now=NOW, settings=SETTINGS, tier=TIER, phone_number_id=PN1)["request"]
        for r in (template, media, email, sms, ai)
    ]
    assert (docs[0]["kind"], docs[0]["templateName"], docs[0]["bodyLength"]) == (
        "template",
        "order_update",
        0,
    )
    assert (docs[1]["kind"], docs[1]["bodyLength"]) == ("media", 4)
    assert (docs[2]["kind"], docs[2]["bodyLength"], docs[2]["phoneNumberId"]) == ("email", 3, "")
    assert (docs[3]["kind"], docs[3]["channel"], docs[3]["phoneNumberId"]) == ("text", "sms", "")
    assert (docs[4]["origin"], docs[4]["approvedBy"]) == ("ai", "u_1")


def test_window_length_comes_from_the_bundle() -> None:
    assert window_seconds_from_params(PARAMS) == 86400
    with pytest.raises(ValueError, match="windowSeconds"):
        window_seconds_from_params({"whatsapp": {}})
    contact = contact_item("ct_1", now=NOW, last_inbound=NOW - 100)
    assert window_open(contact, NOW, window_seconds=100) is False
    assert window_open(contact, NOW, window_seconds=101) is True


def test_window_is_open_strictly_before_24_hours() -> None:
    contact = contact_item("ct_1", now=NOW, last_inbound=NOW - 86400 + 1)
    assert window_open(contact, NOW) is True
    assert window_open(contact, NOW + 1) is False  # now == last + 24 h: closed
    assert window_open(contact_item("ct_1", now=NOW), NOW) is False  # never wrote to us
    assert window_open(None, NOW) is False


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"channel": "sms", "content": TemplateContent("t", "en")}, "sms message must be text"),
        ({"channel": "email", "content": TextContent("x")}, "email message must be email"),
        ({"channel": "fax", "content": TextContent("x")}, "channel must be one of"),
        ({"channel": "sms", "content": TextContent("x"), "phone_number_id": PN1}, "WhatsApp messages only"),
        ({"channel": "whatsapp", "content": MediaContent("image")}, "exactly one of fileId"),
        ({"channel": "whatsapp", "content": TextContent("x"), "origin": "robot"}, "origin must be one of"),
        ({"channel": "whatsapp", "content": TextContent("x"), "idempotency_key": ""}, "Idempotency-Key"),
    ],
)
def test_invalid_requests_are_refused_with_an_actionable_message(
    kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        OutboundRequest(contact_id="ct_1", **kwargs)
    assert problem in err.value.message


def test_categories_separate_templates_from_free_form() -> None:
    assert (
        OutboundRequest(contact_id="c", channel="whatsapp", content=TemplateContent("t", "en")).category
        == "template"
    )
    assert text().category == "free-form"
    assert text("sms").category == "service"


def test_fingerprint_ignores_the_key_but_not_the_content() -> None:
    a = text(idempotency_key="k1")
    assert a.fingerprint() == text(idempotency_key="k2").fingerprint()
    assert a.fingerprint() != text(body="other", idempotency_key="k1").fingerprint()
    upload_a = MediaContent("image", upload=MediaUpload(b"one", "image/jpeg"))
    upload_b = MediaContent("image", upload=MediaUpload(b"two", "image/jpeg"))
    assert (
        OutboundRequest(contact_id="c", channel="whatsapp", content=upload_a).fingerprint()
        != OutboundRequest(contact_id="c", channel="whatsapp", content=upload_b).fingerprint()
    )


contacts = st.none() | st.fixed_dictionaries(
    {"contactId": st.just("ct_1"), "kind": st.sampled_from(["contact", "phone-guard"])},
    optional={
        "optInWhatsApp": st.one_of(st.booleans(), st.none(), st.text(max_size=3), st.integers()),
        "optInSms": st.one_of(st.booleans(), st.none(), st.integers()),
        "optInEmail": st.one_of(st.booleans(), st.none()),
        "phone": st.one_of(st.none(), st.text(max_size=16)),
        "email": st.one_of(st.none(), st.text(max_size=16)),
        "deletedAt": st.one_of(st.none(), st.floats(min_value=0, max_value=2e9)),
        "whatsappUnreachable": st.one_of(st.booleans(), st.none(), st.text(max_size=3)),
        "lastInboundMessageAt": st.one_of(
            st.none(), st.text(max_size=3), st.floats(min_value=-1e9, max_value=2e9, allow_nan=False)
        ),
    },
)


@given(
    contact=contacts,
    channel=st.sampled_from(["whatsapp", "sms"]),
    body=st.text(max_size=50),
    now=st.floats(min_value=1e9, max_value=2e9),
)
def test_every_document_has_exactly_the_designed_shape_and_types(
    contact: dict[str, Any] | None, channel: str, body: str, now: float
) -> None:
    doc = build_policy_input(
        text(channel, body=body), contact, now=now, settings=SETTINGS, tier=TIER, phone_number_id=PN1
    )
    assert set(doc) == TOP
    assert set(doc["request"]) == REQUEST
    assert set(doc["contact"]) == CONTACT
    assert set(doc["environment"]) == ENVIRONMENT
    assert set(doc["tier"]) == TIER_KEYS
    assert isinstance(doc["now"], int)
    flags = {k: v for k, v in doc["contact"].items() if k != "lastInboundMessageAt"}
    assert all(type(v) is bool for v in flags.values())
    last = doc["contact"]["lastInboundMessageAt"]
    assert isinstance(last, int | float) and not isinstance(last, bool) and last >= 0
    if contact is None or contact.get("kind") != "contact":
        assert not any(flags.values())
    else:
        assert doc["contact"]["optInWhatsApp"] == (contact.get("optInWhatsApp") is True)
        assert doc["contact"]["whatsappUnreachable"] == (contact.get("whatsappUnreachable") is True)


def test_a_131026_mark_holds_until_the_contact_writes_to_us_on_whatsapp() -> None:
    marked = contact_item("ct_1", now=NOW, last_inbound=NOW - 3600)
    marked |= {"whatsappUnreachable": True, "whatsappUnreachableAt": NOW - 60}

    def unreachable(contact: dict[str, Any]) -> bool:
        doc = build_policy_input(text(), contact, now=NOW, settings=SETTINGS, tier=TIER, phone_number_id=PN1)
        return bool(doc["contact"]["whatsappUnreachable"])

    assert unreachable(marked) is True
    assert unreachable({**marked, "lastInboundMessageAt": NOW - 30}) is False  # they wrote since
    assert unreachable({**marked, "whatsappUnreachableAt": None}) is True  # when unknown: fail closed
    assert unreachable({**marked, "whatsappUnreachable": "yes"}) is False  # only a real True marks
