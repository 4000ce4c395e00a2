"""The product as `wecare serve` starts it, in a subprocess, driven by a real headless Chromium.

One server and one browser per test module keep the browser tests fast; every test gets a fresh
browser context (own sessionStorage, so its own sign-in).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.ui.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    MOBILE,
    REPO,
    START_TIMEOUT,
    PageErrors,
    Server,
    credentials_in,
    free_port,
    new_page,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("wecare-ui")
    with running_server(root, root / "data") as started:
        yield started


@contextmanager
def running_demo(root: Path) -> Iterator[Server]:
    """`wecare demo` into ``root/demo`` (contacts in every consent state, a conversation, a refusal, a dead
    letter), then `wecare serve` on it, signed in with the Admin the demo printed."""
    data_dir = root / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "demo", "--data-dir", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    credentials = credentials_in(done.stdout)
    assert credentials is not None, done.stdout
    with running_server(root, data_dir, credentials) as started:
        yield started


@contextmanager
def running_server(
    root: Path,
    data_dir: Path,
    credentials: tuple[str, str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
) -> Iterator[Server]:
    """`wecare serve` on ``data_dir``; ``credentials`` when the data dir already has its Admin (else the
    first start prints them). ``env``: extra environment variables; ``command``: another module to run
    with ``python -m`` instead of `wecare serve` (it gets the same ``--host/--port/--data-dir``)."""
    port = free_port()
    out_path, err_path = root / "stdout.txt", root / "stderr.txt"
    environ = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    environ.pop("WECARE_DATA_DIR", None)
    environ.update(env or {})
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                *(command or ("gateway.cli.main", "serve")),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=REPO,
            stdout=out,
            stderr=err,
            env=environ,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"`wecare serve` exited with {process.returncode}:\n"
                    f"{out_path.read_text()}\n{err_path.read_text()[-4000:]}",
                    pytrace=False,
                )
            credentials = credentials or credentials_in(out_path.read_text())
            if credentials:
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail(
                f"`wecare serve` did not start within {START_TIMEOUT:.0f} s:\n"
                f"{out_path.read_text()}\n{err_path.read_text()[-4000:]}",
                pytrace=False,
            )
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
