"""The gateway wired as the composition root does it: shipped bundle, DRY_RUN drivers from
``channels.wiring``, the embedded SQLite store."""

from __future__ import annotations

from pathlib import Path

from channels.wiring import build_drivers, default_builders
from gateway.alerts import LocalAlerts
from gateway.audit import AuditLog
from gateway.bootstrap import gateway_from_bundle
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.contacts.service import ContactService
from gateway.messages.query import MessageQueryService
from gateway.metrics import Metrics
from gateway.outbound.recovery import SendRecovery
from gateway.outbound.types import OutboundRequest, Outbox, TemplateContent, TextContent
from gateway.policy import PolicyEngine, load_bundle
from gateway.store.sqlite import SqliteTables

from .fakes import POLICIES, contact_item


def test_embedded_dry_run_wiring_end_to_end(tmp_path: Path) -> None:
    clock = FakeClock()
    tables = SqliteTables(tmp_path / "wecare.db", clock)
    try:
        settings = Settings(SEND_MODE=SendMode.DRY_RUN, ENVIRONMENT=Environment.local)
        bundle = load_bundle(POLICIES)
        metrics = Metrics()
        alerts = LocalAlerts(metrics)
        outbox = Outbox()
        builders = default_builders(
            media_bucket=settings.MEDIA_BUCKET,
            media_prefix=settings.MEDIA_OUTBOUND_PREFIX,
            sms_pool_id=settings.SMS_POOL_ID,
            from_address=settings.SES_SENDER_EMAIL,
            from_name=settings.SES_SENDER_NAME,
        )
        drivers = build_drivers("DRY_RUN", builders=builders, sink=outbox.append)
        wamids: list[str] = []
        gateway = gateway_from_bundle(
            tables=tables,
            clock=clock,
            settings=settings,
            engine=PolicyEngine(bundle),
            params=bundle.params,
            drivers=drivers,
            metrics=metrics,
            alerts=alerts,
            outbox=outbox,
            audit=AuditLog(tables, clock),
            on_whatsapp_message_id=wamids.append,
        )
        now = clock.now()
        tables["Contacts"].put(contact_item("ct_1", now=now, last_inbound=now - 60))
        tables["Contacts"].put(contact_item("ct_2", now=now, phone="+447898765432"))

        sent = gateway.send(OutboundRequest(contact_id="ct_1", channel="whatsapp", content=TextContent("Hi")))
        refused = gateway.send(
            OutboundRequest(contact_id="ct_2", channel="whatsapp", content=TextContent("Hi"))
        )
        opened = gateway.send(
            OutboundRequest(
                contact_id="ct_2", channel="whatsapp", content=TemplateContent("order_update", "en_GB")
            )
        )

        assert (sent.status, refused.reasons, opened.status) == ("sent", ["TEMPLATE_REQUIRED"], "sent")
        assert sent.message["decision"]["bundle"]["digest"] == bundle.digest
        assert sent.message["outbox"]["calls"][0]["operation"] == "SendWhatsAppMessage"
        assert wamids == [sent.message["whatsappMessageId"], opened.message["whatsappMessageId"]]
        assert gateway.tier.status().used24h == 1
        assert [a["action"] for a in tables["AuditLogs"].scan().items] == ["message.rejected"]
        history = MessageQueryService(tables).list_page(contact_id="ct_2").items
        assert [m["status"] for m in history] == ["sent", "rejected"]
        assert SendRecovery(tables, clock, alerts, metrics).run().marked_unknown == []
    finally:
        tables.close()


def test_a_sent_message_keeps_the_consent_it_relied_on(tmp_path: Path) -> None:
    """The consent record (who, when, source, evidence) travels with the message, so "on what consent
    was this sent?" is answered even after the contact changes or is deleted."""
    clock = FakeClock()
    tables = SqliteTables(tmp_path / "wecare.db", clock)
    try:
        bundle = load_bundle(POLICIES)
        metrics, outbox = Metrics(), Outbox()
        gateway = gateway_from_bundle(
            tables=tables,
            clock=clock,
            settings=Settings(),
            engine=PolicyEngine(bundle),
            params=bundle.params,
            drivers=build_drivers("DRY_RUN", builders=default_builders(), sink=outbox.append),
            metrics=metrics,
            alerts=LocalAlerts(metrics),
            outbox=outbox,
        )
        contacts = ContactService(tables, clock, AuditLog(tables, clock))
        contact = contacts.create(
            {"phone": "+447812345678", "optInSms": True, "consentEvidence": "web form 2025-11-20"},
            actor="usr_op",
            source="ui",
        )
        clock.advance(60)
        contacts.set_opt_in(contact["contactId"], "sms", False, actor="usr_op", source="api")
        contacts.set_opt_in(
            contact["contactId"],
            "sms",
            True,
            actor="usr_lead",
            source="import",
            evidence={"note": "signed form 7"},
        )
        sent = gateway.send(
            OutboundRequest(
                contact_id=contact["contactId"], channel="sms", content=TextContent("Your code is 1234")
            )
        )
        assert sent.status == "sent"
        assert sent.message["consent"] == {
            "channel": "sms",
            "old": False,
            "new": True,
            "actor": "usr_lead",
            "at": clock.now(),
            "source": "import",
            "evidence": {"note": "signed form 7"},
        }
        contacts.delete(contact["contactId"], actor="usr_op")
        stored = MessageQueryService(tables).get(sent.message_id)
        assert stored["consent"]["actor"] == "usr_lead"
    finally:
        tables.close()
