"""One settings object, validated at start-up; every variable of the deployment in one place.

Each runtime declares which variables it requires (:data:`RUNTIME_REQUIREMENTS`); a missing or
malformed value stops start-up with :class:`ConfigError`, whose message names every bad variable
and what it expects. Secrets are never part of this object's repr and never read from plain env
in AWS (see :mod:`gateway.secrets`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ALLOWLIST_DEFAULTS = (
    "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54",
    "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06",
)


class ConfigError(Exception):
    """Start-up configuration is invalid; the message lists every problem."""


class SendMode(StrEnum):
    LIVE = "LIVE"
    DRY_RUN = "DRY_RUN"


class Environment(StrEnum):
    production = "production"
    staging = "staging"
    preview = "preview"
    local = "local"


Runtime = Literal["embedded", "lambda"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=True)

    # Global (all functions)
    SEND_MODE: SendMode = SendMode.DRY_RUN
    ENVIRONMENT: Environment = Environment.local
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    AWS_REGION: str = "us-east-1"
    COGNITO_USER_POOL_ID: str = "us-east-1_CC9u1fYh6"
    COGNITO_APP_CLIENT_ID: str = ""
    # The Cognito Hosted UI the web UI signs in through (AWS runtime): its domain prefix
    # ("wecare-digital" is https://wecare-digital.auth.<pool's region>.amazoncognito.com) or the https URL
    # (or bare host name) of a custom domain. Empty: the UI has no Cognito sign-in to offer.
    COGNITO_DOMAIN: str = ""
    ALERT_TOPIC_ARN: str = "arn:aws:sns:us-east-1:809904170947:base-wecare-digital"
    LOG_GROUP: str = "/base-wecare-digital/common"
    # Messaging functions
    WHATSAPP_PHONE_NUMBER_ID_1: str = ALLOWLIST_DEFAULTS[0]
    WHATSAPP_PHONE_NUMBER_ID_2: str = ALLOWLIST_DEFAULTS[1]
    SMS_POOL_ID: str = "pool-6fbf5a5f390d4eeeaa7dbae39d78933e"
    SES_SENDER_EMAIL: str = "one@wecare.digital"
    SES_SENDER_NAME: str = "WECARE.DIGITAL"
    # Storage functions
    MEDIA_BUCKET: str = "auth.wecare.digital"
    MEDIA_INBOUND_PREFIX: str = "whatsapp-media/whatsapp-media-incoming/"
    MEDIA_OUTBOUND_PREFIX: str = "whatsapp-media/whatsapp-media-outgoing/"
    # Bulk functions
    REPORT_BUCKET: str = "stream.wecare.digital"
    REPORT_PREFIX: str = "base-wecare-digital/reports/"
    BULK_QUEUE_URL: str = ""
    BULK_CONFIRMATION_THRESHOLD: int = Field(default=20, ge=1)
    # Worker threads consuming bulk-queue in the embedded default (8.4/13.6: 2..5).
    BULK_WORKER_CONCURRENCY: int = Field(default=2, ge=2, le=5)
    # A recipient claimed (``sending``) longer ago than this was left by a dead worker and is resolved
    # by a replay of its message id; it must exceed the longest chunk a worker holds (120 s).
    BULK_CLAIM_STALE_SECONDS: float = Field(default=300.0, ge=1, le=43200)
    # AI functions
    BEDROCK_KB_ID: str = "FZBPKGTOYE"
    BEDROCK_AGENT_ID: str = "HQNT0JXN8G"
    BEDROCK_AGENT_ALIAS_ID: str = ""
    BEDROCK_FOUNDATION_MODEL: str = "amazon.nova-pro-v1:0"
    AI_QUEUE_URL: str = ""
    # Phone numbers and e-mail addresses in a customer's text are masked before it leaves for a model.
    AI_MASK_PERSONAL_DATA: bool = True
    # The Markdown documents the embedded default's offline suggester retrieves from (default:
    # <data dir>/knowledge-base, seeded with sample documents on first start).
    AI_KNOWLEDGE_DIR: Path | None = None
    # AWS resource names (DynamoDB table prefix, queue URLs) and the embedded data dir
    TABLE_PREFIX: str = ""
    INBOUND_DLQ_URL: str = ""
    BULK_DLQ_URL: str = ""
    OUTBOUND_DLQ_URL: str = ""
    WECARE_DATA_DIR: Path = Path(".wecare")
    POLICY_DIR: Path | None = None
    SNS_TOPIC_ARN: str = "arn:aws:sns:us-east-1:809904170947:base-wecare-digital"
    META_VERIFY_TOKEN: str = ""
    AMPLIFY_SSM_ENV_CONFIG: str = ""

    @field_validator("COGNITO_USER_POOL_ID")
    @classmethod
    def _pool_id(cls, value: str) -> str:
        region, _, pool = value.partition("_")
        if not region or not pool:
            raise ValueError("expected <region>_<id>, e.g. us-east-1_CC9u1fYh6")
        return value

    @field_validator("COGNITO_DOMAIN")
    @classmethod
    def _cognito_domain(cls, value: str) -> str:
        return normalise_cognito_domain(value)

    @field_validator("WHATSAPP_PHONE_NUMBER_ID_1", "WHATSAPP_PHONE_NUMBER_ID_2")
    @classmethod
    def _phone_number_id(cls, value: str) -> str:
        if not value.startswith("phone-number-id-") or len(value) <= len("phone-number-id-"):
            raise ValueError("expected an EUM phone-number id: phone-number-id-<32 hex>")
        return value

    @field_validator("SMS_POOL_ID")
    @classmethod
    def _pool(cls, value: str) -> str:
        if not value.startswith("pool-"):
            raise ValueError("expected an SMS pool id: pool-<32 hex>")
        return value

    @field_validator("SES_SENDER_EMAIL")
    @classmethod
    def _sender(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("expected an email address, e.g. one@wecare.digital")
        return value

    @field_validator("MEDIA_INBOUND_PREFIX", "MEDIA_OUTBOUND_PREFIX", "REPORT_PREFIX")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.endswith("/") or value.startswith("/"):
            raise ValueError("expected a key prefix ending in '/' and not starting with one")
        return value

    @model_validator(mode="after")
    def _send_mode_matches_environment(self) -> Settings:
        # Requirement 10.7: only production may ever be LIVE, whatever the variables say.
        if self.SEND_MODE is SendMode.LIVE and self.ENVIRONMENT is not Environment.production:
            raise ValueError(
                f"SEND_MODE=LIVE is forbidden when ENVIRONMENT={self.ENVIRONMENT.value}; "
                "only production may send for real (use DRY_RUN)"
            )
        return self

    @property
    def whatsapp_phone_number_ids(self) -> tuple[str, str]:
        return (self.WHATSAPP_PHONE_NUMBER_ID_1, self.WHATSAPP_PHONE_NUMBER_ID_2)

    @property
    def cognito_hosted_ui(self) -> str:
        """The Hosted UI's base URL (``https://host``, no trailing slash), or "" when none is set."""
        domain = self.COGNITO_DOMAIN
        if not domain or domain.startswith("https://"):
            return domain
        region = self.COGNITO_USER_POOL_ID.split("_", 1)[0]  # the Hosted UI lives in the pool's region
        return f"https://{domain}.auth.{region}.amazoncognito.com"


