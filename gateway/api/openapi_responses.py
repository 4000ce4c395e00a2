"""What each operation answers on success, for the OpenAPI document (:mod:`gateway.api.openapi`).

Most routes return ``dict[str, Any]`` (the services shape their answers), so FastAPI can only say
"an object". The models here describe those answers for the document alone: no route returns or
validates them, so they cannot change an answer. Each lists the keys that are always there (required,
with their types, ``null`` where a value may be absent) and allows more (``additionalProperties``):
an answer may carry keys only some rows have. The schemathesis run checks every answer it provokes
against them, so a model that promises more than a route gives fails the fuzzer.

:data:`RESPONSES` names the model of each operation's 2xx JSON answer: a new route is one entry here
(plus its model when no existing one fits); ``tests/api/test_openapi_contract.py`` fails for an
operation whose success answer is left untyped. Every model given there carries an ``example`` (a
class attribute, never a field), shown in ``/docs`` and validated against the model and its schema.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

Example = dict[str, Any]

RoleName = Literal["Viewer", "Operator", "Admin"]
Channel = Literal["whatsapp", "sms", "email"]
JobStatus = Literal[
    "scheduled", "pending", "running", "paused", "cancelling", "cancelled", "completed", "failed"
]
RecipientStatus = Literal[
    "pending", "sending", "sent", "failed", "rejected", "deferred", "cancelled", "unknown"
]
SuggestionStatus = Literal["pending", "approved", "rejected", "failed"]
QueueName = Literal["inbound-dlq", "bulk-dlq", "outbound-dlq"]
Epoch = float  # epoch seconds (a JSON number)

_USER_ID: Final = "usr_2fe7fb03b738486da4e3edbe964d63d0"
_CONTACT_ID: Final = "ct_0123456789abcdef0123456789abcdef"
_MESSAGE_ID: Final = "msg_248e3394843d409a91bf57502a419759"
_JOB_ID: Final = "job_8d8aeec0aa74423ab80bfa96bed9a2a4"
_NOW: Final = 1764067200.0
_DIGEST: Final = "sha256:26b18ebfa2dc4ceb4d7583c737508b33b50291702a37c6fa8770ec209477fc30"


def _cursor() -> Any:
    return Field(description="the next page's cursor; null on the last page")


class Answer(BaseModel):
    """A success answer: the keys always there, and possibly more."""

    model_config = ConfigDict(extra="allow")

    # One realistic answer (a class attribute, not a field): the operation's example in the document.
    example: ClassVar[Example] = {}


# ---- identity and users ------------------------------------------------------------------------------


class User(Answer):
    """An account as the API shows it (never its password hash)."""

    userId: str
    email: str
    role: RoleName
    disabled: bool
    source: str | None = Field(default=None, description="local or cognito")
    createdAt: Epoch | None = None
    updatedAt: Epoch | None = None
    lastLoginAt: Epoch | None

    example: ClassVar[Example] = {
        "userId": _USER_ID,
        "email": "operator@example.com",
        "role": "Operator",
        "disabled": False,
        "source": "local",
        "createdAt": _NOW,
        "updatedAt": _NOW,
        "lastLoginAt": None,
    }


class SignedIn(Answer):
    accessToken: str = Field(description="send it as 'Authorization: Bearer <accessToken>'")
    tokenType: Literal["Bearer"]
    expiresIn: int = Field(description="seconds the token stays valid")
    user: User

    example: ClassVar[Example] = {
        "accessToken": "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiJ1c3JfLi4uIn0.c2lnbmF0dXJl",
        "tokenType": "Bearer",
        "expiresIn": 3600,
        "user": User.example,
    }


class SendingPaused(BaseModel):
    channels: list[Literal["all", "whatsapp", "sms", "email"]] = Field(min_length=1)
    reason: str
    pausedBy: str | None = None
    pausedAt: float | None = None


class Me(Answer):
    userId: str
    email: str
    role: RoleName
    issuer: str = Field(description="local (embedded identity) or cognito")
    sendingPaused: SendingPaused | None = Field(
        description="the kill switch while an Admin has paused sending (SystemConfig sending.paused); "
        "else null"
    )

    example: ClassVar[Example] = {
        "userId": _USER_ID,
        "email": "operator@example.com",
        "role": "Operator",
        "issuer": "local",
        "sendingPaused": {
            "channels": ["sms"],
            "reason": "Carrier incident: SMS on hold",
            "pausedBy": _USER_ID,
            "pausedAt": _NOW,
        },
    }


class AuthConfig(Answer):
    mode: Literal["local", "cognito", "unavailable"] = Field(
        description="local: POST /api/auth/login; cognito: the Hosted UI (authorization code + PKCE); "
        "unavailable: nobody can sign in here (message says why)"
    )
    authorizeUrl: str | None = Field(default=None, description="cognito: the Hosted UI's authorize endpoint")
    tokenUrl: str | None = Field(default=None, description="cognito: its token endpoint (public client)")
    logoutUrl: str | None = Field(default=None, description="cognito: its logout endpoint; add logout_uri")
    clientId: str | None = Field(default=None, description="cognito: the app client")
    scopes: list[str] | None = Field(default=None, description="cognito: the scopes to ask for")
    message: str | None = Field(default=None, description="unavailable: why")

    example: ClassVar[Example] = {
        "mode": "cognito",
        "authorizeUrl": "https://wecare-digital.auth.us-east-1.amazoncognito.com/oauth2/authorize",
        "tokenUrl": "https://wecare-digital.auth.us-east-1.amazoncognito.com/oauth2/token",
        "logoutUrl": "https://wecare-digital.auth.us-east-1.amazoncognito.com/logout?client_id=4example0client0id0abcdefg",
        "clientId": "4example0client0id0abcdefg",
        "scopes": ["openid", "email"],
    }


class NewToken(Answer):
    accessToken: str
    expiresIn: int

    example: ClassVar[Example] = {"accessToken": SignedIn.example["accessToken"], "expiresIn": 3600}


class UserPage(Answer):
    items: list[User]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {"items": [User.example], "cursor": None}


class CreatedUser(Answer):
    user: User
    password: str | None = Field(
        default=None, description="the generated password when none was given: shown this once"
    )

    example: ClassVar[Example] = {"user": User.example, "password": "DQEha4oc5cvz-LNtj8PgVZ_M"}


class OneTimePassword(Answer):
    user: User
    password: str = Field(description="the one-time password, shown this once")

    example: ClassVar[Example] = {"user": User.example, "password": "b-bqRbJSJDJGjPffOeMHqc5G"}


# ---- health ------------------------------------------------------------------------------------------


class Health(Answer):
    status: Literal["ok"]
    runtime: str = Field(description="embedded or aws")
    environment: str
    sendMode: str = Field(description="DRY_RUN or LIVE")

    example: ClassVar[Example] = {
        "status": "ok",
        "runtime": "embedded",
        "environment": "local",
        "sendMode": "DRY_RUN",
    }


# ---- contacts ----------------------------------------------------------------------------------------


class ConsentChange(Answer):
    channel: str
    old: bool
    new: bool
    at: Epoch
    actor: str | None = None
    source: str | None = None


class Contact(Answer):
    contactId: str
    name: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    email: str | None = None
    optInWhatsApp: bool
    optInSms: bool
    optInEmail: bool
    lastInboundMessageAt: Epoch | None
    windowExpiresAt: Epoch | None = Field(description="when the WhatsApp window closes; null: closed")
    createdAt: Epoch | None = None
    updatedAt: Epoch | None = None
    consentHistory: list[ConsentChange] | None = Field(
        default=None, description="every opt-in change (on a single contact, not in lists)"
    )

    example: ClassVar[Example] = {
        "contactId": _CONTACT_ID,
        "name": "Amelia Hughes",
        "phone": "+447812345678",
        "email": "amelia@example.com",
        "optInWhatsApp": True,
        "optInSms": True,
        "optInEmail": False,
        "createdAt": _NOW,
        "updatedAt": _NOW,
        "createdBy": _USER_ID,
        "createdVia": "api",
        "consentHistory": [
            {
                "channel": "sms",
                "old": False,
                "new": True,
                "actor": _USER_ID,
                "at": _NOW,
                "source": "api",
                "evidence": {"note": "paper form signed in store, 2025-09-18"},
            }
        ],
        "lastInboundMessageAt": None,
        "windowExpiresAt": None,
    }


class ContactPage(Answer):
    items: list[Contact]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {
        "items": [{k: v for k, v in Contact.example.items() if k != "consentHistory"}],
        "cursor": None,
    }


# ---- policy decisions --------------------------------------------------------------------------------


class Finding(Answer):
    policy: str
    rule: str
    reason: str
    message: str


class RuleOutcome(Answer):
    policy: str
    rule: str
    outcome: Literal["pass", "fail", "error", "skipped"]


class BundleRef(Answer):
    name: str
    version: str
    digest: str


_BUNDLE: Final[Example] = {"name": "wecare", "version": "1.2.0", "digest": _DIGEST}


class Decision(Answer):
    """The policy's decision: every deny reason, warning and audit, and every rule's outcome."""

    allowed: bool
    reasons: list[str] = Field(description="deny reason codes, e.g. OPT_IN_REQUIRED")
    violations: list[Finding]
    warnings: list[str]
    audits: list[str]
    notices: list[Finding]
    evaluated: list[RuleOutcome]
    bundle: BundleRef

    example: ClassVar[Example] = {
        "allowed": True,
        "reasons": [],
        "violations": [],
        "warnings": [],
        "audits": [],
        "notices": [],
        "evaluated": [
            {"policy": "contact", "rule": "contact-exists", "outcome": "pass"},
            {"policy": "opt-in", "rule": "sms-opt-in", "outcome": "pass"},
        ],
        "bundle": _BUNDLE,
    }


class DecisionSummary(Answer):
    """A stored decision: in full on a single message, its reasons and warnings in lists."""

    allowed: bool
    reasons: list[str]
    warnings: list[str]


class PolicyExplanation(Answer):
    policy: str
    match: dict[str, Any]
    variables: dict[str, Any]
    rules: list[dict[str, Any]]


class Evaluation(Answer):
    decision: Decision
    engine: str
    policies: list[PolicyExplanation] | None = Field(
        default=None, description="with ?explain=true: each policy's match, variables and rules"
    )

    example: ClassVar[Example] = {"decision": Decision.example, "engine": "fast"}


class ChangelogEntry(Answer):
    version: str
    date: str
    changes: list[str]


class RuleView(Answer):
    name: str
    action: str
    reason: str | None
    message: str | None
    expression: str
    match: str | None


class PolicyView(Answer):
    name: str
    file: str
    description: str | None
    requirements: list[str]
    match: str | None
    variables: list[dict[str, Any]]
    rules: list[RuleView]


class PolicyBundle(Answer):
    name: str
    version: str
    digest: str
    description: str | None
    engine: str
    files: list[str]
    changelog: list[ChangelogEntry]
    params: dict[str, Any]
    reasons: list[str] = Field(description="every reason code the bundle can give")
    policies: list[PolicyView]

    example: ClassVar[Example] = {
        **_BUNDLE,
        "description": "Opt-in, allowlist, 24-hour window, tier, send-mode and content rules.",
        "engine": "fast",
        "files": ["bundle.yaml", "opt-in.yaml"],
        "changelog": [{"version": "1.2.0", "date": "2026-12-07", "changes": ["recipient-address: ..."]}],
        "params": {"whatsapp": {"windowSeconds": 86400}},
        "reasons": ["CONTACT_NOT_FOUND", "OPT_IN_REQUIRED"],
        "policies": [
            {
                "name": "opt-in",
                "file": "opt-in.yaml",
                "description": "The contact opted in to the channel.",
                "header": "",
                "requirements": ["2.1"],
                "match": None,
                "variables": [],
                "rules": [
                    {
                        "name": "sms-opt-in",
                        "action": "deny",
                        "reason": "OPT_IN_REQUIRED",
                        "message": "the contact has not opted in to SMS",
                        "expression": "contact.optInSms",
                        "match": "request.channel == 'sms'",
                        "line": 12,
                    }
                ],
            }
        ],
    }


class DecisionRecord(Answer):
    messageId: str
    channel: Channel
    timestamp: Epoch
    decision: DecisionSummary
    contactId: str | None = None
    status: str | None = None


class DecisionPage(Answer):
    items: list[DecisionRecord]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {
        "items": [
            {
                "messageId": _MESSAGE_ID,
                "contactId": _CONTACT_ID,
                "channel": "sms",
                "direction": "outbound",
                "timestamp": _NOW,
                "status": "sent",
                "origin": "api",
                "category": "service",
                "decision": Decision.example,
            }
        ],
        "cursor": None,
    }


# ---- messages ----------------------------------------------------------------------------------------


class Message(Answer):
    """A stored message, inbound or outbound; an outbound one carries the decision it was sent under."""

    messageId: str
    contactId: str
    channel: Channel
    direction: Literal["inbound", "outbound"]
    timestamp: Epoch
    content: dict[str, Any] = Field(description="type plus its fields, e.g. {type: text, body}")
    status: str | None = Field(
        default=None, description="sending, sent, delivered, read, failed, received..."
    )
    decision: DecisionSummary | None = None

    example: ClassVar[Example] = {
        "messageId": _MESSAGE_ID,
        "kind": "message",
        "contactId": _CONTACT_ID,
        "channel": "sms",
        "direction": "outbound",
        "content": {"type": "text", "body": "Your order has shipped"},
        "timestamp": _NOW,
        "origin": "api",
        "category": "service",
        "decision": Decision.example,
        "sendMode": "DRY_RUN",
        "createdBy": _USER_ID,
        "to": "+447812345678",
        "status": "sent",
        "statusTimestamps": {"sending": _NOW, "sent": _NOW},
        "providerMessageId": "dryrun-57c47a14-5358-464c-a4d8-c911eb548f21",
    }


class MessageDetail(Message):
    createdByEmail: str | None = Field(description="who sent it (null: inbound, or not known)")
    contactName: str | None

    example: ClassVar[Example] = {
        **Message.example,
        "createdByEmail": "operator@example.com",
        "contactName": "Amelia Hughes",
    }


class MessagePage(Answer):
    items: list[Message]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {
        "items": [
            {
                **Message.example,
                "decision": {"allowed": True, "reasons": [], "warnings": []},
            }
        ],
        "cursor": None,
    }


class SentMessage(Answer):
    message: Message = Field(description="the stored message, with its decision")
    replayed: bool = Field(description="true when an Idempotency-Key repeat answered")

    example: ClassVar[Example] = {"message": Message.example, "replayed": False}


# ---- the DM inbox ------------------------------------------------------------------------------------


class LastMessage(Answer):
    messageId: str | None
    direction: Literal["inbound", "outbound"]
    channel: Channel
    preview: str | None = Field(description="the start of its text, or what it carries")
    timestamp: Epoch


class Conversation(Answer):
    """One contact's conversation: its newest message, unread inbound messages, the WhatsApp window."""

    contactId: str
    contactName: str | None = None
    phone: str | None = None
    email: str | None = None
    lastActivityAt: Epoch | None = None
    lastMessage: LastMessage | None = None
    unreadCount: int
    lastInboundAt: Epoch | None = None
    windowOpen: bool
    windowExpiresAt: Epoch | None = None
    channels: list[Channel] = Field(description="the channels it has messages on")
    seenAt: Epoch | None = None
    seenByEmail: str | None = None

    example: ClassVar[Example] = {
        "contactId": _CONTACT_ID,
        "contactName": "Amelia Hughes",
        "phone": "+447812345678",
        "email": "amelia@example.com",
        "lastActivityAt": _NOW - 60,
        "lastMessage": {
            "messageId": "in_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
            "direction": "inbound",
            "channel": "whatsapp",
            "preview": "Can I move my appointment to Friday afternoon?",
            "status": "received",
            "timestamp": _NOW - 60,
        },
        "unreadCount": 1,
        "lastInboundAt": _NOW - 60,
        "windowOpen": True,
        "windowExpiresAt": _NOW - 60 + 86400,
        "channels": ["whatsapp"],
        "seenAt": None,
        "seenByEmail": None,
    }


