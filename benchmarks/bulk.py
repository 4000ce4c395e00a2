"""Bulk sending end to end on the embedded composition, and the rate limits a bulk job runs at.

Everything runs on :func:`gateway.bootstrap.build_embedded` — the composition ``wecare serve`` runs: a
real SQLite file and the local queue in a throwaway data dir, the shipped policy bundle on the fast
engine, DRY_RUN recorders (which validate every request against the AWS API model), and the
container's own background workers (``BULK_WORKER_CONCURRENCY=2`` bulk consumers on the
``bulk_workers`` / ``poll_once`` path, the scheduler, send recovery), started with
``Container.start_workers`` exactly as ``serve`` starts them. Jobs are created with
``BulkService.create`` (what ``POST /api/bulk-jobs`` calls) while those workers are already polling.
Contacts are bulk-loaded beforehand (``put_many`` on the Contacts table, untimed): opted in to every
channel and inside their 24 h customer-service window (``lastInboundMessageAt`` = a minute ago, the
field ``gateway.outbound.policy_input.window_open`` reads), so free text is allowed and no send opens a
conversation (the tier is not consumed). Log records are counted, not printed (per-message log lines
would measure the terminal); the count of warnings and errors is part of the report.

1. **Bulk overhead** — one DRY_RUN WhatsApp text job to 100,000 contacts (``--recipients``), with the
   rate limits *lifted*. How: the limits are policy-bundle parameters (``policies/params.yaml``
   ``rateLimits``, read by ``RateLimits.from_params`` in ``gateway_from_bundle``), so the benchmark
   copies ``policies/`` into the temp dir, sets every ``rateLimits`` value to 1,000,000/s in the
   copy, and points the ``POLICY_DIR`` setting at it. Nothing in ``gateway/`` is patched: the limiter
   still leases tokens from ``RateLimitTrackers`` and paces calls (its bookkeeping is measured), it
   just never has to wait.

   * ``create_enqueue_s``: ``BulkService.create`` of the contact-id list (writing the recipients,
     enqueuing the chunks, writing the job), with the consumers polling meanwhile as in ``serve``.
   * ``recipients_per_s``: recipients / seconds **from the call to create** until the job is
     ``completed`` (its ``completedAt``: the worker completes a job only when no recipient is
     pending, sending or deferred). ``send_phase_per_s`` (extra) counts from create's return instead.
   * ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``) when the job completed (before
     the checks below load anything); ``rss_before_job_mb`` is the resident memory just before create.
   * ``duplicates``: message rows (Messages table, scanned in full) beyond one per (job, contact) in a
     state where the message may have left (sending, sent, delivered, read, unknown).
   * ``lost``: recipients not in a final state after completion (counted from ``BulkRecipients``), plus
     listed contacts with no message row for the job at all.

2. **Real limits, real time** — a fresh store on the shipped bundle (SMS 5/s per pool, WhatsApp 80/s per
   phone number, 1,000/s per account; call pacing with its 1 % margin), the same workers:

   * ``sms_rate_per_s`` / ``sms_max_per_1s_window``: a 50-recipient SMS job (``--sms``).
   * ``whatsapp_rate_per_s`` / ``whatsapp_max_per_1s_window_per_number``: 400 recipients (``--whatsapp``)
     as one job over both configured numbers (``phoneNumberIds`` = ``WHATSAPP_PHONE_NUMBER_ID_1`` and
     ``_2``: its recipients alternate between them). The extra figures ``whatsapp_interleaved_*``
     repeat the count as two jobs, one per number, created back to back (both consumers then start
     on the first job's chunks, so the numbers are busy one after the other).

   Rates are (n - 1) / (last - first) over the ``statusTimestamps.sent`` of the job's Messages rows; the
   window figures are the most of those timestamps in any sliding one-second window.

The big job's contact ids are random (``ct_`` + 32 hex, as ContactService makes them), so the list
order is unrelated to the recipients' sort key; ``--ordered-ids`` lists them in key order instead, the
worst case for the worker's end-of-chunk "anything left?" query (it scans the job's recipients in key
order until it finds unsent ones). A job still running after ``--timeout`` seconds is cancelled: the
figures then cover what was sent by the timeout, and ``timed_out`` is true.

Run: ``python -m benchmarks.bulk [--recipients N] [--sms N] [--whatsapp N] [--data-dir DIR]
[--timeout S] [--ordered-ids] [--profile FILE]``. The last line is one JSON object. Exit status 1 if
``duplicates`` or ``lost`` is not 0 (a missed speed target is reported, not failed). ``--profile`` runs
the big job under cProfile (every thread) and prints the top costs; a profiled run's figures are not
comparable. The full run takes about 4-5 minutes on the 2-core machine (the 100,000 sends dominate).
"""

