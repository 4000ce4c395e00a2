"""The composition root: the one place that wires ports, adapters and services per runtime.

``embedded`` (``wecare serve``, tests): SQLite store + local queue under a data dir, local identity,
DRY_RUN. ``lambda``: DynamoDB + SQS + Cognito, clients created here (never at import time).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from gateway.alerts import Alerts, LocalAlerts
from gateway.clock import Clock, SystemClock
from gateway.config import ConfigError, SendMode, Settings
from gateway.metrics import Metrics
from gateway.queue.port import Queues
from gateway.secrets import Secrets, load_local
from gateway.store.objects import LocalObjects, MemoryObjects, ObjectStore, S3Objects
from gateway.store.port import Tables
from gateway.workers import PeriodicWorker

if TYPE_CHECKING:
    from typing import TypeAlias

    from channels.base import Channel, ChannelDriver
    from gateway.ai.ports import Drafter, Retriever
    from gateway.ai.service import AIService
    from gateway.audit import AuditLog
    from gateway.auth.identity import CognitoIdentity, LocalIdentity
    from gateway.auth.jwks import Fetch
    from gateway.bulk.report import BulkReports
    from gateway.bulk.service import BulkService
    from gateway.bulk.worker import BulkWorker
    from gateway.contacts.service import ContactService
    from gateway.decisions import DecisionService
    from gateway.dlq import DlqService
    from gateway.identity.passwords import Passwords
    from gateway.inbound.service import InboundService
    from gateway.inbox.service import InboxService
    from gateway.kill_switch import SendingSwitch
    from gateway.messages.query import MessageQueryService
    from gateway.outbound.gateway import AuditTrail, Gateway, PolicyEvaluator
    from gateway.outbound.recovery import SendRecovery
    from gateway.outbound.types import Outbox
    from gateway.policy import Bundle, PolicyEngine
    from gateway.system_config import SystemConfigService
    from gateway.users import UserService

    # The two identities behind ``Container.identity``: the embedded one and Cognito's.
    Identity: TypeAlias = LocalIdentity | CognitoIdentity

S = TypeVar("S")

log = logging.getLogger("wecare.bootstrap")

# How long stop_workers waits for the background threads together (a job's end writes its report).
STOP_TIMEOUT_SECONDS = 60.0


@dataclass
class Container:
    settings: Settings
    clock: Clock
    tables: Tables
    queues: Queues
    metrics: Metrics
    alerts: Alerts
    runtime: str = "embedded"
    # Generated files (bulk reports): the data dir's reports/ embedded, the report bucket in AWS.
    objects: ObjectStore = field(default_factory=MemoryObjects)
    # Services, set by wire_services; a container from build_in_memory has none (the API answers 503
    # for a service that is absent, the CLI names it: see gateway.api.deps and wired()).
    policy: PolicyEngine | None = None
    bundle: Bundle | None = None
    identity: Identity | None = None
    audit: AuditLog | None = None
    users: UserService | None = None
    contacts: ContactService | None = None
    decisions: DecisionService | None = None
    messages: MessageQueryService | None = None
    dlq: DlqService | None = None
    inbound: InboundService | None = None
    gateway: Gateway | None = None
    recovery: SendRecovery | None = None
    bulk: BulkService | None = None
    bulk_worker: BulkWorker | None = None
    bulk_reports: BulkReports | None = None
    system_config: SystemConfigService | None = None
    ai: AIService | None = None
    inbox: InboxService | None = None
    sending_switch: SendingSwitch | None = None
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

    def stop_workers(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        # Signal every worker first, then wait for each: the waits overlap instead of adding up. A bulk
        # worker hands the rest of its chunk back within a send; the end of a job (its report) may
        # take longer, hence the generous wait.
        if self.bulk_worker is not None:
            self.bulk_worker.stop()
        for worker in self.workers:
            worker.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.stop(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        busy = [w.name for w in self.workers if w.alive()]
        if busy:
            # Closing the store under a running thread can crash the process (SQLite); the process
            # is ending anyway, and what those threads hold comes back by visibility timeout.
            log.error("workers still running at close; the store is left open", extra={"workers": busy})
            return
        self.tables.close()
        self.queues.close()


def wired(service: S | None, name: str) -> S:
    """``service`` when the composition root wired it; otherwise a ``ConfigError`` naming it."""
    if service is None:
        raise ConfigError(f"the {name} service is not wired in this build (gateway.bootstrap.wire_services)")
    return service


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
    container = Container(
        settings,
        clk,
        tables,
        queues,
        metrics,
        LocalAlerts(metrics),
        runtime="embedded",
        objects=LocalObjects(data_dir / "reports"),
    )
    try:
        wire_services(container, secrets=load_local(os.environ))
    except Exception:
        container.close()
        raise
    container.workers.extend(
        [
            # A send interrupted between the provider call and the status write becomes 'unknown'.
            PeriodicWorker("send-recovery", wired(container.recovery, "recovery").run, interval=60.0),
            # TTL: reads already hide expired items; this reclaims their space.
            PeriodicWorker("purge-expired", tables.purge_expired, interval=300.0),
        ]
    )
    container.workers.extend(bulk_workers(container))
    container.workers.extend(ai_workers(container))
    return container


# The embedded bulk consumers: an idle one polls every BULK_POLL_SECONDS, so a queued chunk starts
# within about that long; a busy one takes chunk after chunk for up to BULK_DRAIN_SECONDS per run (so
# stop() is seen between runs). Visibility: well above the worker's 120 s chunk deadline.
BULK_POLL_SECONDS = 0.2
BULK_DRAIN_SECONDS = 1.0
BULK_VISIBILITY_SECONDS = 300.0


def bulk_workers(container: Container) -> list[PeriodicWorker]:
    """``BULK_WORKER_CONCURRENCY`` threads consuming ``bulk-queue``, and the scheduled-job starter.

    Nothing runs until :meth:`Container.start_workers` (``wecare serve``); a container that is never
    started consumes nothing.
    """
    from gateway.bulk.chunks import BULK_QUEUE
    from gateway.bulk.consumer import poll_once

    service = wired(container.bulk, "bulk")
    worker = wired(container.bulk_worker, "bulk worker")
    queue = container.queues[BULK_QUEUE]

    def drain() -> int:
        handled, started = 0, time.monotonic()
        # Bounded in time, so a stop() is seen between chunks within about a second.
        while time.monotonic() - started < BULK_DRAIN_SECONDS:
            if poll_once(worker, queue, visibility_timeout=BULK_VISIBILITY_SECONDS) == 0:
                break
            handled += 1
        return handled

    threads = [
        PeriodicWorker(f"bulk-worker-{n}", drain, interval=BULK_POLL_SECONDS, repeat_while_busy=True)
        for n in range(1, container.settings.BULK_WORKER_CONCURRENCY + 1)
    ]
    # Scheduled jobs (sendAt) start within a second of their time.
    threads.append(PeriodicWorker("bulk-scheduler", service.start_due, interval=1.0))
    # Jobs the kill switch paused resume within a second of its release.
    switch = container.sending_switch
    if switch is not None:
        threads.append(
            PeriodicWorker("bulk-unpause", lambda: service.resume_released(switch.paused), interval=1.0)
        )
    # Recipients deferred by provider code 131049 are retried once their 24 h have passed.
    threads.append(PeriodicWorker("bulk-deferred", service.retry_deferred_due, interval=60.0))
    # A job whose counters a crash left one move behind is recounted and ended once idle.
    threads.append(PeriodicWorker("bulk-settle", service.settle_idle, interval=60.0))
    return threads


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
    ai_backends: tuple[Retriever, Drafter] | None = None,
) -> None:
    """Construct the services over the container's ports (the same code for every runtime).

    ``ai_backends`` (knowledge base, drafter) default to the offline ones over the data dir's
    knowledge-base folder; the AWS runtime passes Bedrock's.

    A bundle that does not load stops start-up here (``BundleError``): the gateway never runs without
    its policies. ``drivers`` defaults to the DRY_RUN recorders unless the settings say LIVE, in which
    case the caller must pass the LIVE drivers; nothing here falls back from one to the other.
    """
    from channels.wiring import build_drivers, default_builders
    from gateway.decisions import DecisionService
    from gateway.dlq import DlqService
    from gateway.inbound.keywords import KeywordConfig
    from gateway.inbound.meta_signature import MetaWebhookVerifier
    from gateway.inbound.service import INBOUND_DLQ, InboundService
    from gateway.inbound.sns_signature import SnsSignatureVerifier
    from gateway.messages.query import MessageQueryService
    from gateway.outbound.policy_input import window_seconds_from_params
    from gateway.outbound.recovery import SendRecovery
    from gateway.outbound.types import Outbox
    from gateway.policy import PolicyEngine, load_bundle

    c, s = container, container.settings
    secrets = secrets or Secrets()
    c.metrics_token = secrets.metrics_token
    bundle = load_bundle(default_policy_dir(s))
    engine = PolicyEngine(bundle)
    c.policy, c.bundle = engine, bundle
    wire_identity(c, data_dir=s.WECARE_DATA_DIR, fetch=identity_fetch)
    audit, contacts = wired(c.audit, "audit"), wired(c.contacts, "contacts")
    c.decisions = DecisionService(c.tables, c.clock)
    c.messages = MessageQueryService(c.tables)
    dlq = DlqService(c.tables, c.queues, c.clock, metrics=c.metrics, audit=audit)
    c.dlq = dlq
    inbox, switch = wire_inbox_and_switch(c, window_seconds_from_params(bundle.params))
    meta = None
    if secrets.app_secret is not None and s.META_VERIFY_TOKEN:
        meta = MetaWebhookVerifier(secrets.app_secret.get_secret_value(), s.META_VERIFY_TOKEN)
    media = None
    if social_client is not None:
        from gateway.inbound.media import MediaDownloader

        media = MediaDownloader(
            social_client,
            c.tables,
            c.clock,
            bucket=s.MEDIA_BUCKET,
            prefix=s.MEDIA_INBOUND_PREFIX,
            s3=s3_client,
        )
    inbound = InboundService(
        c.tables,
        c.clock,
        contacts,
        dlq,
        media=media,
        keywords=KeywordConfig.from_params(bundle.params),
        sns=SnsSignatureVerifier(s.SNS_TOPIC_ARN),
        meta=meta,
        metrics=c.metrics,
        # A bulk recipient whose message fails after it was sent follows it (wired below: the bulk
        # worker exists only after the gateway, which needs the inbound pipeline first).
        on_delivery_failed=lambda message: (
            c.bulk_worker.on_delivery_failed(message) if c.bulk_worker else None
        ),
        # A stored inbound message is queued for a suggestion when AI is on (wired below, after the
        # gateway its approvals send through).
        on_stored=[inbox.record, lambda item: c.ai.on_inbound_stored(item) if c.ai else None],
        on_status=inbox.record_status,
    )
    c.inbound = inbound
    outbox = Outbox()
    if drivers is None:
        if s.SEND_MODE is SendMode.LIVE:
            raise ConfigError("SEND_MODE=LIVE needs the LIVE channel drivers; none were given")
        builders = default_builders(
            media_bucket=s.MEDIA_BUCKET,
            media_prefix=s.MEDIA_OUTBOUND_PREFIX,
            sms_pool_id=s.SMS_POOL_ID,
            from_address=s.SES_SENDER_EMAIL,
            from_name=s.SES_SENDER_NAME,
        )
        drivers = build_drivers("DRY_RUN", builders=builders, sink=outbox.append)

    def apply_pending_statuses(whatsapp_message_id: str) -> None:
        # A status that arrived before its send was recorded is applied once the id is known.
        inbound.apply_pending_statuses(whatsapp_message_id)

    gateway = gateway_from_bundle(
        tables=c.tables,
        clock=c.clock,
        settings=s,
        engine=engine,
        params=bundle.params,
        drivers=drivers,
        metrics=c.metrics,
        alerts=c.alerts,
        outbox=outbox,
        audit=audit,
        on_whatsapp_message_id=apply_pending_statuses,
        on_recorded=inbox.record,
        sending_paused=switch.paused,
    )
    c.gateway = gateway
    c.recovery = SendRecovery(c.tables, c.clock, c.alerts, c.metrics)

    # The replay handlers are registered here, each running exactly the code the original handler ran.
    dlq.register(INBOUND_DLQ, inbound.replay)
    dlq.register("outbound-dlq", _outbound_replayer(gateway))
    wire_bulk(c)
    wire_ai(c, ai_backends)


def wire_inbox_and_switch(container: Container, window_seconds: int) -> tuple[InboxService, SendingSwitch]:
    """The DM inbox and the kill switch's reader, both on the container (each send reads the switch)."""
    from gateway.kill_switch import SendingSwitch

    container.inbox = inbox_service(container, window_seconds)
    container.sending_switch = SendingSwitch(container.tables)
    return container.inbox, container.sending_switch


