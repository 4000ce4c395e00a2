"""Helpers of the browser tests: the running product (`wecare serve` in a subprocess) and page steps."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 320, "height": 640}
START_TIMEOUT = 30.0


@dataclass
class Server:
    base_url: str
    data_dir: Path
    email: str
    password: str
    process: subprocess.Popen[bytes]

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=15.0)

    def token(self, email: str | None = None, password: str | None = None) -> str:
        with self.api() as client:
            reply = client.post(
                "/api/auth/login", json={"email": email or self.email, "password": password or self.password}
            )
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["accessToken"]
        return token

    def add_user(self, token: str, role: str, password: str) -> str:
        """A new account with ``role`` and ``password``, made by the Admin whose ``token`` this is."""
        email = f"{role.lower()}.{uuid.uuid4().hex[:8]}@example.com"
        with self.api(token) as client:
            reply = client.post("/api/users", json={"email": email, "role": role, "password": password})
        assert reply.status_code == 201, reply.text
        return email

    def ingest(self, event_file: Path, *, dead_letters: bool = False) -> str:
        """Feed an SNS event file through `wecare inbound ingest` against this server's data.

        The command exits non-zero when it dead-lettered something; ``dead_letters`` expects that.
        """
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli.main",
                "inbound",
                "ingest",
                str(event_file),
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode != 0) == dead_letters, done.stdout + done.stderr
        return done.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def credentials_in(text: str) -> tuple[str, str] | None:
    email = re.search(r"e-mail:\s*(\S+)", text)
    password = re.search(r"password:\s*(\S+)", text)
    if email and password:
        return email.group(1), password.group(1)
    return None


class PageErrors:
    """JavaScript errors on the page (an uncaught exception is a failing test, not noise)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


def new_page(
    browser: Browser, server: Server, viewport: dict[str, int] = DESKTOP
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=viewport, base_url=server.base_url)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()
    return context, page


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Contacts", level=1).wait_for()


def create_contact(server: Server, token: str, **fields: Any) -> dict[str, Any]:
    with server.api(token) as client:
        reply = client.post("/api/contacts", json=fields)
    assert reply.status_code == 201, reply.text
    out: dict[str, Any] = reply.json()
    return out


def sent_message_bodies(page: Page) -> list[Any]:
    """The JSON body of every ``POST /api/messages`` the page makes from now on, in order."""
    bodies: list[Any] = []
    page.on(
        "request",
        lambda r: (
            bodies.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith("/api/messages")
            else None
        ),
    )
    return bodies