class ConversationPage(Answer):
    items: list[Conversation]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {"items": [Conversation.example], "cursor": None}


class ConversationAnswer(Answer):
    conversation: Conversation

    example: ClassVar[Example] = {
        "conversation": {
            **Conversation.example,
            "unreadCount": 0,
            "seenAt": _NOW,
            "seenByEmail": "operator@example.com",
        }
    }


# ---- bulk jobs ---------------------------------------------------------------------------------------


class Preflight(Answer):
    total: int = Field(description="distinct recipients")
    wouldSend: int
    refused: dict[str, int] = Field(description="recipients the policy would refuse, by reason code")
    opensConversations: int


_PREFLIGHT: Final[Example] = {"total": 1, "wouldSend": 1, "refused": {}, "opensConversations": 0}


class PreflightAnswer(Answer):
    preflight: Preflight

    example: ClassVar[Example] = {"preflight": _PREFLIGHT}


class BulkJob(Answer):
    jobId: str
    status: JobStatus
    channel: Channel
    totalRecipients: int
    counts: dict[str, int] = Field(description="recipients by status")
    createdAt: Epoch

    example: ClassVar[Example] = {
        "jobId": _JOB_ID,
        "createdBy": _USER_ID,
        "channel": "sms",
        "name": "October reminders",
        "content": {"type": "text", "body": "Your appointment is tomorrow"},
        "status": "pending",
        "totalRecipients": 1,
        "createdAt": _NOW,
        "updatedAt": _NOW,
        "preflight": _PREFLIGHT,
        "counts": {
            "sent": 0,
            "failed": 0,
            "rejected": 0,
            "pending": 1,
            "cancelled": 0,
            "deferred": 0,
            "sending": 0,
            "unknown": 0,
        },
    }


