"""The report of a bulk job (8.8): a CSV row per recipient and a JSON summary.

Written when the job ends (``<jobId>/report.csv`` and ``<jobId>/summary.json`` in the object store:
the data dir in the embedded default, ``s3://stream.wecare.digital/base-wecare-digital/reports/`` in
AWS) and served by ``GET /api/bulk-jobs/{id}/report?format=csv|json``; a job still running answers
a report of this moment, not stored.

The recipients are read a page at a time and the CSV is spooled to a temporary file (in memory up to
1 MB, then on disk), so a 100,000-recipient report never holds its rows in memory. Each row joins the
recipient with its stored message: the masked address, the reason codes and the rule that decided,
the provider's error code and message id. The summary names every policy bundle (version and digest)
that decided a recipient, with how many it decided: a job that ran across a bundle change says so.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Literal

from gateway.bulk.jobs import TERMINAL, Job, JobStore
from gateway.bulk.recipients import RecipientStore
from gateway.clock import Clock
from gateway.messages.repository import MessageRepository
from gateway.store.objects import ObjectStore
from gateway.store.port import Tables

COLUMNS = (
    "contactId",
    "address",
    "status",
    "reasons",
    "rule",
    "providerErrorCode",
    "providerMessageId",
    "sentAt",
    "messageId",
)
CSV_NAME = "report.csv"
SUMMARY_NAME = "summary.json"
SPOOL_BYTES = 1024 * 1024
ReportFormat = Literal["csv", "json"]


def mask_address(address: str) -> str:
    """Enough to recognise, not enough to reuse: ``+44******5678``, ``a***@example.com``."""
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.partition("@")
        return (local[:1] + "***@" + domain) if local else "***@" + domain
    if len(address) <= 6:
        return "*" * len(address)
    return address[:3] + "*" * (len(address) - 7) + address[-4:]


def _reasons(recipient: Mapping[str, Any], message: Mapping[str, Any] | None) -> list[str]:
    details = recipient.get("errorDetails")
    listed = recipient.get("reasons") or (details.get("reasons") if isinstance(details, Mapping) else None)
    if listed:
        return [str(r) for r in listed]
    if message is not None:
        return [str(r) for r in message.get("decision", {}).get("reasons", [])]
    return []


def _rule(message: Mapping[str, Any] | None) -> str:
    """The rule that decided a refusal (``policy/rule``); empty for an allowed send."""
    if message is None:
        return ""
    violations = message.get("decision", {}).get("violations") or []
    first = violations[0] if violations else None
    return f"{first.get('policy')}/{first.get('rule')}" if isinstance(first, Mapping) else ""


def _provider_code(recipient: Mapping[str, Any], message: Mapping[str, Any] | None) -> str:
    details = recipient.get("errorDetails")
    if isinstance(details, Mapping) and details.get("providerCode"):
        return str(details["providerCode"])
    error = message.get("errorDetails") if message is not None else None
    if isinstance(error, Mapping) and error.get("code"):
        return str(error["code"])
    return ""


@dataclass
class _Tally:
    statuses: Counter[str]
    reasons: Counter[str]
    provider_codes: Counter[str]
    bundles: Counter[tuple[str, str, str]]

    @classmethod
    def empty(cls) -> _Tally:
        return cls(Counter(), Counter(), Counter(), Counter())


class BulkReports:
    def __init__(self, tables: Tables, clock: Clock, objects: ObjectStore) -> None:
        self._clock = clock
        self._objects = objects
        self._messages = MessageRepository(tables)
        self.jobs = JobStore(tables, clock)
        self._recipients = RecipientStore(tables, clock, self.jobs)

    # -- building ----------------------------------------------------------------------------------

    def _rows(self, job: Job, tally: _Tally) -> Iterator[list[str]]:
        for recipient in self._recipients.iter_all(job.job_id):
            status = str(recipient.get("status", ""))
            message_id = str(recipient.get("messageId", ""))
            message = self._messages.get(message_id) if status not in ("pending", "cancelled") else None
            reasons = _reasons(recipient, message)
            code = _provider_code(recipient, message)
            tally.statuses[status] += 1
            tally.reasons.update(reasons)
            if code:
                tally.provider_codes[code] += 1
            if message is not None:
                bundle = message.get("decision", {}).get("bundle") or {}
                tally.bundles[
                    (str(bundle.get("name")), str(bundle.get("version")), str(bundle.get("digest")))
                ] += 1
            sent_at = recipient.get("sentAt")
            yield [
                str(recipient.get("contactId", "")),
                mask_address(str((message or {}).get("to", ""))),
                status,
                " ".join(reasons),
                _rule(message),
                code,
                str((message or {}).get("providerMessageId", "")),
                "" if sent_at is None else f"{float(sent_at):.3f}",
                message_id if message is not None else "",
            ]

    def build(self, job_id: str) -> tuple[IO[bytes], dict[str, Any]]:
        """The CSV (a spooled temporary file, rewound) and the summary of ``job_id`` as it is now."""
        job = self.jobs.require(job_id)
        tally = _Tally.empty()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        for row in self._rows(job, tally):
            writer.writerow(row)
        text.flush()
        text.detach()  # leave the spool open for the caller
        spool.seek(0)
        return spool, self._summary(job, tally)

    def _summary(self, job: Job, tally: _Tally) -> dict[str, Any]:
        item = job.item
        started = float(item.get("runningAt") or item.get("createdAt") or 0)
        ended_at = job.ended_at
        end = ended_at if ended_at is not None else self._clock.now()
        duration = max(0.0, end - started)
        finished = sum(n for s, n in tally.statuses.items() if s not in ("pending", "sending"))
        return {
            "jobId": job.job_id,
            "name": item.get("name", ""),
            "channel": job.channel,
            "status": job.status,
            "final": job.status in TERMINAL,
            "createdBy": item.get("createdBy"),
            "createdAt": item.get("createdAt"),
            "startedAt": item.get("runningAt"),
            "endedAt": ended_at,
            "totalRecipients": job.total,
            "counts": dict(sorted(tally.statuses.items())),
            "reasons": dict(sorted(tally.reasons.items())),
            "providerErrorCodes": dict(sorted(tally.provider_codes.items())),
            "durationSeconds": round(duration, 3),
            "throughputPerSecond": round(finished / duration, 3) if duration > 0 else None,
            "bundles": [
                {"name": name, "version": version, "digest": digest, "recipients": n}
                for (name, version, digest), n in sorted(tally.bundles.items())
            ],
            "pauseReason": item.get("pauseReason"),
            "generatedAt": self._clock.now(),
        }

    # -- storing and reading -----------------------------------------------------------------------

    def write(self, job_id: str) -> dict[str, Any]:
        """Build and store the report of ``job_id``; returns its summary."""
        spool, summary = self.build(job_id)
        with spool:
            self._objects.put_file(f"{job_id}/{CSV_NAME}", spool, content_type="text/csv; charset=utf-8")
        summary["csvLocation"] = self._objects.location(f"{job_id}/{CSV_NAME}")
        encoded = json.dumps(summary, sort_keys=True, default=str).encode()
        self._objects.put_file(
            f"{job_id}/{SUMMARY_NAME}", io.BytesIO(encoded), content_type="application/json"
        )
        return summary

    def read(self, job_id: str, fmt: ReportFormat) -> bytes:
        """The stored report of an ended job (written now if it is missing), or this moment's."""
        job = self.jobs.require(job_id)
        name = CSV_NAME if fmt == "csv" else SUMMARY_NAME
        if job.status in TERMINAL:
            stored = self._objects.get(f"{job.job_id}/{name}")
            if stored is None:
                self.write(job.job_id)
                stored = self._objects.get(f"{job.job_id}/{name}")
            if stored is not None:
                return stored
        spool, summary = self.build(job.job_id)
        with spool:
            return spool.read() if fmt == "csv" else json.dumps(summary, sort_keys=True, default=str).encode()