def inbox_service(container: Container, window_seconds: int) -> InboxService:
    """The inbox over the contacts' own search index and the accounts' e-mails."""
    from gateway.errors import NotFound
    from gateway.inbox.service import InboxService

    c = container
    contacts, users = wired(c.contacts, "contacts"), c.users

    def search(q: str, limit: int) -> list[str]:
        return [str(item["contactId"]) for item in contacts.search(q, limit=limit).items]

    def contact(contact_id: str) -> Mapping[str, Any] | None:
        try:
            return contacts.get(contact_id)
        except NotFound:
            return None

    def email_of(user_id: str) -> str | None:
        return users.email_of(user_id) if users is not None else None

    return InboxService(
        c.tables, c.clock, search=search, contact=contact, email_of=email_of, window_seconds=window_seconds
    )


def _outbound_replayer(gateway: Gateway) -> Callable[[str], None]:
    from gateway.outbound.dlq import replay_outbound

    def replay(payload: str) -> None:
        replay_outbound(gateway, payload)

    return replay


def wire_ai(container: Container, backends: tuple[Retriever, Drafter] | None) -> None:
    from gateway.ai.service import AIService
    from gateway.system_config import SystemConfigService

    c, s = container, container.settings
    switch = c.sending_switch
    config = SystemConfigService(
        c.tables, c.clock, c.audit, on_change=lambda _key: switch.forget() if switch is not None else None
    )
    c.system_config = config
    if backends is None:
        from gateway.ai.local import LocalDrafter, LocalKnowledgeBase, seed_knowledge_base

        folder = s.AI_KNOWLEDGE_DIR or (s.WECARE_DATA_DIR / "knowledge-base")
        seed_knowledge_base(folder)
        backends = (LocalKnowledgeBase(folder), LocalDrafter())
    retriever, drafter = backends
    c.ai = AIService(
        c.tables,
        c.clock,
        c.queues,
        config=config,
        retriever=retriever,
        drafter=drafter,
        gateway=wired(c.gateway, "gateway"),
        metrics=c.metrics,
        audit=c.audit,
        mask_personal_data=s.AI_MASK_PERSONAL_DATA,
    )


