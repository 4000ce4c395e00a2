"""A bulk worker in its own process, for the crash tests (tests/bulk/test_crash.py) to kill with SIGKILL.

    python -m tests.bulk.crash_worker DATA_DIR JOB_ID

It builds the embedded container over ``DATA_DIR`` exactly as the product does (:func:`build_embedded`:
SQLite store, local queue, DRY_RUN drivers, the real rate limits of the policy bundle), with a short
``BULK_CLAIM_STALE_SECONDS``, and consumes ``bulk-queue`` with the product's own consumer step
(:func:`poll_once` on the container's :class:`BulkWorker`) until job ``JOB_ID`` is terminal. Nothing of
the worker or the consumer is reimplemented here: this file only chooses the settings and loops.

The product's JSON logs go to stderr (the gateway logs one ``DRY_RUN: ... recorded`` line per driver
call, with its ``messageId``: the test counts them). One JSON line on stdout says the worker is ready,
and one more that it finished (``{"done": ..., "chunks": n}``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gateway.bootstrap import build_embedded, wired
from gateway.bulk.chunks import BULK_QUEUE
from gateway.bulk.consumer import poll_once
from gateway.bulk.jobs import TERMINAL
from gateway.config import load_settings
from gateway.logs import configure_logging

STALE_SECONDS = 2.0  # a claim older than this was left by a dead worker (the setting's minimum is 1)
VISIBILITY_SECONDS = 3.0  # a chunk a killed worker held comes back after this long
WAIT_SECONDS = 0.5  # one receive waits this long for a chunk (the queue polls every 50 ms meanwhile)
MAX_RUN_SECONDS = 120.0  # never outlive a test that forgot us


def settings_for(data_dir: Path) -> dict[str, object]:
    """The settings the test process and every worker process share."""
    return {
        "WECARE_DATA_DIR": data_dir,
        "SEND_MODE": "DRY_RUN",
        "ENVIRONMENT": "local",
        "BULK_CLAIM_STALE_SECONDS": STALE_SECONDS,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.bulk.crash_worker DATA_DIR JOB_ID", file=sys.stderr)
        return 2
    data_dir, job_id = Path(argv[0]), argv[1]
    configure_logging("INFO")
    container = build_embedded(load_settings("embedded", {}, **settings_for(data_dir)))
    try:
        worker = wired(container.bulk_worker, "bulk worker")
        queue = container.queues[BULK_QUEUE]
        clock = container.clock
        started = clock.now()
        print(json.dumps({"ready": True}), flush=True)
        chunks = 0
        while True:
            job = worker.jobs.get(job_id)
            if job is not None and job.status in TERMINAL:
                print(json.dumps({"done": job.status, "chunks": chunks}), flush=True)
                return 0
            if clock.now() - started > MAX_RUN_SECONDS:
                print(json.dumps({"done": None, "chunks": chunks}), flush=True)
                return 3
            chunks += poll_once(
                worker, queue, visibility_timeout=VISIBILITY_SECONDS, wait_seconds=WAIT_SECONDS
            )
    finally:
        container.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
