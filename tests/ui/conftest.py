"""The product as `wecare serve` starts it, in a subprocess, driven by a real headless Chromium.

One server and one browser per test module keep the browser tests fast; every test gets a fresh
browser context (own sessionStorage, so its own sign-in).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

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
            reply = client.post("/api/auth/login", json={"email": email or self.email,
                                                         "password": password or self.password})
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["accessToken"]
        return token

    def ingest(self, event_file: Path, *, dead_letters: bool = False) -> str:
        """Feed an SNS event file through `wecare inbound ingest` against this server's data.

        The command exits non-zero when it dead-lettered something; ``dead_letters`` expects that.
        """
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli.main", "inbound", "ingest", str(event_file),
             "--data-dir", str(self.data_dir)],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )
        assert (done.returncode != 0) == dead_letters, done.stdout + done.stderr
        return done.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _credentials(text: str) -> tuple[str, str] | None:
    email = re.search(r"e-mail:\s*(\S+)", text)
    password = re.search(r"password:\s*(\S+)", text)
    if email and password:
        return email.group(1), password.group(1)
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("wecare-ui")
    data_dir = root / "data"
    port = _free_port()
    out_path, err_path = root / "stdout.txt", root / "stderr.txt"
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    env.pop("WECARE_DATA_DIR", None)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir)],
            cwd=REPO, stdout=out, stderr=err, env=env,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        credentials = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"`wecare serve` exited with {process.returncode}:\n"
                            f"{out_path.read_text()}\n{err_path.read_text()[-4000:]}", pytrace=False)
            credentials = credentials or _credentials(out_path.read_text())
            if credentials:
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail(f"`wecare serve` did not start within {START_TIMEOUT:.0f} s:\n"
                        f"{out_path.read_text()}\n{err_path.read_text()[-4000:]}", pytrace=False)
        assert credentials is not None
        yield Server(base_url, data_dir, credentials[0], credentials[1], process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the UI tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium, or run "
            "scripts/setup-browser.sh); browser downloads are not used",
            pytrace=False,
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots for a person to look at; never committed."""
    return tmp_path_factory.mktemp("ui-screenshots")


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


@pytest.fixture
def desktop(browser: Browser, server: Server) -> Iterator[Page]:
    context, page = new_page(browser, server, DESKTOP)
    errors = PageErrors(page)
    yield page
    context.close()
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"


@pytest.fixture
def mobile(browser: Browser, server: Server) -> Iterator[Page]:
    context, page = new_page(browser, server, MOBILE)
    errors = PageErrors(page)
    yield page
    context.close()
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"


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