class JobAnswer(Answer):
    job: BulkJob = Field(description="the bulk job, with its recipients' counts by status")

    example: ClassVar[Example] = {"job": BulkJob.example}


class JobPage(Answer):
    items: list[BulkJob]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {
        "items": [{**BulkJob.example, "elapsedSeconds": None, "ratePerSecond": None, "etaSeconds": None}],
        "cursor": None,
    }


class Recipient(Answer):
    jobId: str
    recipientId: str
    contactId: str
    status: RecipientStatus


class RecipientPage(Answer):
    items: list[Recipient]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {
        "items": [
            {
                "jobId": _JOB_ID,
                "recipientId": _CONTACT_ID,
                "contactId": _CONTACT_ID,
                "status": "pending",
                "attempt": 0,
                "messageId": "msg_bulk_1c44ca17963c31bae750af00bbca183c",
            }
        ],
        "cursor": None,
    }


class BulkReport(Answer):
    """A job's summary: counts by status and reason, duration, throughput, the bundles it was sent under."""

    jobId: str
    channel: Channel
    status: JobStatus
    final: bool = Field(description="true once the job has ended: the report will not change")
    totalRecipients: int
    counts: dict[str, int]
    reasons: dict[str, int]
    durationSeconds: float
    throughputPerSecond: float | None
    generatedAt: Epoch

    example: ClassVar[Example] = {
        "jobId": _JOB_ID,
        "name": "October reminders",
        "channel": "sms",
        "status": "completed",
        "final": True,
        "createdBy": _USER_ID,
        "createdAt": _NOW,
        "startedAt": _NOW,
        "endedAt": _NOW + 4,
        "totalRecipients": 2,
        "counts": {"rejected": 1, "sent": 1},
        "reasons": {"OPT_IN_REQUIRED": 1},
        "providerErrorCodes": {},
        "durationSeconds": 4.0,
        "throughputPerSecond": 0.5,
        "bundles": [{**_BUNDLE, "recipients": 2}],
        "pauseReason": None,
        "generatedAt": _NOW + 4,
    }


