"""Signing in through Cognito's Hosted UI (authorization code + PKCE), in Chromium, against a fake Hosted UI.

The server is the product's app with the AWS runtime's identity: ``cognito_identity`` exactly as the lambda
wiring builds it (access tokens of the pool, keys from the pool's JWKS URL), which this module's
``__main__`` starts (``python -m tests.ui.test_cognito_signin``) because `wecare serve` keeps the local
sign-in. Its JWKS fetch goes to the fake, which stands in for Cognito:

* ``GET /oauth2/authorize`` checks the request (client, redirect URI, S256 challenge) and redirects back
  with a fresh code and the state (or a forged state, or an ``error=``), as the Hosted UI does once the
  person has signed in;
* ``POST /oauth2/token`` checks the code, the client, the redirect URI and that SHA-256 of the
  ``code_verifier`` is the challenge of the authorize request (else ``invalid_grant``), then answers id,
  access and refresh tokens signed with a test RSA key;
* ``GET /<pool>/.well-known/jwks.json`` serves that key; ``GET /logout`` redirects to ``logout_uri``.

The fake speaks https under a real Hosted UI host name (Chromium maps the name to it, the certificate is
self-signed), so the UI's Content-Security-Policy and the https-only settings are the production ones.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import secrets
import ssl
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, Page, Playwright, Route, expect

from gateway.api.app import create_app
from gateway.auth.identity import cognito_identity
from gateway.auth.jwks import public_jwk
from gateway.auth.tokens import cognito_issuer, cognito_jwks_url
from gateway.bootstrap import build_embedded
from gateway.config import load_settings
from gateway.logs import configure_logging
from tests.ui.conftest import running_server
from tests.ui.harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PageErrors, Server

HOST = "wecare-test.auth.us-east-1.amazoncognito.com"
HOSTED_UI = f"https://{HOST}"
POOL_ID = "us-east-1_CC9u1fYh6"
CLIENT_ID = "7fakeclient0id0for0tests0ab"
KID = "fake-hosted-ui-kid"
EMAIL = "olivia@example.com"
PENDING_KEY = "wecare.signIn.pending"
TOKEN_KEY = "wecare.accessToken"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass
class Grant:
    challenge: str
    redirect_uri: str
    client_id: str


@dataclass
class FakeHostedUi:
    """What the fake Cognito saw and how it answers the next authorize request."""

    key: RSAPrivateKey
    port: int = 0
    ca: Path = Path()  # its certificate, which the server's JWKS fetch trusts
    redirect_uri: str = ""  # the one registered callback URL of the app client
    authorize_answer: str = "code"  # code | forged-state | error
    authorizations: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    jwks_fetches: int = 0
    grants: dict[str, Grant] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)  # access tokens answered

    def reset(self) -> None:
        self.authorize_answer = "code"
        self.authorizations.clear()
        self.exchanges.clear()
        self.logouts.clear()
        self.grants.clear()
        self.issued.clear()

    def tokens(self) -> dict[str, Any]:
        now = int(time.time())
        common = {
            "sub": "6c2f0e1a-1b2c-4d5e-8f90-0a1b2c3d4e5f",
            "iss": cognito_issuer(POOL_ID),
            "cognito:groups": ["Operator"],
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "jti": uuid.uuid4().hex,
            "origin_jti": uuid.uuid4().hex,
            "event_id": uuid.uuid4().hex,
        }
        access = {
            **common,
            "token_use": "access",
            "client_id": CLIENT_ID,
            "scope": "openid email",
            "username": EMAIL,
            "version": 2,
        }
        identity = {**common, "token_use": "id", "aud": CLIENT_ID, "email": EMAIL, "email_verified": True}
        headers = {"kid": KID}
        access_token = jwt.encode(access, self.key, algorithm="RS256", headers=headers)
        self.issued.append(access_token)
        return {
            "id_token": jwt.encode(identity, self.key, algorithm="RS256", headers=headers),
            "access_token": access_token,
            "refresh_token": secrets.token_urlsafe(48),
            "expires_in": 3600,
            "token_type": "Bearer",
        }


def handler_for(fake: FakeHostedUi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            origin = self.headers.get("Origin")
            if origin:  # Cognito's token endpoint answers the browser's CORS request
                self.send_header("Access-Control-Allow-Origin", origin)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, url: str) -> None:
            self._send(302, None, {"Location": url, "Cache-Control": "no-store"})

        def do_OPTIONS(self) -> None:
            self._send(
                204, None, {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "*"}
            )

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == f"/{POOL_ID}/.well-known/jwks.json":
                fake.jwks_fetches += 1
                self._send(200, {"keys": [public_jwk(fake.key.public_key(), KID)]})
            elif url.path == "/oauth2/authorize":
                self._authorize(query)
            elif url.path == "/logout":
                fake.logouts.append(query)
                if query.get("client_id") != CLIENT_ID or query.get("logout_uri") != fake.redirect_uri:
                    self._send(400, {"error": "invalid_request", "error_description": "unknown logout_uri"})
                else:
                    self._redirect(query["logout_uri"])
            else:
                self._send(404, {"error": "not_found"})

        def _authorize(self, query: dict[str, str]) -> None:
            fake.authorizations.append(query)
            wrong = [
                name
                for name, ok in (
                    ("response_type", query.get("response_type") == "code"),
                    ("client_id", query.get("client_id") == CLIENT_ID),
                    ("redirect_uri", query.get("redirect_uri") == fake.redirect_uri),
                    ("code_challenge_method", query.get("code_challenge_method") == "S256"),
                    ("code_challenge", len(query.get("code_challenge", "")) == 43),
                    ("scope", "openid" in query.get("scope", "").split()),
                    ("state", bool(query.get("state"))),
                )
                if not ok
            ]
            if wrong:  # the real Hosted UI shows an error page instead of redirecting anywhere
                self._send(400, {"error": "invalid_request", "wrong": wrong})
                return
            back = query["redirect_uri"]
            if fake.authorize_answer == "error":
                answer = {"error": "access_denied", "error_description": "The user cancelled the sign-in"}
                self._redirect(f"{back}?{urlencode({**answer, 'state': query['state']})}")
                return
            code = str(uuid.uuid4())
            fake.grants[code] = Grant(query["code_challenge"], back, query["client_id"])
            state = "forged-" + query["state"] if fake.authorize_answer == "forged-state" else query["state"]
            self._redirect(f"{back}?{urlencode({'code': code, 'state': state})}")

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/oauth2/token":
                self._send(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            grant = fake.grants.pop(form.get("code", ""), None)  # a code is good for one attempt
            verifier = form.get("code_verifier", "")
            record: dict[str, Any] = {
                "form": form,
                "contentType": self.headers.get("Content-Type", ""),
                "verifierMatches": grant is not None and s256(verifier) == grant.challenge,
            }
            fake.exchanges.append(record)
            if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
                self._send(400, {"error": "invalid_request"})
            elif form.get("grant_type") != "authorization_code":
                self._send(400, {"error": "unsupported_grant_type"})
            elif grant is None or (form.get("client_id"), form.get("redirect_uri")) != (
                grant.client_id,
                grant.redirect_uri,
            ):
                self._send(400, {"error": "invalid_grant"})  # unknown, used, or another client's code
            elif not record["verifierMatches"]:
                self._send(
                    400, {"error": "invalid_grant", "error_description": "code_verifier does not match"}
                )
            else:
                self._send(200, fake.tokens(), {"Cache-Control": "no-store"})

    return Handler


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for the Hosted UI's host name and 127.0.0.1 (the server's JWKS fetch), and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "hosted-ui.crt", directory / "hosted-ui.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# ---- the server: the app with the AWS runtime's identity (python -m tests.ui.test_cognito_signin) -------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)
    settings = load_settings("embedded", WECARE_DATA_DIR=Path(args.data_dir))  # COGNITO_* from the env
    configure_logging(settings.LOG_LEVEL)
    fake, trust = (
        os.environ["FAKE_COGNITO_URL"],
        ssl.create_default_context(cafile=os.environ["FAKE_COGNITO_CA"]),
    )
    expected = cognito_jwks_url(settings.COGNITO_USER_POOL_ID)

    def fetch(url: str) -> bytes:
        # The identity asks for the pool's own JWKS URL; the fake Cognito answers it.
        if url != expected:
            raise ValueError(f"unexpected JWKS URL {url}")
        with urllib.request.urlopen(fake + urlsplit(url).path, context=trust, timeout=5) as reply:
            body: bytes = reply.read()
            return body

    container = build_embedded(settings)
    container.identity = cognito_identity(
        pool_id=settings.COGNITO_USER_POOL_ID,
        client_id=settings.COGNITO_APP_CLIENT_ID,
        clock=container.clock,
        fetch=fetch,
        users=container.users,
    )
    try:
        uvicorn.run(create_app(container), host=args.host, port=args.port, log_config=None, access_log=False)
    finally:
        container.close()
    return 0


# ---- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosted_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHostedUi]:
    cert, key = self_signed(tmp_path_factory.mktemp("hosted-ui"))
    fake = FakeHostedUi(rsa.generate_private_key(public_exponent=65537, key_size=2048), ca=cert)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, hosted_ui: FakeHostedUi) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("wecare-cognito")
    env = {
        "COGNITO_USER_POOL_ID": POOL_ID,
        "COGNITO_APP_CLIENT_ID": CLIENT_ID,
        "COGNITO_DOMAIN": HOSTED_UI,
        "FAKE_COGNITO_URL": f"https://127.0.0.1:{hosted_ui.port}",
        "FAKE_COGNITO_CA": str(hosted_ui.ca),
    }
    with running_server(
        root, root / "data", (EMAIL, "(Cognito)"), env=env, command=("tests.ui.test_cognito_signin",)
    ) as started:
        hosted_ui.redirect_uri = f"{started.base_url}/"
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright, hosted_ui: FakeHostedUi) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"the UI tests need Chromium at {CHROMIUM}", pytrace=False)
    # The Hosted UI's real host name, answered by the fake (its certificate is the test's own).
    rules = f"--host-resolver-rules=MAP {HOST} 127.0.0.1:{hosted_ui.port}"
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, rules]
    )
    yield launched
    launched.close()


@pytest.fixture
def tab(browser: Browser, server: Server, hosted_ui: FakeHostedUi) -> Iterator[Page]:
    hosted_ui.reset()
    context = browser.new_context(
        viewport=DESKTOP,  # type: ignore[arg-type]
        base_url=server.base_url,
        ignore_https_errors=True,
    )
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors = PageErrors(opened)
    yield opened
    context.close()
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"


def stored(page: Page, key: str) -> Any:
    return page.evaluate("(key) => sessionStorage.getItem(key)", key)


def start_sign_in(page: Page) -> None:
    page.goto("/")
    page.get_by_role("heading", name="Sign in", level=1).wait_for()
    expect(page.get_by_label("Password")).to_have_count(0)  # no local form in Cognito mode
    page.get_by_role("button", name="Sign in with your organisation account").click()


# ---- tests --------------------------------------------------------------------------------------------


def test_the_server_says_to_sign_in_through_the_hosted_ui(server: Server) -> None:
    with server.api() as client:
        reply = client.get("/api/auth/config")
        login = client.post("/api/auth/login", json={"email": EMAIL, "password": "anything at all"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "mode": "cognito",
        "authorizeUrl": f"{HOSTED_UI}/oauth2/authorize",
        "tokenUrl": f"{HOSTED_UI}/oauth2/token",
        "logoutUrl": f"{HOSTED_UI}/logout?client_id={CLIENT_ID}",
        "clientId": CLIENT_ID,
        "scopes": ["openid", "email"],
    }
    assert login.status_code == 404 and login.json()["error"]["code"] == "LOCAL_LOGIN_UNAVAILABLE"


def test_a_person_signs_in_with_pkce_lands_signed_in_and_signs_out(
    tab: Page, server: Server, hosted_ui: FakeHostedUi
) -> None:
    tab.goto("/#/contacts")  # where they wanted to go before being asked to sign in
    tab.get_by_role("button", name="Sign in with your organisation account").click()
    tab.get_by_role("heading", name="Contacts", level=1).wait_for()

    expect(tab.locator("#account-email")).to_have_text(EMAIL)
    expect(tab.locator("#account-role")).to_have_text("(Operator)")
    assert "code=" not in tab.url and "state=" not in tab.url, tab.url  # the code left the address
    [asked] = hosted_ui.authorizations
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == f"{server.base_url}/"
    assert asked["scope"] == "openid email" and asked["client_id"] == CLIENT_ID
    [exchange] = hosted_ui.exchanges
    assert exchange["verifierMatches"] is True  # SHA-256 of the verifier sent is the challenge asked with
    assert exchange["contentType"].startswith("application/x-www-form-urlencoded")
    form = exchange["form"]
    assert set(form) == {"grant_type", "client_id", "code", "redirect_uri", "code_verifier"}  # no secret
    assert form["grant_type"] == "authorization_code" and form["redirect_uri"] == f"{server.base_url}/"
    assert 43 <= len(form["code_verifier"]) <= 128 and form["code_verifier"] != asked["code_challenge"]
    # The access token is the session's, the same way the local sign-in keeps its token; nothing of the
    # PKCE exchange is left behind.
    assert stored(tab, TOKEN_KEY) == hosted_ui.issued[0]
    assert stored(tab, PENDING_KEY) is None
    assert hosted_ui.jwks_fetches >= 1  # the server checked the token against the pool's key set
    with server.api(hosted_ui.issued[0]) as client:
        me = client.get("/api/me").json()
    assert me == {
        "userId": me["userId"],
        "email": EMAIL,
        "role": "Operator",
        "issuer": "cognito",
        "sendingPaused": None,
    }

    tab.get_by_role("button", name="Sign out").click()
    tab.get_by_role("heading", name="Sign in", level=1).wait_for()
    expect(tab.get_by_text("You have signed out.")).to_be_visible()
    [logout] = hosted_ui.logouts  # the Hosted UI ended its own session too, then sent the person back
    assert logout == {"client_id": CLIENT_ID, "logout_uri": f"{server.base_url}/"}
    assert stored(tab, TOKEN_KEY) is None
    tab.goto("/#/contacts")
    tab.get_by_role("heading", name="Sign in", level=1).wait_for()


def test_a_wrong_code_verifier_is_refused_and_the_refusal_is_shown(
    tab: Page, hosted_ui: FakeHostedUi
) -> None:
    def tamper(route: Route) -> None:
        form = parse_qs(route.request.post_data or "")
        form["code_verifier"] = [b64url(secrets.token_bytes(32))]  # someone else's verifier
        route.continue_(post_data=urlencode({k: v[0] for k, v in form.items()}))

    tab.route(f"{HOSTED_UI}/oauth2/token", tamper)
    start_sign_in(tab)
    alert = tab.get_by_role("alert")
    expect(alert).to_contain_text("refused to finish signing in")
    expect(alert).to_contain_text("invalid_grant")
    [exchange] = hosted_ui.exchanges
    assert exchange["verifierMatches"] is False  # so the fake really checks the PKCE verifier
    assert hosted_ui.issued == []
    assert stored(tab, TOKEN_KEY) is None and stored(tab, PENDING_KEY) is None
    # The person can start again, and this time it works.
    tab.unroute(f"{HOSTED_UI}/oauth2/token")
    tab.get_by_role("button", name="Sign in with your organisation account").click()
    tab.get_by_role("heading", name="Contacts", level=1).wait_for()


def test_an_answer_with_another_state_is_not_used(tab: Page, hosted_ui: FakeHostedUi) -> None:
    hosted_ui.authorize_answer = "forged-state"
    start_sign_in(tab)
    alert = tab.get_by_role("alert")
    expect(alert).to_contain_text("its state does not match")
    expect(alert).to_contain_text("STATE_MISMATCH")
    assert hosted_ui.exchanges == []  # the code was never sent anywhere
    assert stored(tab, TOKEN_KEY) is None and stored(tab, PENDING_KEY) is None
    assert "code=" not in tab.url
    expect(tab.get_by_role("button", name="Sign in with your organisation account")).to_be_enabled()


def test_an_error_from_the_hosted_ui_is_shown_in_words(tab: Page, hosted_ui: FakeHostedUi) -> None:
    hosted_ui.authorize_answer = "error"
    start_sign_in(tab)
    expect(tab.get_by_role("alert")).to_contain_text("The user cancelled the sign-in (access_denied)")
    assert hosted_ui.exchanges == [] and stored(tab, TOKEN_KEY) is None


def test_an_answer_nobody_asked_for_is_not_used(tab: Page, server: Server, hosted_ui: FakeHostedUi) -> None:
    """A callback address opened without a sign-in started in this tab (a link someone sent)."""
    tab.goto(f"/?{urlencode({'code': 'c0de', 'state': 'whatever'})}")
    expect(tab.get_by_role("alert")).to_contain_text("was not started in this browser tab")
    assert hosted_ui.exchanges == []


if __name__ == "__main__":
    raise SystemExit(main())
