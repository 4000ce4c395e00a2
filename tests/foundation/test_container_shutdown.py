"""Shutting the embedded container down never closes the store under a thread still using it."""

from __future__ import annotations

import threading
from pathlib import Path

from gateway.bootstrap import build_embedded
from gateway.config import load_settings
from gateway.workers import PeriodicWorker


def test_the_store_stays_open_while_a_worker_is_still_running(tmp_path: Path) -> None:
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data"))
    release, inside = threading.Event(), threading.Event()

    def long_job() -> None:  # e.g. the end of a 100,000-recipient job writing its report
        inside.set()
        release.wait(10)
        container.tables["SystemConfig"].get({"configKey": "still-usable"})

    container.workers = [PeriodicWorker("long", long_job, interval=0.01)]
    container.start_workers()
    assert inside.wait(5)
    container.stop_workers(timeout=0.05)
    container.close()  # the worker is alive: the store must stay open
    assert container.tables["SystemConfig"].get({"configKey": "x"}) is None
    release.set()
    container.stop_workers()
    assert not container.workers[0].alive()
    container.close()