# ---- dead letters ------------------------------------------------------------------------------------


class DeadLetter(Answer):
    dlqMessageId: str
    queueName: QueueName
    status: Literal["pending", "parked", "replayed"]


class DeadLetterPage(Answer):
    items: list[DeadLetter]
    cursor: str | None = _cursor()
    depth: dict[str, int] = Field(description="messages waiting in each dead-letter queue")

    example: ClassVar[Example] = {
        "items": [
            {
                "dlqMessageId": "dlq_5f1c8e0b6d7a4e2f9a3b1c0d8e7f6a5b",
                "kind": "dlq-message",
                "originalMessageId": "sha256:0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
                "queueName": "outbound-dlq",
                "status": "pending",
                "retryCount": 0,
                "attempts": 1,
                "firstFailedAt": _NOW,
                "lastAttemptAt": _NOW,
                "payload": '{"messageId": "msg_248e3394843d409a91bf57502a419759"}',
                "error": "provider timeout",
                "errorType": "SendFailed",
            }
        ],
        "cursor": None,
        "depth": {"inbound-dlq": 0, "bulk-dlq": 0, "outbound-dlq": 1},
    }


class ReplayResult(Answer):
    dlqMessageId: str
    outcome: Literal["replayed", "failed", "parked", "skipped", "busy"]
    detail: str