# A Cognito domain prefix, and each label of a host name: lowercase letters, digits and hyphens, not at
# either end, at most 63.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_COGNITO_DOMAIN_EXPECTS = (
    "expected a Cognito domain prefix (e.g. wecare-digital) or the https:// URL of the Hosted UI "
    "(e.g. https://wecare-digital.auth.us-east-1.amazoncognito.com), with no path"
)


def normalise_cognito_domain(value: str) -> str:
    """``COGNITO_DOMAIN`` as stored: "", a bare prefix, or ``https://host[:port]`` (lowercase, no slash).

    A bare host name (with a dot) is taken as ``https://`` that host; anything with another scheme, a
    path, a query, a fragment or credentials is refused, so the UI is never sent anywhere unexpected.
    """
    text = value.strip().lower()
    if not text:
        return ""
    if "://" not in text:
        if "." not in text:
            if not _LABEL.match(text) or any(w in text for w in ("aws", "amazon", "cognito")):
                raise ValueError(
                    _COGNITO_DOMAIN_EXPECTS + "; a prefix may not contain aws, amazon or cognito"
                )
            return text
        text = "https://" + text
    scheme, _, rest = text.partition("://")
    host_port = rest[:-1] if rest.endswith("/") else rest
    host, _, port = host_port.partition(":")
    labels = host.split(".")
    if (
        scheme != "https"
        or any(c in host_port for c in "/?#@\\ ")
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or (port and not (port.isdigit() and 0 < int(port) < 65536))
    ):
        raise ValueError(_COGNITO_DOMAIN_EXPECTS)
    return f"https://{host_port}"


# What each runtime cannot start without (beyond having a valid value for everything else).
RUNTIME_REQUIREMENTS: Mapping[Runtime, tuple[str, ...]] = {
    "embedded": (),
    "lambda": (
        "COGNITO_APP_CLIENT_ID",
        "TABLE_PREFIX",
        "BULK_QUEUE_URL",
        "AI_QUEUE_URL",
        "INBOUND_DLQ_URL",
        "BULK_DLQ_URL",
        "OUTBOUND_DLQ_URL",
    ),
}

_EXPECTS = {
    "SEND_MODE": "LIVE or DRY_RUN",
    "ENVIRONMENT": "production, staging, preview or local",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "BULK_CONFIRMATION_THRESHOLD": "a whole number ≥ 1",
    "BULK_WORKER_CONCURRENCY": "a whole number from 2 to 5",
    "BULK_CLAIM_STALE_SECONDS": "seconds from 1 to 43200",
}


def load_settings(
    runtime: Runtime, environ: Mapping[str, str] | None = None, **overrides: object
) -> Settings:
    """Validate the environment for ``runtime``; raise ConfigError naming every bad variable."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    # Checked on the raw values too, so this problem is reported together with any other one
    # (the model's own check only runs once every field is valid).
    raw_mode = str(overrides.get("SEND_MODE", env.get("SEND_MODE", "")))
    raw_env = str(overrides.get("ENVIRONMENT", env.get("ENVIRONMENT", Environment.local.value)))
    if raw_mode == SendMode.LIVE.value and raw_env != Environment.production.value:
        problems.append(
            f"SEND_MODE=LIVE is forbidden when ENVIRONMENT={raw_env}; only production may send for real"
            " (use DRY_RUN)"
        )
    try:
        if environ is None:
            settings = Settings(**overrides)  # type: ignore[arg-type]
        else:
            known = {k: v for k, v in env.items() if k in Settings.model_fields}
            settings = Settings.model_validate({**known, **overrides})
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "SEND_MODE/ENVIRONMENT"
            expects = _EXPECTS.get(name, "")
            msg = str(err["msg"]).removeprefix("Value error, ")
            hint = f" (expected {expects})" if expects and expects not in msg else ""
            if "SEND_MODE=LIVE is forbidden" not in msg:
                problems.append(f"{name}: {msg}{hint}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    for name in RUNTIME_REQUIREMENTS[runtime]:
        if not str(getattr(settings, name)):
            problems.append(f"{name}: required by the {runtime} runtime but not set")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings
