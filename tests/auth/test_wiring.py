"""What the composition root gets: identity, audit, users and contacts wired per runtime."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from gateway.auth.identity import CognitoIdentity, LocalIdentity
from gateway.bootstrap import build_embedded, build_in_memory, first_admin_lines, wire_identity
from gateway.clock import FakeClock
from gateway.config import Settings, load_settings
from gateway.contacts.service import ContactService
from gateway.users import UserService

from .support import CLIENT_ID, FakeJwksEndpoint, MintToken, cheap_passwords_instance, jwks_document


def test_embedded_wiring_and_the_first_admin(tmp_path: Path) -> None:
    container = build_in_memory(Settings(), FakeClock())
    wire_identity(container, data_dir=tmp_path, passwords=cheap_passwords_instance())
    assert isinstance(container.identity, LocalIdentity)
    assert isinstance(container.users, UserService)
    assert isinstance(container.contacts, ContactService)
    lines = first_admin_lines(container)
    assert "admin@wecare.digital" in lines[1]
    password = lines[2].split("password:", 1)[1].strip()
    assert container.identity.login("admin@wecare.digital", password, client="cli").access_token
    assert first_admin_lines(container) == []  # only ever once


def test_lambda_wiring_uses_the_cognito_pool(pool_key: RSAPrivateKey, mint: MintToken) -> None:
    settings = Settings(COGNITO_APP_CLIENT_ID=CLIENT_ID)
    container = build_in_memory(settings, FakeClock())
    container.runtime = "lambda"
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))
    wire_identity(container, fetch=endpoint)
    assert isinstance(container.identity, CognitoIdentity)
    assert container.identity.verify(mint()).issuer == "cognito"
    assert endpoint.urls == [
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_CC9u1fYh6/.well-known/jwks.json"
    ]
    assert first_admin_lines(container) == []  # Cognito owns the accounts


def test_the_contact_window_is_the_bundles(tmp_path: Path) -> None:
    """``windowExpiresAt`` on a contact uses the same window length as the policies that decide sends."""
    container = build_in_memory(Settings(), FakeClock())
    params = {"whatsapp": {"windowSeconds": 3600}}
    container.bundle = SimpleNamespace(params=params)
    wire_identity(container, data_dir=tmp_path, passwords=cheap_passwords_instance())
    contact = container.contacts.create({"phone": "+447812345678"}, actor="test")
    at = container.clock.now() - 60
    container.contacts.record_inbound(contact["contactId"], at)
    shown = container.contacts.present(container.contacts.get(contact["contactId"]))
    assert shown["windowExpiresAt"] == at + 3600
    container.clock.advance(3600)
    assert container.contacts.present(container.contacts.get(contact["contactId"]))["windowExpiresAt"] is None


def test_the_first_start_prints_commands_that_work_on_the_same_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data))
    try:
        lines = first_admin_lines(container)
    finally:
        container.close()
    add = next(line for line in lines if "add an account:" in line).split("add an account:", 1)[1]
    argv = [part for part in shlex.split(add) if part != "Viewer|Operator|Admin"]
    argv[argv.index("EMAIL")] = "newcomer@example.com"
    argv.insert(argv.index("--role") + 1, "Viewer")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"in {data.resolve()}" in done.stdout  # the CLI says which data dir it wrote
    again = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data))
    try:
        assert again.users is not None and again.users.find_by_email("newcomer@example.com") is not None
    finally:
        again.close()