class ReplayReport(Answer):
    queue: QueueName
    requested: int
    received: int
    replayed: int
    failed: int
    parked: int
    skipped: int
    busy: int
    results: list[ReplayResult]

    example: ClassVar[Example] = {
        "queue": "outbound-dlq",
        "requested": 10,
        "received": 1,
        "replayed": 1,
        "failed": 0,
        "parked": 0,
        "skipped": 0,
        "busy": 0,
        "results": [
            {"dlqMessageId": "dlq_5f1c8e0b6d7a4e2f9a3b1c0d8e7f6a5b", "outcome": "replayed", "detail": ""}
        ],
    }


# ---- AI suggestions ----------------------------------------------------------------------------------


class Suggestion(Answer):
    """A suggested reply to an inbound message, and what became of it."""

    interactionId: str
    messageId: str
    contactId: str
    status: SuggestionStatus
    response: str | None = Field(default=None, description="the suggested reply (absent when it failed)")

    example: ClassVar[Example] = {
        "interactionId": "ai_3b9e4f0d2c1a4b5e8f7a6d5c4b3a2f1e",
        "messageId": "in_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
        "contactId": _CONTACT_ID,
        "query": "Can I move my appointment to Friday afternoon?",
        "inboundText": "Can I move my appointment to Friday afternoon?",
        "inboundAt": _NOW - 60,
        "requestedBy": _USER_ID,
        "requestedByEmail": "operator@example.com",
        "timestamp": _NOW,
        "status": "pending",
        "response": "Of course: Friday at 2 pm is free. Shall I book it?",
        "references": [],
        "citations": [],
        "latencyMs": 412.5,
        "stale": False,
        "lastInboundMessageAt": _NOW - 60,
    }