from __future__ import annotations

import argparse
import cProfile
import faulthandler
import io
import json
import logging
import os
import pstats
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.gateway import max_in_sliding_window
from gateway.bootstrap import Container, build_embedded, wired
from gateway.bulk.jobs import TERMINAL
from gateway.bulk.service import MAX_RECIPIENTS, BulkService
from gateway.config import Settings, load_settings
from gateway.outbound.types import Content, TextContent
from gateway.store.sqlite import SqliteTable

POLICIES = Path(__file__).resolve().parent.parent / "policies"
LIFTED_PER_SECOND = 1_000_000
CONTACT_BATCH = 5_000
FINAL = ("sent", "failed", "rejected", "cancelled", "unknown")  # a recipient that will not move again
MAY_HAVE_LEFT = ("sending", "sent", "delivered", "read", "unknown")  # message rows that count as a send

TARGETS = {
    "create_enqueue_s": ("<=", 10.0),
    "recipients_per_s": (">=", 1000.0),
    "peak_rss_mb": ("<=", 300.0),
    "duplicates": ("==", 0),
    "lost": ("==", 0),
    "sms_rate_per_s": (">=", 4.75),
    "sms_max_per_1s_window": ("<=", 5),
    "whatsapp_rate_per_s": (">=", 152.0),
    "whatsapp_max_per_1s_window_per_number": ("<=", 80),
}


# -- the composition ------------------------------------------------------------------------------


