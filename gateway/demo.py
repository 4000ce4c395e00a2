"""A demo data dir: a few of everything a newcomer should see in the first minutes, made through the
product's own services (nothing is written behind their backs), in DRY_RUN.

* contacts in every consent state: all channels, WhatsApp only, e-mail only, none;
* a WhatsApp conversation **dated now** (an inbound message a minute old, so its 24-hour window is open)
  through the real inbound pipeline, with a reply sent into the window;
* a template message to a contact outside any window (allowed: templates may open a conversation);
* a refused send (free text outside the window: ``TEMPLATE_REQUIRED``), with its stored decision;
* a dead letter on ``inbound-dlq`` (an event that cannot be read), ready to be looked at and replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.bootstrap import Container, wired
from gateway.inbound.service import inbound_message_id
from gateway.outbound.types import OutboundRequest, TemplateContent, TextContent

ACTOR = "demo"
# The demo's WhatsApp sender: the first allowlisted phone-number id, as EUM Social names it in events.
PHONE_NUMBER_ARN = (
    "arn:aws:social-messaging:us-east-1:809904170947:phone-number-id/baa217c3f11b4ffd956f6f3afb44ce54"
)
META_PHONE_NUMBER_ID = "110200300400501"
WABA_ID = "104870012345678"

CONTACTS: tuple[dict[str, Any], ...] = (
    {
        "name": "Amelia Hughes",
        "phone": "+447812345601",
        "email": "amelia@example.com",
        "optInWhatsApp": True,
        "optInSms": True,
        "optInEmail": True,
    },
    {"name": "Ben Carter", "phone": "+447812345602", "optInWhatsApp": True},
    {"name": "Chloe Evans", "email": "chloe@example.com", "optInEmail": True},
    {"name": "Daniel Okafor", "phone": "+447812345604"},
)


@dataclass
class DemoReport:
    contacts: dict[str, str] = field(default_factory=dict)  # name → contactId
    messages: dict[str, str] = field(default_factory=dict)  # what → messageId
    dead_letters: int = 0

    def lines(self) -> list[str]:
        out = [f"  {len(self.contacts)} contacts: {', '.join(self.contacts)}"]
        out += [f"  {what}: {message_id}" for what, message_id in self.messages.items()]
        out.append(f"  {self.dead_letters} dead letter on inbound-dlq")
        return out


class DemoRefused(Exception):
    """The data dir already holds contacts: the demo never mixes its data into real data."""


def _sns_event(value: dict[str, Any], message_id: str) -> dict[str, Any]:
    """An SNS → Lambda event carrying one EUM Social envelope, as AWS delivers it."""
    entry = {"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}
    envelope = {
        "context": {
            "MetaWabaIds": [
                {"wabaId": WABA_ID, "arn": "arn:aws:social-messaging:us-east-1:809904170947:waba/demo"}
            ],
            "MetaPhoneNumberIds": [{"metaPhoneNumberId": META_PHONE_NUMBER_ID, "arn": PHONE_NUMBER_ARN}],
        },
        "whatsAppWebhookEntry": json.dumps(entry),
        "aws_account_id": "809904170947",
    }
    return {"Records": [_sns_record(json.dumps(envelope), message_id)]}


def _sns_record(message: str, message_id: str) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:809904170947:base-wecare-digital:demo",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:809904170947:base-wecare-digital",
            "Message": message,
            "MessageAttributes": {},
        },
    }


def seed(container: Container) -> DemoReport:
    """Fill an empty data dir with the demo; :class:`DemoRefused` when it already has contacts."""
    contacts = wired(container.contacts, "contacts")
    inbound = wired(container.inbound, "inbound")
    gateway = wired(container.gateway, "gateway")
    if container.tables["Contacts"].scan(limit=1).items:
        raise DemoRefused("this data dir already has contacts; give the demo a fresh --data-dir")
    report = DemoReport()
    for data in CONTACTS:
        created = contacts.create(data, actor=ACTOR, source="ui")
        report.contacts[str(data["name"])] = str(created["contactId"])
    amelia, ben = report.contacts["Amelia Hughes"], report.contacts["Ben Carter"]

    now = int(container.clock.now())
    wamid = f"wamid.demo.{now}"
    text = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "447700900123", "phone_number_id": META_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Amelia Hughes"}, "wa_id": "447812345601"}],
        "messages": [
            {
                "from": "447812345601",
                "id": wamid,
                "timestamp": str(now - 60),
                "type": "text",
                "text": {"body": "Hi! Can I move my appointment to Friday afternoon?"},
            }
        ],
    }
    result = inbound.handle_sns_event(_sns_event(text, f"demo-inbound-{now}"))
    if result.messages:
        report.messages["inbound message (window open)"] = inbound_message_id(wamid)

    sends = {
        "reply inside the window": OutboundRequest(
            contact_id=amelia,
            channel="whatsapp",
            content=TextContent("Of course — Friday at 3 pm is free. Shall I book it?"),
            actor=ACTOR,
        ),
        "template outside any window": OutboundRequest(
            contact_id=ben,
            channel="whatsapp",
            content=TemplateContent("appointment_reminder", "en_US"),
            actor=ACTOR,
        ),
        "refused send (TEMPLATE_REQUIRED)": OutboundRequest(
            contact_id=ben, channel="whatsapp", content=TextContent("Are you free this week?"), actor=ACTOR
        ),
    }
    for what, request in sends.items():
        outcome = gateway.send(request)
        report.messages[what] = outcome.message_id

    unreadable = {"Records": [_sns_record("{this is not an EUM event", f"demo-broken-{now}")]}
    report.dead_letters = inbound.handle_sns_event(unreadable).deadLettered
    return report