class SuggestionAnswer(Answer):
    suggestion: Suggestion

    example: ClassVar[Example] = {"suggestion": Suggestion.example}


class SuggestionPage(Answer):
    items: list[Suggestion]
    cursor: str | None = _cursor()

    example: ClassVar[Example] = {"items": [Suggestion.example], "cursor": None}


class Automation(Answer):
    enabled: bool = Field(description="whether suggestions are made automatically for inbound messages")


_COUNTS: Final[Example] = {
    "suggested": 3,
    "approvedAsIs": 1,
    "edited": 1,
    "rejected": 0,
    "failed": 0,
    "pending": 1,
    "ratedGood": 1,
    "ratedBad": 0,
}


class SuggestionStats(Answer):
    overall: dict[str, int] = Field(description="suggested, approvedAsIs, edited, rejected, failed...")
    byDocument: dict[str, dict[str, int]] = Field(description="the same counts per cited document")
    automation: Automation

    example: ClassVar[Example] = {
        "overall": _COUNTS,
        "byDocument": {"opening-hours.md": _COUNTS},
        "automation": {"enabled": False},
    }


# ---- configuration -----------------------------------------------------------------------------------


class ConfigEntry(Answer):
    key: str
    value: Any = Field(description="the value in force")
    default: Any
    description: str


class ConfigList(Answer):
    items: list[ConfigEntry]

    example: ClassVar[Example] = {
        "items": [
            {
                "key": "ai.enabled",
                "value": False,
                "default": False,
                "description": "AI-suggested replies for inbound WhatsApp messages (requirement 15)",
            }
        ]
    }


class ConfigChanged(Answer):
    key: str
    value: Any
    updatedAt: Epoch
    updatedBy: str

    example: ClassVar[Example] = {
        "key": "ai.enabled",
        "value": True,
        "updatedAt": _NOW,
        "updatedBy": _USER_ID,
    }


