"""`python -m benchmarks.bulk` runs end to end (small), and its last line is the agreed JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "create_enqueue_s",
    "recipients_per_s",
    "peak_rss_mb",
    "duplicates",
    "lost",
    "sms_rate_per_s",
    "sms_max_per_1s_window",
    "whatsapp_rate_per_s",
    "whatsapp_max_per_1s_window_per_number",
}


@pytest.mark.slow
def test_bulk_benchmark_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bulk",
            "--recipients",
            "300",
            "--sms",
            "6",
            "--whatsapp",
            "16",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures.keys() >= KEYS
    assert figures["duplicates"] == 0
    assert figures["lost"] == 0
    assert figures["recipients"] == 300
    # The limits hold at any size (speed targets are only reported, never asserted).
    assert figures["sms_max_per_1s_window"] <= 5
    assert figures["whatsapp_max_per_1s_window_per_number"] <= 80
    assert any("target" in line for line in lines[:-1])