def lifted_policies(dest: Path) -> Path:
    """A copy of the shipped bundle whose ``rateLimits`` are all ``LIFTED_PER_SECOND``."""
    target = dest / "policies-rate-limits-lifted"
    shutil.copytree(POLICIES, target)
    params_file = target / "params.yaml"
    params: dict[str, Any] = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    limits = params["rateLimits"]
    limits["whatsapp"]["perPhoneNumberPerSecond"] = LIFTED_PER_SECOND
    limits["whatsapp"]["accountPerSecond"] = LIFTED_PER_SECOND
    limits["sms"]["perSecond"] = LIFTED_PER_SECOND
    limits["email"]["perSecond"] = LIFTED_PER_SECOND
    header = "# benchmarks/bulk.py: the shipped params with every rate limit lifted.\n"
    params_file.write_text(header + yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return target


def embedded(data_dir: Path, policy_dir: Path | None = None) -> Container:
    """``build_embedded`` over a clean environment (the caller's WECARE_* variables do not leak in)."""
    settings = load_settings(
        "embedded",
        environ={},
        WECARE_DATA_DIR=data_dir,
        POLICY_DIR=policy_dir,
        SEND_MODE="DRY_RUN",
        ENVIRONMENT="local",
        BULK_WORKER_CONCURRENCY=2,
    )
    return build_embedded(settings)


def contact_ids(count: int, *, seed: int, ordered: bool = False) -> list[str]:
    """Ids shaped like ContactService's (``ct_`` + 32 hex), deterministic per seed, in creation order.

    Real ids are random, so a job's list order is unrelated to ``BulkRecipients``' sort key
    (recipientId). ``ordered`` lists them sorted by that key instead (``--ordered-ids``).
    """
    rng = random.Random(seed)
    ids = [f"ct_{rng.getrandbits(128):032x}" for _ in range(count)]
    return sorted(ids) if ordered else ids


def add_contacts(container: Container, ids: Sequence[str]) -> float:
    """Opted-in contacts inside their window, written in batches; returns the seconds it took."""
    table = container.tables["Contacts"]
    if not isinstance(table, SqliteTable):
        raise SystemExit("this benchmark needs the embedded SQLite store")
    started = time.perf_counter()
    now = container.clock.now()
    for start in range(0, len(ids), CONTACT_BATCH):
        batch = []
        for n, contact_id in enumerate(ids[start : start + CONTACT_BATCH], start=start):
            consent = [
                {"channel": ch, "old": False, "new": True, "actor": "bench", "at": now, "source": "import"}
                for ch in ("whatsapp", "sms", "email")
            ]
            batch.append(
                {
                    "contactId": contact_id,
                    "kind": "contact",
                    "name": f"Customer {n}",
                    "phone": f"+4478{10_000_000 + n:08d}",
                    "email": f"customer{n}@example.com",
                    "optInWhatsApp": True,
                    "optInSms": True,
                    "optInEmail": True,
                    "createdAt": now,
                    "updatedAt": now,
                    "createdBy": "bench",
                    "createdVia": "import",
                    "consentHistory": consent,
                    "version": 1,
                    "lastInboundMessageAt": now - 60,
                }
            )
        table.put_many(batch)
    return time.perf_counter() - started


class LogCounter(logging.Handler):
    """Counts records of WARNING and above by logger and message (nothing is printed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.counts[(record.levelname, record.name, str(record.msg)[:80])] += 1


class ThreadProfiles:
    """cProfile in every thread started while it is on (the bulk workers), plus the calling thread.

    One ``cProfile.Profile`` per thread (a profiler's call stack is per thread); merged for the report.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._profiles: list[cProfile.Profile] = []

    def _new(self) -> cProfile.Profile:
        profiler = cProfile.Profile()
        with self._lock:
            self._profiles.append(profiler)
        return profiler

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        # Installed in each new thread by threading.setprofile; enabling replaces the hook itself.
        self._new().enable()

    def start(self) -> None:
        threading.setprofile(self._hook)
        self._new().enable()

    def stop(self) -> None:
        threading.setprofile(None)
        with self._lock:
            self._profiles[0].disable()

    def report(self, path: str, top: int = 30) -> str:
        with self._lock:
            first, *rest = self._profiles
        stats = pstats.Stats(first, stream=io.StringIO())
        for profiler in rest:
            stats.add(profiler)
        stats.dump_stats(path)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        return out.getvalue()


SHUTDOWN_TIMEOUT = 600.0


@contextmanager
def running(container: Container) -> Iterator[Container]:
    """The container's background workers, started and stopped as ``wecare serve`` does.

    ``stop_workers`` waits at most 5 s per worker; a worker still busy then (e.g. writing the report
    of a job that just ended) would have its SQLite connection closed under it by ``container.close``.
    So this also waits until every thread ``start_workers`` started has really ended.
    """
    before = set(threading.enumerate())
    container.start_workers()
    started = [t for t in threading.enumerate() if t not in before]
    try:
        yield container
    finally:
        container.stop_workers()
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in started if t.is_alive()]
        if alive:
            raise SystemExit(f"background workers did not stop within {SHUTDOWN_TIMEOUT:.0f} s: {alive}")


# -- measuring a job ---------------------------------------------------------------------------------


@dataclass
class JobRun:
    job_ids: list[str]
    created_at: float  # epoch seconds, just before the first create
    created_s: float  # seconds spent in create (all jobs)
    finished_at: float = 0.0  # the last job's terminal transition (or the timeout), epoch seconds
    done: int = 0  # recipients whose send was over by then
    timed_out: bool = False
    statuses: dict[str, str] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def peak_rss_mb() -> float:
    # Linux reports kilobytes (macOS bytes; this benchmark targets the Linux machine).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_jobs(
    container: Container,
    jobs: Sequence[tuple[str, Content, Sequence[str], str | tuple[str, ...] | None]],
    *,
    timeout: float,
    progress: Callable[[str], None] | None = None,
) -> JobRun:
    """Create ``jobs`` ((channel, content, contact ids, phoneNumberId) each) back to back, wait for all."""
    bulk: BulkService = wired(container.bulk, "bulk")
    run = JobRun([], time.time(), 0.0)
    started = time.perf_counter()
    for n, (channel, content, ids, number) in enumerate(jobs):
        job, _ = bulk.create(
            actor="bench",
            channel=channel,
            content=content,
            contact_ids=ids,
            name=f"bench {channel} {n}",
            phone_number_id=number if isinstance(number, str) else None,
            phone_number_ids=number if isinstance(number, tuple) else (),
        )
        run.job_ids.append(job.job_id)
    run.created_s = time.perf_counter() - started
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while True:
        views = {job_id: bulk.get(job_id) for job_id in run.job_ids}
        if all(v["status"] in TERMINAL or v["status"] == "paused" for v in views.values()):
            break
        if time.monotonic() > deadline:
            run.timed_out = True
            break
        if progress is not None and time.monotonic() - last_note >= 15:
            last_note = time.monotonic()
            total = sum(v["totalRecipients"] for v in views.values())
            progress(
                f"  … {done_of(views):,} of {total:,} recipients final after "
                f"{time.time() - run.created_at:.0f} s"
            )
        time.sleep(0.05)
    run.peak_rss_mb = peak_rss_mb()
    if run.timed_out:
        # Stop where it is: what was done counts; every unsent recipient becomes cancelled (final).
        run.finished_at, run.done = time.time(), done_of(views)
        if progress is not None:
            progress(f"  timed out after {timeout:.0f} s with {run.done:,} done: cancelling the rest")
        for job_id, view in views.items():
            if view["status"] not in TERMINAL:
                bulk.cancel(job_id, "bench-timeout")
        settle_by = time.monotonic() + 300
        while time.monotonic() < settle_by:
            views = {job_id: bulk.get(job_id) for job_id in run.job_ids}
            if all(v["status"] in TERMINAL for v in views.values()):
                break
            time.sleep(0.2)
    run.statuses = {job_id: str(v["status"]) for job_id, v in views.items()}
    if not run.timed_out:
        run.done = done_of(views)
        ends = [float(v.get("completedAt") or v.get("updatedAt") or 0) for v in views.values()]
        run.finished_at = max(ends) if all(s in TERMINAL for s in run.statuses.values()) else time.time()
    return run