# ---- webhooks ----------------------------------------------------------------------------------------


class Ingested(Answer):
    """What one webhook delivery became: events read, messages and statuses stored, dead letters."""

    events: int
    messages: int = Field(description="messages newly stored")
    duplicates: int
    statuses: int
    pendingStatuses: int
    ignored: int
    deadLettered: int
    errors: list[str]
    dlqMessageIds: list[str]

    example: ClassVar[Example] = {
        "events": 1,
        "messages": 1,
        "duplicates": 0,
        "statuses": 0,
        "pendingStatuses": 0,
        "ignored": 0,
        "deadLettered": 0,
        "errors": [],
        "dlqMessageIds": [],
    }


class SnsReceived(Answer):
    type: str = Field(description="the SNS message type: Notification, SubscriptionConfirmation...")
    confirmed: bool | None = Field(default=None, description="a subscription confirmation was confirmed")

    example: ClassVar[Example] = {"type": "Notification", **Ingested.example}


# ---- which operation answers which -------------------------------------------------------------------

_SUGGESTION_OPS: Final = (
    ("POST", "/api/ai/suggestions"),
    ("GET", "/api/ai/suggestions/{interaction_id}"),
    ("POST", "/api/ai/suggestions/{interaction_id}/approve"),
    ("POST", "/api/ai/suggestions/{interaction_id}/reject"),
    ("POST", "/api/ai/suggestions/{interaction_id}/feedback"),
)

# The model of each operation's 2xx application/json answer (every 2xx the operation documents).
RESPONSES: Final[dict[tuple[str, str], type[Answer]]] = {
    ("GET", "/healthz"): Health,
    ("GET", "/api/auth/config"): AuthConfig,
    ("POST", "/api/auth/login"): SignedIn,
    ("GET", "/api/me"): Me,
    ("POST", "/api/me/password"): NewToken,
    ("GET", "/api/users"): UserPage,
    ("POST", "/api/users"): CreatedUser,
    ("PATCH", "/api/users/{user_id}"): User,
    ("POST", "/api/users/{user_id}/password"): OneTimePassword,
    ("GET", "/api/contacts"): ContactPage,
    ("POST", "/api/contacts"): Contact,
    ("GET", "/api/contacts/{contact_id}"): Contact,
    ("PATCH", "/api/contacts/{contact_id}"): Contact,
    ("GET", "/api/conversations"): ConversationPage,
    ("POST", "/api/conversations/{contact_id}/read"): ConversationAnswer,
    ("GET", "/api/messages"): MessagePage,
    ("POST", "/api/messages"): SentMessage,
    ("POST", "/api/channels/{channel}/messages"): SentMessage,
    ("GET", "/api/messages/{message_id}"): MessageDetail,
    ("POST", "/api/bulk-jobs/preflight"): PreflightAnswer,
    ("GET", "/api/bulk-jobs"): JobPage,
    ("POST", "/api/bulk-jobs"): JobAnswer,
    ("GET", "/api/bulk-jobs/{job_id}"): JobAnswer,
    ("GET", "/api/bulk-jobs/{job_id}/recipients"): RecipientPage,
    ("GET", "/api/bulk-jobs/{job_id}/report"): BulkReport,
    **{
        ("POST", f"/api/bulk-jobs/{{job_id}}/{action}"): JobAnswer for action in ("pause", "resume", "cancel")
    },
    ("GET", "/api/dlq"): DeadLetterPage,
    ("POST", "/api/dlq/replay"): ReplayReport,
    ("GET", "/api/policies"): PolicyBundle,
    ("POST", "/api/policies/evaluate"): Evaluation,
    ("GET", "/api/decisions"): DecisionPage,
    ("GET", "/api/ai/suggestions"): SuggestionPage,
    **dict.fromkeys(_SUGGESTION_OPS, SuggestionAnswer),
    ("GET", "/api/ai/stats"): SuggestionStats,
    ("GET", "/api/config"): ConfigList,
    ("PUT", "/api/config/{key}"): ConfigChanged,
    ("POST", "/webhooks/sns"): SnsReceived,
    ("POST", "/webhooks/meta"): Ingested,
}
