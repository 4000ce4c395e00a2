"""`wecare serve` end to end: a real process, a real port, a real SQLite data dir."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEND_MODE", "ENVIRONMENT"))}
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                body: dict[str, object] = json.loads(reply.read())
                return body
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("serve did not answer /healthz in time")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.mark.slow
def test_first_start_prints_admin_once_and_login_works(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path / "data", port)
    try:
        health = _wait_healthy(port, proc)
        assert health["status"] == "ok" and health["sendMode"] == "DRY_RUN"
        login_body = None
    finally:
        out = _stop(proc)
    email = re.search(r"e-mail:\s*(\S+)", out)
    password = re.search(r"password:\s*(\S+)", out)
    assert email and password, out
    assert (tmp_path / "data" / "wecare.db").exists()

    # Second start on the same data dir: no new credentials are printed, the old ones still work.
    port = _free_port()
    proc = _serve(tmp_path / "data", port)
    try:
        _wait_healthy(port, proc)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/auth/login",
            data=json.dumps({"email": email.group(1), "password": password.group(1)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            login_body = json.loads(reply.read())
    finally:
        out2 = _stop(proc)
    assert "password:" not in out2
    assert login_body is not None and login_body.get("accessToken")


def test_unusable_data_dir_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--data-dir", str(blocker / "sub")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "data dir" in proc.stderr or "storage problem" in proc.stderr


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "wecare.db").write_bytes(b"this is not a database" * 100)
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "wecare.db" in proc.stderr