# The embedded suggestion worker: polls ai-queue; a suggestion takes well under the visibility.
AI_POLL_SECONDS = 0.5
AI_VISIBILITY_SECONDS = 120.0


def ai_workers(container: Container) -> list[PeriodicWorker]:
    from gateway.ai.service import AI_QUEUE

    service = wired(container.ai, "ai")
    queue = container.queues[AI_QUEUE]

    def drain() -> int:
        handled = 0
        for message in queue.receive(5, visibility_timeout=AI_VISIBILITY_SECONDS):
            # An exception leaves the message on the queue: it comes back after its visibility.
            service.handle_queued(message.body)
            queue.delete(message.receipt_handle)
            handled += 1
        return handled

    return [PeriodicWorker("ai-suggest", drain, interval=AI_POLL_SECONDS, repeat_while_busy=True)]


def wire_bulk(container: Container) -> None:
    """The bulk service and worker over the wired gateway, and the ``bulk-dlq`` replay handler
    (part of :func:`wire_services`, after the gateway and the DLQ service exist)."""
    from gateway.bulk import consumer
    from gateway.bulk.chunks import BULK_QUEUE
    from gateway.bulk.ending import JobEnding
    from gateway.bulk.report import BulkReports
    from gateway.bulk.service import BulkService
    from gateway.bulk.worker import BulkWorker

    c = container
    gateway, audit, dlq = wired(c.gateway, "gateway"), wired(c.audit, "audit"), wired(c.dlq, "dlq")
    reports = BulkReports(c.tables, c.clock, c.objects)
    c.bulk_reports = reports
    # Once a job ends: its unused tier capacity back, its report written, its figures measured.
    ending = JobEnding(gateway.tier, reports, c.metrics)
    # The gateway decides each recipient's preflight (Gateway.decide) and sends each recipient.
    c.bulk = BulkService(c.tables, c.clock, c.queues, gateway, audit, tier=gateway.tier, on_end=ending)
    worker = BulkWorker(
        c.tables,
        c.clock,
        gateway,
        audit=audit,
        max_rate_wait=5.0,
        deadline_seconds=120.0,
        stale_after=c.settings.BULK_CLAIM_STALE_SECONDS,
        tier=gateway.tier,
        on_end=ending,
        after_late_change=reports.write,
        sending_paused=c.sending_switch.paused if c.sending_switch else None,
    )
    c.bulk_worker = worker
    # A dead chunk is replayed through the consumer step its delivery ran: it resumes the unsent recipients.
    dlq.register("bulk-dlq", consumer.dead_letter_handler(worker, c.queues[BULK_QUEUE]))


