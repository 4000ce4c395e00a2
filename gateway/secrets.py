"""Secrets (WHATSAPP_ACCESS_TOKEN, APP_SECRET, METRICS_TOKEN): from SSM in AWS, never from plain env there.

Amplify secrets become SSM parameters; Amplify puts a placeholder in the function's environment and the
list of parameter paths in ``AMPLIFY_SSM_ENV_CONFIG``. Two shapes of that JSON exist across Amplify
releases and both are accepted:

* ``{"WHATSAPP_ACCESS_TOKEN": {"path": "/amplify/...", "sharedPath": "/amplify/shared/..."}}``
* ``{"/amplify/...": {"name": "WHATSAPP_ACCESS_TOKEN", "sharedPath": "..."}}``

Values are fetched once per cold start (one ``GetParameters`` call, with decryption) and kept in
:class:`pydantic.SecretStr`, so they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from gateway import safejson
from gateway.config import ConfigError

SECRET_NAMES = ("WHATSAPP_ACCESS_TOKEN", "APP_SECRET", "METRICS_TOKEN")
# METRICS_TOKEN is optional everywhere: without it /metrics is off outside the local embedded default.
DEFAULT_REQUIRED = ("WHATSAPP_ACCESS_TOKEN", "APP_SECRET")


@dataclass(frozen=True)
class Secrets:
    whatsapp_access_token: SecretStr | None = None
    app_secret: SecretStr | None = None
    metrics_token: SecretStr | None = None  # bearer token a scraper sends to GET /metrics


@dataclass(frozen=True)
class _Source:
    name: str
    path: str
    shared_path: str | None


def parse_ssm_env_config(raw: str) -> list[_Source]:
    if not raw.strip():
        return []
    try:
        doc = safejson.loads(raw, "AMPLIFY_SSM_ENV_CONFIG")
    except safejson.JsonInputError:
        raise ConfigError(
            "AMPLIFY_SSM_ENV_CONFIG: not valid JSON (expected the map Amplify writes)"
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError("AMPLIFY_SSM_ENV_CONFIG: expected a JSON object")
    sources = []
    for key, meta in doc.items():
        if not isinstance(meta, dict):
            raise ConfigError(f"AMPLIFY_SSM_ENV_CONFIG: entry {key!r} must be an object")
        if "path" in meta:  # name -> {path, sharedPath}
            sources.append(_Source(key, str(meta["path"]), meta.get("sharedPath")))
        elif "name" in meta:  # path -> {name, sharedPath}
            sources.append(_Source(str(meta["name"]), key, meta.get("sharedPath")))
        else:
            raise ConfigError(f"AMPLIFY_SSM_ENV_CONFIG: entry {key!r} has neither 'path' nor 'name'")
    return sources


def load_from_ssm(
    ssm_client: Any, ssm_env_config: str, required: tuple[str, ...] = DEFAULT_REQUIRED
) -> Secrets:
    """Resolve the secrets through SSM; a missing required one stops start-up (naming it, not its value)."""
    sources = [s for s in parse_ssm_env_config(ssm_env_config) if s.name in SECRET_NAMES]
    paths = [s.path for s in sources] + [s.shared_path for s in sources if s.shared_path]
    values: dict[str, str] = {}
    if paths:
        found: dict[str, str] = {}
        for start in range(0, len(paths), 10):  # GetParameters takes at most 10 names
            reply = ssm_client.get_parameters(Names=paths[start : start + 10], WithDecryption=True)
            found.update({p["Name"]: p["Value"] for p in reply.get("Parameters", [])})
        for source in sources:
            value = found.get(source.path)
            if value is None and source.shared_path:
                value = found.get(source.shared_path)
            if value is not None:
                values[source.name] = value
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(
            "missing secrets: "
            + ", ".join(missing)
            + " (set them with Amplify secrets; they are read from SSM, never from environment variables)"
        )
    return _secrets(values)


def load_local(environ: Mapping[str, str]) -> Secrets:
    """Embedded default: secrets may come from the environment (a developer's own machine)."""
    return _secrets({name: environ[name] for name in SECRET_NAMES if environ.get(name)})


def _secrets(values: Mapping[str, str]) -> Secrets:
    def get(name: str) -> SecretStr | None:
        return SecretStr(values[name]) if name in values else None

    return Secrets(
        whatsapp_access_token=get("WHATSAPP_ACCESS_TOKEN"),
        app_secret=get("APP_SECRET"),
        metrics_token=get("METRICS_TOKEN"),
    )
