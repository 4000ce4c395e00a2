"""The job report (8.8) and the job's end figures (14.5): rows equal the recipients, the summary
equals their tally, the report is stored when the job ends, and duration and throughput are measured."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from channels.errors import ChannelRejected
from gateway.bulk.ending import JobEnding
from gateway.bulk.report import COLUMNS, BulkReports, mask_address
from gateway.metrics import BULK_JOBS_FAILED, Metrics
from gateway.store.objects import MemoryObjects

from .conftest import TEXT, World
from .helpers import drain, statuses
from .test_service import _mixed


def _rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode())))


def _ended_job(world: World) -> tuple[str, BulkReports, MemoryObjects, Metrics]:
    objects, metrics = MemoryObjects(), Metrics()
    reports = BulkReports(world.tables, world.clock, objects)
    ending = JobEnding(world.tier, reports, metrics)
    ids = _mixed(world)
    # One allowed recipient the provider refuses: its code must reach the report.
    world.drivers["whatsapp"].fail_for["+447800000000"] = [
        ChannelRejected("(#131026) not on WhatsApp", code="ValidationException", http_status=400)
    ]
    service = world.service(on_end=ending)
    flight = service.preflight(channel="whatsapp", content=TEXT, contact_ids=ids)
    job, _ = service.create(
        actor="u_op", channel="whatsapp", content=TEXT, contact_ids=ids, preflight_result=flight
    )
    world.clock.advance(1)
    drain(world, world.worker(on_end=ending))
    return job.job_id, reports, objects, metrics


def test_the_report_rows_equal_the_recipients(world: World) -> None:
    job_id, _, objects, _ = _ended_job(world)
    raw = objects.get(f"{job_id}/report.csv")
    assert raw is not None, "the report is written when the job ends"
    assert raw.decode().splitlines()[0] == ",".join(COLUMNS)
    rows = _rows(raw)
    recipients = world.tables["BulkRecipients"].query(job_id, limit=1000).items
    assert {r["contactId"]: r["status"] for r in rows} == {
        str(i["contactId"]): str(i["status"]) for i in recipients
    }
    by_status = Counter(r["status"] for r in rows)
    assert by_status == statuses(world, job_id) and by_status["rejected"] == 10
    for row in rows:
        if row["status"] == "rejected":
            assert row["reasons"] and "/" in row["rule"]
        if row["status"] == "sent":
            assert row["providerMessageId"] and row["sentAt"] and not row["reasons"]
            assert row["address"].startswith("+44") and "*" in row["address"]
    [failed] = [r for r in rows if r["status"] == "failed"]
    assert failed["providerErrorCode"] == "131026"
    # Never the whole address in a report.
    phones = {str(c.get("phone")) for c in world.tables["Contacts"].scan(limit=100).items}
    assert not phones & {r["address"] for r in rows}


def test_the_summary_equals_the_recipients_and_names_the_bundle(world: World) -> None:
    job_id, _, objects, _ = _ended_job(world)
    raw = objects.get(f"{job_id}/summary.json")
    assert raw is not None
    summary = json.loads(raw)
    assert summary["status"] == "completed" and summary["final"] is True
    assert summary["counts"] == dict(statuses(world, job_id))
    refused: Counter[str] = Counter()
    for item in world.tables["BulkRecipients"].query(job_id, limit=1000).items:
        refused.update(item.get("reasons", []))
    assert summary["reasons"] == dict(refused) and "OPT_IN_REQUIRED" in refused
    assert summary["providerErrorCodes"] == {"131026": 1}
    assert summary["durationSeconds"] >= 0
    [bundle] = summary["bundles"]
    assert bundle["recipients"] == 13 and bundle["digest"]  # every recipient was decided by it
    assert summary["csvLocation"] == f"memory://{job_id}/report.csv"


def test_the_end_of_a_job_is_measured_per_channel(world: World) -> None:
    _, _, _, metrics = _ended_job(world)
    assert metrics.counter("bulk_jobs_ended_total", {"channel": "whatsapp", "status": "completed"}) == 1
    assert metrics.counter("bulk_recipients_total", {"channel": "whatsapp", "status": "rejected"}) == 10
    text = metrics.render_prometheus()
    assert 'wecare_bulk_job_duration_seconds_count{channel="whatsapp"} 1' in text
    assert "# TYPE wecare_bulk_job_throughput_per_second gauge" in text
    assert metrics.gauge_value("bulk_job_throughput_per_second", {"channel": "whatsapp"}) is not None
    # One recipient failed (131026): the deployment's bulk-failure alarm counts the job.
    assert metrics.counter(BULK_JOBS_FAILED) == 1


def test_a_running_job_answers_a_report_of_this_moment_without_storing_it(world: World) -> None:
    objects = MemoryObjects()
    reports = BulkReports(world.tables, world.clock, objects)
    ids = world.add_contacts(3)
    job, _ = world.service().create(actor="u_op", channel="whatsapp", content=TEXT, contact_ids=ids)
    rows = _rows(reports.read(job.job_id, "csv"))
    assert [r["status"] for r in rows] == ["pending"] * 3
    assert json.loads(reports.read(job.job_id, "json"))["final"] is False
    assert objects.objects == {}


def test_an_ended_job_without_a_stored_report_gets_one_on_first_read(world: World) -> None:
    ids = world.add_contacts(2)
    job, _ = world.service().create(actor="u_op", channel="whatsapp", content=TEXT, contact_ids=ids)
    drain(world, world.worker())
    objects = MemoryObjects()
    reports = BulkReports(world.tables, world.clock, objects)
    assert [r["status"] for r in _rows(reports.read(job.job_id, "csv"))] == ["sent", "sent"]
    assert f"{job.job_id}/report.csv" in objects.objects


def test_addresses_are_masked() -> None:
    assert mask_address("+447812345678") == "+44******5678"
    assert mask_address("ana@example.com") == "a***@example.com"
    assert mask_address("") == ""
    assert mask_address("12345") == "*****"