def done_of(views: Mapping[str, Mapping[str, Any]]) -> int:
    """Recipients whose send is over (the job counters): sent, failed, rejected, unknown."""
    return sum(
        int(v["counts"].get(s, 0)) for v in views.values() for s in ("sent", "failed", "rejected", "unknown")
    )


@dataclass
class Check:
    by_status: Counter[str]
    duplicates: int
    lost: int
    contacts_without_message: int
    sent_times: dict[str, list[float]]  # per phoneNumberId ("" for SMS/email)


def check_jobs(container: Container, job_ids: Sequence[str], listed: Mapping[str, Sequence[str]]) -> Check:
    """Every recipient of the jobs, and every message row (one full scan of Messages)."""
    bulk: BulkService = wired(container.bulk, "bulk")
    by_status: Counter[str] = Counter()
    expected: set[tuple[str, str]] = set()  # (job, contact) that must have a message row
    not_final = 0
    for job_id in job_ids:
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            items, cursor = bulk.recipients.by_status(job_id, limit=1000, cursor=cursor)
            for item in items:
                status = str(item.get("status"))
                by_status[status] += 1
                seen.add(str(item["contactId"]))
                if status not in FINAL:
                    not_final += 1
                elif status != "cancelled":
                    expected.add((job_id, str(item["contactId"])))
            if cursor is None:
                break
        not_final += len(set(listed[job_id]) - seen)  # listed but never written as a recipient
    wanted = set(job_ids)
    rows: Counter[tuple[str, str]] = Counter()
    any_row: set[tuple[str, str]] = set()
    sent_times: dict[str, list[float]] = {}
    messages = container.tables["Messages"]
    page_cursor: str | None = None
    while True:
        page = messages.scan(limit=1000, cursor=page_cursor)
        for item in page.items:
            context = item.get("context") or {}
            owner = context.get("bulkJobId")
            if owner not in wanted:
                continue
            key = (str(owner), str(item.get("contactId")))
            any_row.add(key)
            if item.get("status") in MAY_HAVE_LEFT:
                rows[key] += 1
            sent = (item.get("statusTimestamps") or {}).get("sent")
            if sent is not None:
                sent_times.setdefault(str(item.get("phoneNumberId", "")), []).append(float(sent))
        page_cursor = page.cursor
        if page_cursor is None:
            break
    missing = len(expected - any_row)
    return Check(
        by_status=by_status,
        duplicates=sum(n - 1 for n in rows.values() if n > 1),
        lost=not_final + missing,
        contacts_without_message=missing,
        sent_times=sent_times,
    )