def wire_identity(
    container: Container,
    *,
    data_dir: Path | None = None,
    fetch: Fetch | None = None,
    passwords: Passwords | None = None,
    default_region: str | None = None,
) -> None:
    """Identity, audit, users and contacts over the container's ports (part of :func:`wire_services`).

    Afterwards the container has ``audit``, ``users``, ``contacts`` and ``identity``: the embedded
    identity over the data dir's signing key, or — for the ``lambda`` runtime — Cognito user pool
    ``COGNITO_USER_POOL_ID`` for app client ``COGNITO_APP_CLIENT_ID``.
    """
    from gateway.audit import AuditLog
    from gateway.auth.identity import cognito_identity, local_identity
    from gateway.auth.jwks import http_fetch
    from gateway.contacts.service import ContactService
    from gateway.users import UserService

    clock, tables, settings = container.clock, container.tables, container.settings
    audit = AuditLog(tables, clock)
    users = UserService(tables, clock, audit, passwords)
    contacts = ContactService(
        tables, clock, audit, default_region=default_region, window_seconds=_window_seconds(container.bundle)
    )
    identity: Identity
    if container.runtime == "lambda":
        identity = cognito_identity(
            pool_id=settings.COGNITO_USER_POOL_ID,
            client_id=settings.COGNITO_APP_CLIENT_ID,
            clock=clock,
            fetch=fetch or http_fetch,
            users=users,
        )
    else:
        identity = local_identity(
            data_dir or Path(settings.WECARE_DATA_DIR), users=users, audit=audit, clock=clock
        )
    container.audit = audit
    container.users = users
    container.contacts = contacts
    container.identity = identity


