"""``GET /api/auth/config``: how the UI signs in (local form or Cognito's Hosted UI), and COGNITO_DOMAIN."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from starlette.exceptions import StarletteDeprecationWarning

from gateway.api.app import create_app
from gateway.auth.hosted_ui import sign_in_config
from gateway.auth.identity import cognito_identity
from gateway.bootstrap import build_in_memory
from gateway.clock import FakeClock
from gateway.config import ConfigError, Settings, load_settings
from gateway.identity.passwords import Passwords

from .support import (
    CLIENT_ID,
    POOL_ID,
    FakeJwksEndpoint,
    MintToken,
    World,
    bearer,
    build_world,
    jwks_document,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

HOSTED_UI = "https://wecare-digital.auth.us-east-1.amazoncognito.com"


def cognito_client(settings: Settings, clock: FakeClock, key: RSAPrivateKey) -> TestClient:
    """The app with the AWS runtime's identity (as ``wire_identity`` builds it for ``lambda``)."""
    container = build_in_memory(settings, clock)
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", key)))
    container.identity = cognito_identity(
        pool_id=settings.COGNITO_USER_POOL_ID,
        client_id=settings.COGNITO_APP_CLIENT_ID,
        clock=clock,
        fetch=endpoint,
        users=container.users,
    )
    return TestClient(create_app(container), raise_server_exceptions=False)


# ---- the endpoint -------------------------------------------------------------------------------------


def test_the_embedded_default_signs_in_locally_without_a_token(world: World) -> None:
    reply = world.client.get("/api/auth/config")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"mode": "local"}
    assert reply.headers["Cache-Control"] == "no-cache"


def test_the_embedded_default_stays_local_even_with_a_hosted_ui_domain(
    tmp_path: Path, clock: FakeClock, cheap_passwords: Passwords
) -> None:
    w = build_world(tmp_path, clock, cheap_passwords)
    w.container.settings = Settings(COGNITO_DOMAIN="wecare-digital", COGNITO_APP_CLIENT_ID=CLIENT_ID)
    assert w.client.get("/api/auth/config").json() == {"mode": "local"}


def test_cognito_answers_the_hosted_ui_endpoints(
    clock: FakeClock, pool_key: RSAPrivateKey, mint: MintToken
) -> None:
    settings = Settings(COGNITO_APP_CLIENT_ID=CLIENT_ID, COGNITO_DOMAIN="wecare-digital")
    with cognito_client(settings, clock, pool_key) as client:
        reply = client.get("/api/auth/config")
        assert reply.status_code == 200, reply.text
        assert reply.json() == {
            "mode": "cognito",
            "authorizeUrl": f"{HOSTED_UI}/oauth2/authorize",
            "tokenUrl": f"{HOSTED_UI}/oauth2/token",
            "logoutUrl": f"{HOSTED_UI}/logout?client_id={CLIENT_ID}",
            "clientId": CLIENT_ID,
            "scopes": ["openid", "email"],
        }
        # No password sign-in beside it; and a pool access token (what the UI keeps) is accepted.
        assert client.post("/api/auth/login", json={"email": "a@b.c", "password": "x"}).status_code == 404
        me = client.get("/api/me", headers=bearer(mint()))
        assert me.status_code == 200, me.text
        assert me.json()["issuer"] == "cognito"
        # The ID token of the same sign-in is not an API token: the verifier wants access tokens.
        id_token = mint(token_use="id", client_id=None, aud=CLIENT_ID)
        assert client.get("/api/me", headers=bearer(id_token)).status_code == 401


def test_a_custom_domain_is_used_as_it_is(clock: FakeClock, pool_key: RSAPrivateKey) -> None:
    settings = Settings(COGNITO_APP_CLIENT_ID=CLIENT_ID, COGNITO_DOMAIN="https://Auth.WeCare.Digital/")
    with cognito_client(settings, clock, pool_key) as client:
        body = client.get("/api/auth/config").json()
    assert body["authorizeUrl"] == "https://auth.wecare.digital/oauth2/authorize"
    assert body["tokenUrl"] == "https://auth.wecare.digital/oauth2/token"


def test_cognito_without_a_hosted_ui_says_why_nobody_can_sign_in(
    clock: FakeClock, pool_key: RSAPrivateKey
) -> None:
    with cognito_client(Settings(COGNITO_APP_CLIENT_ID=CLIENT_ID), clock, pool_key) as client:
        reply = client.get("/api/auth/config")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["mode"] == "unavailable" and "COGNITO_DOMAIN" in body["message"]


def test_no_identity_at_all_is_unavailable_too() -> None:
    assert sign_in_config(None, HOSTED_UI)["mode"] == "unavailable"


# ---- the setting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored", "hosted_ui"),
    [
        ("", "", ""),
        ("  ", "", ""),
        ("wecare-digital", "wecare-digital", HOSTED_UI),
        ("WeCare-Digital", "wecare-digital", HOSTED_UI),
        (HOSTED_UI, HOSTED_UI, HOSTED_UI),
        (HOSTED_UI + "/", HOSTED_UI, HOSTED_UI),
        ("wecare-digital.auth.us-east-1.amazoncognito.com", HOSTED_UI, HOSTED_UI),
        ("https://auth.wecare.digital", "https://auth.wecare.digital", "https://auth.wecare.digital"),
        ("https://auth.example.com:8443", "https://auth.example.com:8443", "https://auth.example.com:8443"),
    ],
)
def test_cognito_domain_forms(value: str, stored: str, hosted_ui: str) -> None:
    settings = load_settings("embedded", {"COGNITO_DOMAIN": value})
    domain = settings.COGNITO_DOMAIN
    assert domain == stored
    assert settings.cognito_hosted_ui == hosted_ui


def test_a_prefix_lives_in_the_pools_region() -> None:
    settings = Settings(COGNITO_USER_POOL_ID="eu-west-2_AbCdEf123", COGNITO_DOMAIN="wecare-digital")
    assert settings.cognito_hosted_ui == "https://wecare-digital.auth.eu-west-2.amazoncognito.com"
    assert POOL_ID.startswith("us-east-1_")  # the default pool's region is the one the other tests use


@pytest.mark.parametrize(
    "value",
    [
        "http://wecare-digital.auth.us-east-1.amazoncognito.com",  # not https
        "ftp://auth.wecare.digital",
        "https://auth.wecare.digital/oauth2/authorize",  # a path: the endpoints are added here
        "https://auth.wecare.digital?x=1",
        "https://auth.wecare.digital#top",
        "https://user@auth.wecare.digital",
        "https://localhost",  # not a domain name
        "https://auth.wecare.digital:0",
        "https://auth.wecare.digital:99999",
        "https://",
        "-wecare",
        "wecare-",
        "wecare_digital",
        "wecare digital",
        "my-aws-login",  # Cognito refuses aws, amazon and cognito in a prefix
        "amazon-sign-in",
        "cognito-test",
        "a" * 64,
    ],
)
def test_a_bad_cognito_domain_stops_start_up_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings("lambda", {"COGNITO_DOMAIN": value})
    message = str(raised.value)
    assert "COGNITO_DOMAIN:" in message and "Cognito domain prefix" in message, message