def rate(times: Sequence[float]) -> float:
    ordered = sorted(times)
    if len(ordered) < 2 or ordered[-1] <= ordered[0]:
        return float("nan")
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


# -- the scenarios -------------------------------------------------------------------------------------


def big_job(
    recipients: int,
    where: str | None,
    timeout: float,
    profile: str | None,
    say: Callable[[str], None],
    *,
    ordered: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wecare-bulk-bench-", dir=where) as tmp:
        root = Path(tmp)
        container = embedded(root / "data", lifted_policies(root))
        try:
            limits = wired(container.bundle, "bundle").params["rateLimits"]
            if limits["whatsapp"]["perPhoneNumberPerSecond"] != LIFTED_PER_SECOND:
                raise SystemExit(f"the lifted bundle was not loaded: rateLimits {limits}")
            ids = contact_ids(recipients, seed=1, ordered=ordered)
            load_s = add_contacts(container, ids)
            say(f"  {recipients:,} contacts bulk-loaded in {load_s:.1f} s (not timed)")
            rss_before, peak_before = current_rss_mb(), peak_rss_mb()
            cpu_started = time.process_time()
            profiles = ThreadProfiles() if profile else None
            if profiles is not None:
                profiles.start()
            content = TextContent("Your order has shipped and will arrive tomorrow. Reply STOP to opt out.")
            with running(container):
                run = run_jobs(container, [("whatsapp", content, ids, None)], timeout=timeout, progress=say)
                stop_started = time.perf_counter()
            stop_s = time.perf_counter() - stop_started
            if profiles is not None:
                profiles.stop()
            cpu = time.process_time() - cpu_started
            check = check_jobs(container, run.job_ids, {run.job_ids[0]: ids})
            job = wired(container.bulk, "bulk").get(run.job_ids[0])
        finally:
            container.close()
        if profiles is not None and profile is not None:
            say(profiles.report(profile))
    total = int(job["totalRecipients"])
    elapsed = run.finished_at - run.created_at
    send_phase = run.finished_at - run.created_at - run.created_s
    return {
        "recipients": total,
        "job_status": run.statuses[run.job_ids[0]],
        "create_enqueue_s": run.created_s,
        "timed_out": run.timed_out,
        "done": run.done,
        "recipients_per_s": run.done / elapsed if elapsed > 0 else float("nan"),
        "end_to_end_s": elapsed,
        "send_phase_per_s": run.done / send_phase if send_phase > 0 else float("nan"),
        "send_phase_s": send_phase,
        "cpu_s": cpu,
        "cpu_ms_per_recipient": cpu / max(1, run.done) * 1000,
        "peak_rss_mb": run.peak_rss_mb,
        "rss_before_job_mb": rss_before,
        "peak_rss_before_job_mb": peak_before,
        "workers_stop_s": stop_s,
        "duplicates": check.duplicates,
        "lost": check.lost,
        "contacts_without_message": check.contacts_without_message,
        "by_status": dict(check.by_status),
        "reconcile_s": job.get("reconcileSeconds"),
    }


def paced_jobs(sms: int, whatsapp: int, where: str | None, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wecare-bulk-paced-", dir=where) as tmp:
        container = embedded(Path(tmp) / "data")  # the shipped bundle: the real limits
        try:
            settings: Settings = container.settings
            limits = wired(container.bundle, "bundle").params["rateLimits"]
            numbers = settings.whatsapp_phone_number_ids
            sms_ids = contact_ids(sms, seed=2)
            wa_ids = contact_ids(whatsapp, seed=3)
            wa2_ids = contact_ids(whatsapp, seed=4)
            add_contacts(container, [*sms_ids, *wa_ids, *wa2_ids])
            text = TextContent("Your appointment is confirmed for tomorrow at 10:00.")
            half = whatsapp // 2
            with running(container):
                sms_run = run_jobs(container, [("sms", text, sms_ids, None)], timeout=timeout)
                # One job over both numbers: its recipients alternate between them (phoneNumberIds).
                wa_jobs: list[tuple[str, Content, Sequence[str], str | tuple[str, ...] | None]] = [
                    ("whatsapp", text, wa_ids, tuple(numbers[:2])),
                ]
                wa_run = run_jobs(container, wa_jobs, timeout=timeout)
                # For comparison: the same count as two jobs, one per number, created back to back.
                parts = [wa2_ids[:half], wa2_ids[half:]]
                mixed: list[tuple[str, Content, Sequence[str], str | tuple[str, ...] | None]] = [
                    ("whatsapp", text, part, numbers[i % 2]) for i, part in enumerate(parts)
                ]
                mixed_run = run_jobs(container, mixed, timeout=timeout)
            sms_check = check_jobs(container, sms_run.job_ids, {sms_run.job_ids[0]: sms_ids})
            wa_check = check_jobs(container, wa_run.job_ids, {wa_run.job_ids[0]: wa_ids})
            mixed_check = check_jobs(
                container, mixed_run.job_ids, dict(zip(mixed_run.job_ids, parts, strict=True))
            )
        finally:
            container.close()

    def whatsapp_figures(check: Check) -> dict[str, Any]:
        per_number = {n: check.sent_times.get(n, []) for n in numbers}
        everything = [t for times in per_number.values() for t in times]
        return {
            "rate_per_s": rate(everything),
            "seconds": max(everything) - min(everything) if everything else float("nan"),
            "sent": len(everything),
            "max_per_1s_window_per_number": max(max_in_sliding_window(t) for t in per_number.values()),
            "per_number": {
                n[-8:]: {
                    "sent": len(t),
                    "rate_per_s": round(rate(t), 2),
                    "max_per_1s_window": max_in_sliding_window(t),
                }
                for n, t in per_number.items()
            },
            "duplicates": check.duplicates,
            "lost": check.lost,
        }

    sms_times = sms_check.sent_times.get("", [])
    return {
        "limits": limits,
        "sms": {
            "rate_per_s": rate(sms_times),
            "seconds": max(sms_times) - min(sms_times) if sms_times else float("nan"),
            "sent": len(sms_times),
            "max_per_1s_window": max_in_sliding_window(sms_times),
            "duplicates": sms_check.duplicates,
            "lost": sms_check.lost,
        },
        "whatsapp": whatsapp_figures(wa_check),
        "whatsapp_interleaved": whatsapp_figures(mixed_check),
    }


# -- report --------------------------------------------------------------------------------------------


def verdict(key: str, value: float) -> str:
    op, target = TARGETS[key]
    ok = {"<=": value <= target, ">=": value >= target, "==": value == target}[op]
    return f"(target {op} {target:g}: {'met' if ok else 'MISSED'})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipients", type=int, default=MAX_RECIPIENTS, help="size of the big job")
    parser.add_argument("--sms", type=int, default=50, help="recipients of the paced SMS job")
    parser.add_argument("--whatsapp", type=int, default=400, help="recipients of the paced WhatsApp jobs")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for a job after this")
    parser.add_argument(
        "--data-dir", default=None, help="where the throwaway stores live (default: temp dir)"
    )
    parser.add_argument("--profile", default=None, metavar="FILE", help="cProfile the big job into FILE")
    parser.add_argument(
        "--ordered-ids",
        action="store_true",
        help="list the big job's contact ids in BulkRecipients key order (default: random, as real ids are)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.recipients <= MAX_RECIPIENTS or args.sms < 2 or args.whatsapp < 8:
        parser.error(f"--recipients 1..{MAX_RECIPIENTS}, --sms >= 2, --whatsapp >= 8")

    def say(line: str) -> None:
        print(line, flush=True)

    faulthandler.enable()  # a crash in a worker thread shows every thread's stack
    counter = LogCounter()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(counter)
    root.setLevel(logging.WARNING)
    try:
        return report(args, counter, say)
    finally:
        root.removeHandler(counter)
        root.setLevel(previous)


def report(args: argparse.Namespace, counter: LogCounter, say: Callable[[str], None]) -> int:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start; Python {sys.version.split()[0]}")
    say(
        f"1. DRY_RUN WhatsApp bulk job, {args.recipients:,} recipients, embedded store, 2 bulk workers, "
        f"rate limits lifted ({LIFTED_PER_SECOND:,}/s in a copy of the bundle, via POLICY_DIR):"
    )
    big = big_job(args.recipients, args.data_dir, args.timeout, args.profile, say, ordered=args.ordered_ids)
    timed_out = " (TIMED OUT: the rest cancelled)" if big["timed_out"] else ""
    say(f"  job status        {big['job_status']}{timed_out}; recipients by status {big['by_status']}")
    say(
        f"  create + enqueue  {big['create_enqueue_s']:8.2f} s   "
        f"{verdict('create_enqueue_s', big['create_enqueue_s'])}"
    )
    say(
        f"  end to end        {big['recipients_per_s']:8.0f} recipients/s over {big['end_to_end_s']:.1f} s, "
        f"from the create call to completedAt   {verdict('recipients_per_s', big['recipients_per_s'])}"
    )
    say(
        f"  send phase        {big['send_phase_per_s']:8.0f} recipients/s over {big['send_phase_s']:.1f} s "
        "(from create's return)"
    )
    say(
        f"  CPU               {big['cpu_s']:.1f} s = {big['cpu_ms_per_recipient']:.2f} ms per recipient "
        f"(all threads; a ceiling of {1000 / big['cpu_ms_per_recipient']:.0f}/s per busy core under the GIL)"
    )
    say(
        f"  peak RSS          {big['peak_rss_mb']:8.0f} MB "
        f"(before create: {big['rss_before_job_mb']:.0f} MB resident, peak so far "
        f"{big['peak_rss_before_job_mb']:.0f} MB)   "
        f"{verdict('peak_rss_mb', big['peak_rss_mb'])}"
    )
    say(
        f"  workers stopped   {big['workers_stop_s']:8.2f} s after completion (the job's end-of-job work, "
        "e.g. its report, runs on a worker thread after completedAt)"
    )
    say(f"  duplicates        {big['duplicates']:8d}   {verdict('duplicates', big['duplicates'])}")
    say(
        f"  lost              {big['lost']:8d} (of which contacts without a message: "
        f"{big['contacts_without_message']})   {verdict('lost', big['lost'])}"
    )

    say(
        f"2. real limits, real time (shipped bundle): {args.sms} SMS, "
        f"{args.whatsapp} WhatsApp over both numbers"
    )
    paced = paced_jobs(args.sms, args.whatsapp, args.data_dir, args.timeout)
    sms, wa, mixed = paced["sms"], paced["whatsapp"], paced["whatsapp_interleaved"]
    real = paced["limits"]
    say(
        f"  limits in force   SMS {real['sms']['perSecond']}/s, WhatsApp "
        f"{real['whatsapp']['perPhoneNumberPerSecond']}/s per number and "
        f"{real['whatsapp']['accountPerSecond']}/s per account"
    )
    say(
        f"  SMS rate          {sms['rate_per_s']:8.2f}/s ({sms['sent']} sent over {sms['seconds']:.2f} s)   "
        f"{verdict('sms_rate_per_s', sms['rate_per_s'])}"
    )
    say(
        f"  SMS most in 1 s   {sms['max_per_1s_window']:8d} (sliding)   "
        f"{verdict('sms_max_per_1s_window', sms['max_per_1s_window'])}"
    )
    say(
        f"  WhatsApp rate     {wa['rate_per_s']:8.1f}/s ({wa['sent']} sent over {wa['seconds']:.2f} s; "
        "one job over both numbers, recipients alternating)   "
        f"{verdict('whatsapp_rate_per_s', wa['rate_per_s'])}"
    )
    say(
        f"  WA most in 1 s    {wa['max_per_1s_window_per_number']:8d} per number (sliding)   "
        f"{verdict('whatsapp_max_per_1s_window_per_number', wa['max_per_1s_window_per_number'])}"
    )
    say(f"    per number: {json.dumps(wa['per_number'])}")
    say(
        f"  WhatsApp, 2 jobs  {mixed['rate_per_s']:8.1f}/s "
        f"({mixed['sent']} sent over {mixed['seconds']:.2f} s; one job per number, back to back), "
        f"most in 1 s per number {mixed['max_per_1s_window_per_number']}"
    )
    paced_dupes = sms["duplicates"] + wa["duplicates"] + mixed["duplicates"]
    paced_lost = sms["lost"] + wa["lost"] + mixed["lost"]
    say(f"  paced jobs: duplicates {paced_dupes}, lost {paced_lost}")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say(f"load average at end {load_end:.2f} (other processes share the {os.cpu_count()} CPUs)")
    noted = sum(counter.counts.values())
    say(f"log records at WARNING or above: {noted}")
    for (level, name, msg), n in counter.counts.most_common(8):
        say(f"  {n:6d} x {level} {name}: {msg}")

    figures: dict[str, Any] = {
        "create_enqueue_s": round(big["create_enqueue_s"], 3),
        "recipients_per_s": round(big["recipients_per_s"], 1),
        "peak_rss_mb": round(big["peak_rss_mb"], 1),
        "duplicates": big["duplicates"] + paced_dupes,
        "lost": big["lost"] + paced_lost,
        "sms_rate_per_s": round(sms["rate_per_s"], 3),
        "sms_max_per_1s_window": sms["max_per_1s_window"],
        "whatsapp_rate_per_s": round(wa["rate_per_s"], 2),
        "whatsapp_max_per_1s_window_per_number": wa["max_per_1s_window_per_number"],
        # extras
        "recipients": big["recipients"],
        "recipients_per_s_measured_from": "create call",
        "contact_ids": "key order" if args.ordered_ids else "random",
        "timed_out": big["timed_out"],
        "send_phase_per_s": round(big["send_phase_per_s"], 1),
        "end_to_end_s": round(big["end_to_end_s"], 2),
        "cpu_ms_per_recipient": round(big["cpu_ms_per_recipient"], 3),
        "whatsapp_interleaved_rate_per_s": round(mixed["rate_per_s"], 2),
        "whatsapp_interleaved_max_per_1s_window_per_number": mixed["max_per_1s_window_per_number"],
        "rate_limits_lifted_to": LIFTED_PER_SECOND,
        "bulk_workers": 2,
        "load_average_start_end": [round(load, 2), round(load_end, 2)],
    }
    print(json.dumps(figures))
    return 0 if figures["duplicates"] == 0 and figures["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