def _window_seconds(bundle: Bundle | None) -> int:
    """The bundle's WhatsApp window (``params.whatsapp.windowSeconds``) when a bundle is loaded."""
    from gateway.contacts.service import WINDOW_SECONDS
    from gateway.outbound.policy_input import window_seconds_from_params

    if bundle is None:
        return WINDOW_SECONDS
    return window_seconds_from_params(bundle.params)


def first_admin_lines(container: Container, email: str = "admin@wecare.digital") -> list[str]:
    """On a store without users, create an Admin and return the lines that show its sign-in (print once)."""
    users, identity = container.users, container.identity
    if users is None or identity is None or not identity.local:
        return []
    created = users.ensure_first_admin(email)
    if created is None:
        return []
    user, password = created
    # The exact commands that work from here: this interpreter's own ``wecare`` and this data dir.
    command = wecare_command()
    data_dir = shlex.quote(str(container.settings.WECARE_DATA_DIR.resolve()))
    return [
        "First start: an Admin account was created. Its password is shown only this once:",
        f"  e-mail:   {user['email']}",
        f"  password: {password}",
        "From here:",
        f"  add an account:      {command} users add EMAIL --role Viewer|Operator|Admin"
        f" --data-dir {data_dir}",
        f"  set a password:      {command} users passwd {user['email']} --data-dir {data_dir}",
        f"  replay dead letters: {command} dlq replay --data-dir {data_dir}",
    ]


def wecare_command() -> str:
    """How to run the CLI of this installation: the ``wecare`` beside this interpreter (the venv's),
    else the module through this interpreter."""
    beside = Path(sys.executable).parent / "wecare"
    if beside.is_file():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m gateway.cli.main"


def gateway_from_bundle(
    *,
    tables: Tables,
    clock: Clock,
    settings: Settings,
    engine: PolicyEvaluator,
    params: Mapping[str, Any],
    drivers: Mapping[Channel, ChannelDriver],
    metrics: Metrics,
    alerts: Alerts,
    outbox: Outbox | None = None,
    audit: AuditTrail | None = None,
    on_whatsapp_message_id: Callable[[str], None] | None = None,
    on_recorded: Callable[[Mapping[str, Any]], None] | None = None,
    sending_paused: Callable[[str], bool] | None = None,
    max_rate_wait: float | None = None,
) -> Gateway:
    """The gateway wired the usual way: limits, tier default, alert level and window from ``params``.

    ``params`` is the policy bundle's (``load_bundle(...).params``), so every number the gateway
    enforces is the reviewed one the policies also see.
    """
    from gateway.outbound.gateway import Gateway
    from gateway.outbound.policy_input import window_seconds_from_params
    from gateway.outbound.ratelimit import RateLimiter, RateLimits
    from gateway.outbound.tier import (
        TierTracker,
        alert_ratio_from_params,
        default_limit_from_params,
    )
    from gateway.outbound.tier import window_seconds_from_params as tier_window_from_params

    tier = TierTracker(
        tables,
        clock,
        alerts,
        metrics,
        default_limit=default_limit_from_params(params),
        alert_ratio=alert_ratio_from_params(params),
        window_seconds=tier_window_from_params(params),
    )
    return Gateway(
        tables=tables,
        clock=clock,
        settings=settings,
        engine=engine,
        limits=RateLimits.from_params(params),
        limiter=RateLimiter(tables["RateLimitTrackers"], clock),
        tier=tier,
        drivers=drivers,
        metrics=metrics,
        outbox=outbox,
        audit=audit,
        on_whatsapp_message_id=on_whatsapp_message_id,
        on_recorded=on_recorded,
        sending_paused=sending_paused,
        max_rate_wait=max_rate_wait,
        window_seconds=window_seconds_from_params(params),
    )


