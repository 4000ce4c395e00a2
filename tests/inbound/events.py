"""Builders for synthetic events in the same shapes as the fixtures (for cases the fixtures lack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eum"

P1_ARN = "arn:aws:social-messaging:us-east-1:809904170947:phone-number-id/baa217c3f11b4ffd956f6f3afb44ce54"
P1 = "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54"
P2 = "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06"
META_P1 = "110200300400501"
WABA_ARN = "arn:aws:social-messaging:us-east-1:809904170947:waba/7f3c1a2b9d8e4f60a1b2c3d4e5f60718"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.json"))


def envelope(value: dict[str, Any], *, aws_message_id: str | None = None) -> dict[str, Any]:
    entry = {"id": "104870012345678", "changes": [{"value": value, "field": "messages"}]}
    env: dict[str, Any] = {
        "context": {
            "MetaWabaIds": [
                {
                    "wabaId": "104870012345678",
                    "arn": WABA_ARN,
                }
            ],
            "MetaPhoneNumberIds": [{"metaPhoneNumberId": META_P1, "arn": P1_ARN}],
        },
        "whatsAppWebhookEntry": json.dumps(entry),
        "aws_account_id": "809904170947",
        "message_timestamp": "2025-09-18T09:16:36.684321927Z",
    }
    if aws_message_id is not None:
        env["messageId"] = aws_message_id
    return env


def text_value(
    wamid: str, body: str, *, wa_id: str = "447812345678", ts: int = 1758186994, name: str = "Amelia Hughes"
) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "447700900123", "phone_number_id": META_P1},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [
            {"from": wa_id, "id": wamid, "timestamp": str(ts), "text": {"body": body}, "type": "text"}
        ],
    }


def status_value(
    wamid: str, status: str, ts: int, *, errors: list[dict[str, Any]] | None = None, pricing: bool = True
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(ts),
        "recipient_id": "447812345678",
    }
    if pricing:
        item["conversation"] = {"id": "conv1", "origin": {"type": "marketing"}}
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "marketing",
            "type": "regular",
        }
    if errors:
        item["errors"] = errors
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "447700900123", "phone_number_id": META_P1},
        "statuses": [item],
    }


def sns_record(message: str, message_id: str = "11111111-2222-3333-4444-555555555555") -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:809904170947:eum-social-whatsapp-events:sub",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:809904170947:eum-social-whatsapp-events",
            "Subject": None,
            "Message": message,
            "Timestamp": "2025-09-18T09:16:36.712Z",
            "SignatureVersion": "1",
            "Signature": "ZmFrZQ==",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/x.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {},
        },
    }


def sns_event(*messages: str) -> dict[str, Any]:
    return {"Records": [sns_record(m, f"mid-{i}-{abs(hash(m)) % 10**8}") for i, m in enumerate(messages)]}


def text_event(wamid: str, body: str = "hello", **kw: Any) -> dict[str, Any]:
    return sns_event(json.dumps(envelope(text_value(wamid, body, **kw))))
