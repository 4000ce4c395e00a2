"""The composition root: the one place that wires ports, adapters and services per runtime.

``embedded`` (``wecare serve``, tests): SQLite store + local queue under a data dir, local identity,
DRY_RUN. ``lambda``: DynamoDB + SQS + Cognito, clients created here (never at import time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from gateway.alerts import Alerts, LocalAlerts
from gateway.clock import Clock, SystemClock
from gateway.config import ConfigError, SendMode, Settings
from gateway.metrics import Metrics
from gateway.queue.port import Queues
from gateway.secrets import Secrets, load_local
from gateway.store.port import Tables
from gateway.workers import PeriodicWorker

if TYPE_CHECKING:
    from channels.base import Channel, ChannelDriver

log = logging.getLogger("wecare.bootstrap")


@dataclass
class Container:
    settings: Settings
    clock: Clock
    tables: Tables
    queues: Queues
    metrics: Metrics
    alerts: Alerts
    runtime: str = "embedded"
    extras: dict[str, Any] = field(default_factory=dict)
    # Services, set by wire_services (typed loosely so the edges can be tested over small fakes).
    policy: Any = None
    bundle: Any = None
    identity: Any = None
    audit: Any = None
    users: Any = None
    contacts: Any = None
    decisions: Any = None
    messages: Any = None
    dlq: Any = None
    inbound: Any = None
    gateway: Any = None
    recovery: Any = None
    metrics_token: SecretStr | None = None  # GET /metrics needs it as a bearer token when set

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "runtime": self.runtime,
            "environment": self.settings.ENVIRONMENT.value,
            "sendMode": self.settings.SEND_MODE.value,
        }

    def on_unhandled_error(self, exc: BaseException, request_id: str) -> None:
        self.metrics.inc("unhandled_errors_total", {"type": type(exc).__name__})
        self.alerts.publish(
            "critical", f"unhandled {type(exc).__name__}", f"request {request_id}: {exc!r}"[:2000]
        )

    workers: list[Any] = field(default_factory=list)

    def start_workers(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def close(self) -> None:
        self.tables.close()
        self.queues.close()


def build_in_memory(settings: Settings, clock: Clock | None = None) -> Container:
    """A container on the in-memory fakes (unit tests of the edges)."""
    from gateway.queue.memory import MemoryQueues
    from gateway.store.memory import MemoryTables

    clk = clock or SystemClock()
    metrics = Metrics()
    return Container(settings, clk, MemoryTables(clk), MemoryQueues(clk), metrics, LocalAlerts(metrics))


def build_embedded(settings: Settings, clock: Clock | None = None) -> Container:
    """The embedded default: one SQLite store and one local queue file under the data dir."""
    from gateway.queue.local import LocalQueues
    from gateway.store.port import StoreUnavailable
    from gateway.store.sqlite import SqliteTables

    clk = clock or SystemClock()
    data_dir = settings.WECARE_DATA_DIR
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot create the data dir {data_dir}: {exc.strerror}; choose another with --data-dir"
        ) from None
    tables = SqliteTables(data_dir / "wecare.db", clk)
    try:
        queues = LocalQueues(data_dir / "queues.db", clk)
    except Exception:
        tables.close()
        raise
    metrics = Metrics()
    container = Container(settings, clk, tables, queues, metrics, LocalAlerts(metrics), runtime="embedded")
    try:
        wire_services(container, secrets=load_local(os.environ))
    except Exception:
        container.close()
        raise
    container.workers.extend([
        # A send interrupted between the provider call and the status write becomes 'unknown'.
        PeriodicWorker("send-recovery", container.recovery.run, interval=60.0),
        # TTL: reads already hide expired items; this reclaims their space.
        PeriodicWorker("purge-expired", tables.purge_expired, interval=300.0),
    ])
    return container


def default_policy_dir(settings: Settings) -> Path:
    """The reviewed bundle: ``POLICY_DIR`` if set, else ``policies/`` beside the package."""
    if settings.POLICY_DIR is not None:
        return settings.POLICY_DIR
    return Path(__file__).resolve().parent.parent / "policies"


def wire_services(
    container: Container,
    *,
    secrets: Secrets | None = None,
    drivers: Mapping[Channel, ChannelDriver] | None = None,
    social_client: Any = None,
    s3_client: Any = None,
    identity_fetch: Any = None,
) -> None:
    """Construct the services over the container's ports (the same code for every runtime).

    A bundle that does not load stops start-up here (``BundleError``): the gateway never runs without
    its policies. ``drivers`` defaults to the DRY_RUN recorders unless the settings say LIVE, in which
    case the caller must pass the LIVE drivers; nothing here falls back from one to the other.
    """
    from channels.wiring import build_drivers, default_builders
    from gateway.auth.wiring import wire_identity
    from gateway.decisions import DecisionService
    from gateway.dlq import DlqService
    from gateway.inbound.keywords import KeywordConfig
    from gateway.inbound.meta_signature import MetaWebhookVerifier
    from gateway.inbound.service import InboundService
    from gateway.inbound.sns_signature import SnsSignatureVerifier
    from gateway.messages import MessageQueryService
    from gateway.outbound.dlq import replay_outbound
    from gateway.outbound.gateway import gateway_from_bundle
    from gateway.outbound.recovery import SendRecovery
    from gateway.outbound.types import Outbox
    from gateway.policy import PolicyEngine, load_bundle

    c, s = container, container.settings
    secrets = secrets or Secrets()
    c.metrics_token = secrets.metrics_token
    bundle = load_bundle(default_policy_dir(s))
    c.policy = PolicyEngine(bundle)
    c.bundle = bundle
    wire_identity(c, data_dir=s.WECARE_DATA_DIR, fetch=identity_fetch)
    c.decisions = DecisionService(c.tables, c.clock)
    c.messages = MessageQueryService(c.tables)
    c.dlq = DlqService(c.tables, c.queues, c.clock, metrics=c.metrics, audit=c.audit)
    meta = None
    if secrets.app_secret is not None and s.META_VERIFY_TOKEN:
        meta = MetaWebhookVerifier(secrets.app_secret.get_secret_value(), s.META_VERIFY_TOKEN)
    media = None
    if social_client is not None:
        from gateway.inbound.media import MediaDownloader

        media = MediaDownloader(social_client, c.tables, c.clock, bucket=s.MEDIA_BUCKET,
                                prefix=s.MEDIA_INBOUND_PREFIX, s3=s3_client)
    c.inbound = InboundService(
        c.tables, c.clock, c.contacts, c.dlq, media=media,
        keywords=KeywordConfig.from_params(bundle.params),
        sns=SnsSignatureVerifier(s.SNS_TOPIC_ARN), meta=meta, metrics=c.metrics,
    )
    outbox = Outbox()
    if drivers is None:
        if s.SEND_MODE is SendMode.LIVE:
            raise ConfigError("SEND_MODE=LIVE needs the LIVE channel drivers; none were given")
        builders = default_builders(
            media_bucket=s.MEDIA_BUCKET, media_prefix=s.MEDIA_OUTBOUND_PREFIX, sms_pool_id=s.SMS_POOL_ID,
            from_address=s.SES_SENDER_EMAIL, from_name=s.SES_SENDER_NAME,
        )
        drivers = build_drivers("DRY_RUN", builders=builders, sink=outbox.append)
    c.gateway = gateway_from_bundle(
        tables=c.tables, clock=c.clock, settings=s, engine=c.policy, params=bundle.params,
        drivers=drivers, metrics=c.metrics, alerts=c.alerts, outbox=outbox, audit=c.audit,
        on_whatsapp_message_id=c.inbound.apply_pending_statuses,
    )
    c.recovery = SendRecovery(c.tables, c.clock, c.alerts, c.metrics)
    gateway = c.gateway

    def replay_outbound_letter(payload: str) -> None:
        replay_outbound(gateway, payload)

    c.dlq.register("outbound-dlq", replay_outbound_letter)


def first_start(container: Container) -> list[str]:
    """Start-up chores of the embedded default; returns lines to print (the first Admin's login, once)."""
    from gateway.auth.wiring import first_admin_lines

    report = container.recovery.run()
    lines = first_admin_lines(container)
    if report.marked_unknown:
        lines.append(f"{len(report.marked_unknown)} message(s) interrupted mid-send were marked 'unknown'")
    return lines


def build_lambda(
    settings: Settings,
    *,
    session: Any = None,
    clock: Clock | None = None,
    identity_fetch: Any = None,
    emf_stream: Any = None,
) -> Container:
    """The AWS runtime: DynamoDB, SQS, SNS alerts, Cognito, secrets from SSM; clients made here only.

    LIVE drivers exist only when the settings say LIVE, which they can only do in production
    (``Settings`` refuses LIVE anywhere else); every other environment gets the DRY_RUN recorders,
    which hold no client able to send.
    """
    import sys

    import boto3

    from channels.retry import Retrier, botocore_config
    from channels.wiring import build_drivers, default_builders
    from gateway.alerts import SnsAlerts
    from gateway.queue.sqs import SqsQueues
    from gateway.secrets import load_from_ssm
    from gateway.store.dynamodb import DynamoTables

    clk = clock or SystemClock()
    session = session or boto3.session.Session(region_name=settings.AWS_REGION)
    tables = DynamoTables(session.client("dynamodb"), settings.TABLE_PREFIX, clk)
    queues = SqsQueues(session.client("sqs"), {
        "bulk-queue": settings.BULK_QUEUE_URL, "bulk-dlq": settings.BULK_DLQ_URL,
        "inbound-dlq": settings.INBOUND_DLQ_URL, "outbound-dlq": settings.OUTBOUND_DLQ_URL,
    })
    metrics = Metrics(emf_stream=emf_stream if emf_stream is not None else sys.stdout)
    alerts = SnsAlerts(session.client("sns"), settings.ALERT_TOPIC_ARN, metrics)
    # Neither secret is needed to send (EUM Social holds the Meta credentials); without APP_SECRET the
    # Meta webhook stays closed.
    secrets = load_from_ssm(session.client("ssm"), settings.AMPLIFY_SSM_ENV_CONFIG, required=())
    container = Container(settings, clk, tables, queues, metrics, alerts, runtime="lambda")
    builders = default_builders(
        media_bucket=settings.MEDIA_BUCKET, media_prefix=settings.MEDIA_OUTBOUND_PREFIX,
        sms_pool_id=settings.SMS_POOL_ID, from_address=settings.SES_SENDER_EMAIL,
        from_name=settings.SES_SENDER_NAME,
    )
    drivers = None
    if settings.SEND_MODE is SendMode.LIVE:
        config = botocore_config()
        drivers = build_drivers(
            "LIVE", builders=builders, retrier=Retrier(sleep=clk.sleep),
            client_factory=lambda name: session.client(name, config=config),
        )
    wire_services(
        container, secrets=secrets, drivers=drivers,
        social_client=session.client("socialmessaging", config=botocore_config()),
        s3_client=session.client("s3"), identity_fetch=identity_fetch,
    )
    return container
