"""Helpers for identity tests: a fake clock, in-memory tables, cheap password hashing, RSA keys
and a helper that mints tokens shaped like Cognito's (signed by keys the tests own)."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from starlette.exceptions import StarletteDeprecationWarning

from gateway.api.app import create_app
from gateway.audit import AuditLog
from gateway.auth.identity import LocalIdentity, local_identity
from gateway.auth.jwks import public_jwk
from gateway.bootstrap import Container, build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings
from gateway.contacts.service import ContactService
from gateway.identity.passwords import Passwords
from gateway.users import UserService

with warnings.catch_warnings():
    # The test client warns that it prefers another HTTP library; that is not what these tests check.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

POOL_ID = "us-east-1_CC9u1fYh6"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
CLIENT_ID = "4example0client0id0abcdefg"

MintToken = Callable[..., str]


def cheap_passwords_instance() -> Passwords:
    # The smallest Argon2 parameters the library accepts: the tests check behaviour, not hash strength.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_document(*pairs: tuple[str, RSAPrivateKey]) -> bytes:
    return json.dumps({"keys": [public_jwk(key.public_key(), kid) for kid, key in pairs]}).encode()


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def cognito_claims(now: float, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab",
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "cognito:groups": ["Operator"],
        "username": "olivia",
        "iat": int(now),
        "auth_time": int(now),
        "exp": int(now) + 3600,
        "jti": "j1",
        "scope": "aws.cognito",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def make_minter(pool_key: RSAPrivateKey, clock: FakeClock) -> MintToken:
    """mint(**claim_overrides, _key=…, _kid=…): a signed token; a claim set to None is omitted."""

    def make(*, _key: RSAPrivateKey | None = None, _kid: str = "pool-kid-1", **overrides: Any) -> str:
        claims = cognito_claims(clock.now(), **overrides)
        return jwt.encode(claims, _key or pool_key, algorithm="RS256", headers={"kid": _kid})

    return make


class World:
    """A wired container (in-memory store, embedded identity) and a client for its app."""

    def __init__(self, container: Container, identity: LocalIdentity, client: TestClient, clock: FakeClock):
        self.container = container
        self.identity = identity
        self.client = client
        self.clock = clock
        self.users: UserService = container.users
        self.audit: AuditLog = container.audit
        self.tables = container.tables

    def account(self, role: str, email: str | None = None, password: str = "correct horse battery") -> str:
        """A user with ``role``; returns its bearer token (signed in through the API)."""
        address = email or f"{role.lower()}-{len(self.tables['Users'].scan(limit=1000).items)}@example.com"
        self.users.create(address, role, actor="test", password=password)
        return self.login(address, password)

    def login(self, email: str, password: str) -> str:
        reply = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["accessToken"]
        return token

    def audit_records(self, action: str | None = None) -> list[dict[str, Any]]:
        items = self.tables["AuditLogs"].scan(limit=1000).items
        return [i for i in items if action is None or i["action"] == action]


def build_world(tmp_path: Path, clock: FakeClock, passwords: Passwords) -> World:
    container = build_in_memory(Settings(), clock)
    audit = AuditLog(container.tables, clock)
    users = UserService(container.tables, clock, audit, passwords)
    identity = local_identity(tmp_path / "data", users=users, audit=audit, clock=clock)
    container.audit = audit
    container.users = users
    container.contacts = ContactService(container.tables, clock, audit)
    container.identity = identity
    client = TestClient(create_app(container), raise_server_exceptions=False)
    return World(container, identity, client, clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeJwksEndpoint:
    """The pool's JWKS URL: serves whatever key set the test sets, counting fetches."""

    def __init__(self, document: bytes) -> None:
        self.document = document
        self.urls: list[str] = []
        self.fail = False

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if self.fail:
            raise OSError("connection refused")
        return self.document


def cognito_world(
    tmp_path: Path, clock: FakeClock, passwords: Passwords, endpoint: FakeJwksEndpoint
) -> World:
    """Like :func:`build_world` but with the AWS identity: Cognito tokens, keys from ``endpoint``."""
    from gateway.auth.identity import cognito_identity  # noqa: PLC0415

    world = build_world(tmp_path, clock, passwords)
    identity = cognito_identity(
        pool_id=POOL_ID, client_id=CLIENT_ID, clock=clock, fetch=endpoint, users=world.users
    )
    world.container.identity = identity
    return world