def first_start(container: Container) -> list[str]:
    """Start-up chores of the embedded default; returns lines to print (the first Admin's login, once)."""
    report = wired(container.recovery, "recovery").run()
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

    import boto3

    from channels.retry import Retrier, botocore_config
    from channels.wiring import build_drivers, default_builders
    from gateway.alerts import SnsAlerts
    from gateway.metrics import ALARM_DIMENSION
    from gateway.queue.sqs import SqsQueues
    from gateway.secrets import load_from_ssm
    from gateway.store.dynamodb import DynamoTables

    clk = clock or SystemClock()
    session = session or boto3.session.Session(region_name=settings.AWS_REGION)
    tables = DynamoTables(session.client("dynamodb"), settings.TABLE_PREFIX, clk)
    queues = SqsQueues(
        session.client("sqs"),
        {
            "bulk-queue": settings.BULK_QUEUE_URL,
            "bulk-dlq": settings.BULK_DLQ_URL,
            "inbound-dlq": settings.INBOUND_DLQ_URL,
            "outbound-dlq": settings.OUTBOUND_DLQ_URL,
            "ai-queue": settings.AI_QUEUE_URL,
        },
    )
    metrics = Metrics(
        emf_stream=emf_stream if emf_stream is not None else sys.stdout,
        emf_dimensions={ALARM_DIMENSION: settings.TABLE_PREFIX},
    )
    alerts = SnsAlerts(session.client("sns"), settings.ALERT_TOPIC_ARN, metrics)
    # Neither secret is needed to send (EUM Social holds the Meta credentials); without APP_SECRET the
    # Meta webhook stays closed.
    secrets = load_from_ssm(session.client("ssm"), settings.AMPLIFY_SSM_ENV_CONFIG, required=())
    container = Container(
        settings,
        clk,
        tables,
        queues,
        metrics,
        alerts,
        runtime="lambda",
        objects=S3Objects(session.client("s3"), settings.REPORT_BUCKET, settings.REPORT_PREFIX),
    )
    builders = default_builders(
        media_bucket=settings.MEDIA_BUCKET,
        media_prefix=settings.MEDIA_OUTBOUND_PREFIX,
        sms_pool_id=settings.SMS_POOL_ID,
        from_address=settings.SES_SENDER_EMAIL,
        from_name=settings.SES_SENDER_NAME,
    )
    drivers = None
    if settings.SEND_MODE is SendMode.LIVE:
        config = botocore_config()
        drivers = build_drivers(
            "LIVE",
            builders=builders,
            retrier=Retrier(sleep=clk.sleep),
            client_factory=lambda name: session.client(name, config=config),
        )
    wire_services(
        container,
        secrets=secrets,
        drivers=drivers,
        social_client=session.client("socialmessaging", config=botocore_config()),
        s3_client=session.client("s3"),
        identity_fetch=identity_fetch,
        ai_backends=bedrock_backends(settings, session.client("bedrock-agent-runtime")),
    )
    return container


def bedrock_backends(settings: Settings, client: Any) -> tuple[Retriever, Drafter]:
    """Knowledge base ``Retrieve`` and agent ``InvokeAgent`` over one bedrock-agent-runtime client."""
    from gateway.ai.bedrock import BedrockAgentDrafter, BedrockRetriever

    return (
        BedrockRetriever(client, settings.BEDROCK_KB_ID),
        BedrockAgentDrafter(client, settings.BEDROCK_AGENT_ID, settings.BEDROCK_AGENT_ALIAS_ID),
    )
