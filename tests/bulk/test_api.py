"""The bulk HTTP API on the product as ``wecare serve`` composes it (``build_embedded`` over a tmp data
dir: SQLite, local queue, local identity, DRY_RUN, the reviewed policy bundle), signed in for real."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Container, build_embedded
from gateway.bulk.chunks import BULK_DLQ, BULK_QUEUE
from gateway.config import load_settings
from gateway.store.conditions import eq
from gateway.store.port import Update

PASSWORD = "correct horse battery"
TEXT = {"body": "Our store opens at 9 tomorrow"}


@dataclass
class Product:
    client: TestClient
    container: Container

    def auth(self, role: str) -> dict[str, str]:
        users = self.container.users
        assert users is not None
        email = f"{role.lower()}@wecare.digital"
        if users.find_by_email(email) is None:
            users.create(email, role, password=PASSWORD, actor="test")
        reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['accessToken']}"}

    def contacts(self, n: int, *, opted_in: bool = True, tag: str = "c") -> list[str]:
        service = self.container.contacts
        assert service is not None
        return [
            str(
                service.create(
                    {"name": f"Contact {tag}{i}", "email": f"{tag}{i}@example.com", "optInEmail": opted_in},
                    actor="test",
                )["contactId"]
            )
            for i in range(n)
        ]

    def job_body(self, ids: list[str], **extra: Any) -> dict[str, Any]:
        return {"channel": "email", "email": {"subject": "News", "text": "Hello"}, **extra} | {
            "recipients": {"contactIds": ids}
        }

    def create(self, ids: list[str], role: str = "Operator", **extra: Any) -> Any:
        return self.client.post("/api/bulk-jobs", headers=self.auth(role), json=self.job_body(ids, **extra))

    def job(self, job_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/api/bulk-jobs/{job_id}", headers=self.auth("Viewer"))
        assert reply.status_code == 200, reply.text
        job: dict[str, Any] = reply.json()["job"]
        return job

    def outbound_by_contact(self) -> Counter[str]:
        items = self.container.tables["Messages"].scan(filter=eq("direction", "outbound"), limit=10_000).items
        return Counter(str(i["contactId"]) for i in items if i.get("status") == "sent")


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Product]:
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data"))
    try:
        yield Product(TestClient(create_app(container), raise_server_exceptions=False), container)
    finally:
        container.stop_workers()
        container.close()


COUNT_KEYS = {"sent", "failed", "rejected", "pending", "cancelled", "deferred"}


def test_twenty_recipients_need_no_confirmation(product: Product) -> None:
    ids = product.contacts(20)
    reply = product.create(ids, name="twenty")
    assert reply.status_code == 201, reply.text
    job = reply.json()["job"]
    assert job["status"] == "pending" and job["totalRecipients"] == 20 and job["name"] == "twenty"
    assert set(job["counts"]) >= COUNT_KEYS and job["counts"]["pending"] == 20
    assert job["preflight"]["total"] == 20 and job["preflight"]["wouldSend"] == 20
    # Queued in one chunk, nothing sent until a worker runs.
    assert product.container.queues[BULK_QUEUE].approximate_count() == 1
    assert product.outbound_by_contact() == Counter()


def test_twenty_one_need_a_token_bound_to_the_job(product: Product) -> None:
    ids = product.contacts(21)
    first = product.create(ids)
    assert first.status_code == 409, first.text
    error = first.json()["error"]
    assert error["code"] == "CONFIRMATION_REQUIRED"
    token = error["details"]["confirmationToken"]
    assert error["details"]["preflight"] == {
        "total": 21,
        "wouldSend": 21,
        "refused": {},
        "opensConversations": 0,
    }
    assert product.container.tables["BulkJobs"].scan(limit=10).items == []  # nothing written
    assert product.container.queues[BULK_QUEUE].approximate_count() == 0

    # The token for this job does not confirm another: other content, other recipients, other creator.
    other_content = product.client.post(
        "/api/bulk-jobs",
        headers=product.auth("Operator"),
        json={
            "channel": "email",
            "email": {"subject": "Other", "text": "Hi"},
            "recipients": {"contactIds": ids},
        }
        | {"confirmationToken": token},
    )
    other_recipients = product.create([*ids[:20], product.contacts(1, tag="x")[0]], confirmationToken=token)
    other_creator = product.create(ids, role="Admin", confirmationToken=token)
    for reply in (other_content, other_recipients, other_creator):
        assert reply.status_code == 409, reply.text
        refused = reply.json()["error"]
        assert refused["code"] == "CONFIRMATION_REQUIRED" and refused["details"]["confirmationToken"] != token
    assert product.container.tables["BulkJobs"].scan(limit=10).items == []

    confirmed = product.create(ids, confirmationToken=token)
    assert confirmed.status_code == 201, confirmed.text
    job = confirmed.json()["job"]
    assert job["totalRecipients"] == 21 and job["counts"]["pending"] == 21
    assert product.job(job["jobId"])["counts"] == job["counts"]


def test_idempotency_key_answers_the_same_job(product: Product) -> None:
    ids = product.contacts(3)
    headers = {**product.auth("Operator"), "Idempotency-Key": "campaign-42"}
    first = product.client.post("/api/bulk-jobs", headers=headers, json=product.job_body(ids))
    again = product.client.post("/api/bulk-jobs", headers=headers, json=product.job_body(ids))
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["job"]["jobId"] == again.json()["job"]["jobId"]
    changed = product.client.post("/api/bulk-jobs", headers=headers, json=product.job_body(ids[:2]))
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_preflight_counts_a_mixed_population_and_writes_nothing(product: Product) -> None:
    allowed = product.contacts(3, tag="ok")
    no_opt_in = product.contacts(2, opted_in=False, tag="no")
    deleted = product.contacts(1, tag="gone")
    contacts = product.container.contacts
    assert contacts is not None
    contacts.delete(deleted[0], actor="test")
    ids = [*allowed, *no_opt_in, *deleted, "ct_does_not_exist"]
    reply = product.client.post(
        "/api/bulk-jobs/preflight", headers=product.auth("Operator"), json=product.job_body(ids)
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()["preflight"]
    assert result["total"] == 7 and result["wouldSend"] == 3 and result["opensConversations"] == 0
    assert result["refused"]["OPT_IN_REQUIRED"] >= 2
    assert result["refused"]["CONTACT_DELETED"] == 1 and result["refused"]["CONTACT_NOT_FOUND"] == 1
    assert product.container.tables["BulkJobs"].scan(limit=10).items == []
    assert product.container.tables["Messages"].scan(limit=10).items == []

    # The real run agrees with the preflight (workers on).
    created = product.create(ids)
    assert created.status_code == 201, created.text
    product.container.start_workers()
    job = _wait_until_ended(product, created.json()["job"]["jobId"])
    assert job["status"] == "completed"
    assert job["counts"]["sent"] == result["wouldSend"]
    assert job["counts"]["rejected"] == result["total"] - result["wouldSend"]


def _filter_body(**recipient_filter: Any) -> dict[str, Any]:
    return {
        "channel": "email",
        "email": {"subject": "S", "text": "T"},
        "recipients": {"filter": recipient_filter},
    }


def test_a_filter_is_resolved_at_creation_to_the_contacts_it_matches(product: Product) -> None:
    members = product.contacts(3, tag="member")
    product.contacts(2, opted_in=False, tag="member-out")
    others = product.contacts(2, tag="guest")
    operator = product.auth("Operator")
    flight = product.client.post("/api/bulk-jobs/preflight", headers=operator, json=_filter_body(q="member"))
    assert flight.status_code == 200, flight.text
    # Search text alone: all five "member" contacts; the two not opted in are refused by the policy.
    assert flight.json()["preflight"]["total"] == 5
    assert flight.json()["preflight"]["refused"] == {"OPT_IN_REQUIRED": 2}
    opted = product.client.post(
        "/api/bulk-jobs", headers=operator, json=_filter_body(q="member", optedIn=True)
    )
    assert opted.status_code == 201, opted.text
    job = opted.json()["job"]
    assert job["totalRecipients"] == 3
    listed = product.client.get(f"/api/bulk-jobs/{job['jobId']}/recipients", headers=operator).json()
    assert sorted(r["contactId"] for r in listed["items"]) == sorted(members)
    everyone = product.client.post(
        "/api/bulk-jobs/preflight", headers=operator, json=_filter_body(optedIn=True)
    )
    assert everyone.json()["preflight"]["total"] == len(members) + len(others)


def test_an_empty_filter_is_refused_with_what_to_give(product: Product) -> None:
    reply = product.client.post("/api/bulk-jobs", headers=product.auth("Operator"), json=_filter_body())
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "INVALID_FILTER"
    assert "optedIn" in reply.json()["error"]["message"]


def test_a_confirmation_for_a_filter_is_bound_to_the_contacts_it_matched(product: Product) -> None:
    product.contacts(21, tag="fan")
    operator = product.auth("Operator")
    body = _filter_body(q="fan", optedIn=True)
    first = product.client.post("/api/bulk-jobs", headers=operator, json=body)
    assert first.status_code == 409 and first.json()["error"]["details"]["preflight"]["total"] == 21
    token = first.json()["error"]["details"]["confirmationToken"]
    product.contacts(1, tag="fan-late")  # the filter now matches someone the operator never saw
    stale = product.client.post("/api/bulk-jobs", headers=operator, json={**body, "confirmationToken": token})
    assert stale.status_code == 409 and stale.json()["error"]["details"]["preflight"]["total"] == 22
    fresh = stale.json()["error"]["details"]["confirmationToken"]
    confirmed = product.client.post(
        "/api/bulk-jobs", headers=operator, json={**body, "confirmationToken": fresh}
    )
    assert confirmed.status_code == 201 and confirmed.json()["job"]["totalRecipients"] == 22


def test_pause_resume_cancel_and_an_invalid_transition(product: Product) -> None:
    job_id = product.create(product.contacts(5)).json()["job"]["jobId"]
    operator = product.auth("Operator")
    paused = product.client.post(f"/api/bulk-jobs/{job_id}/pause", headers=operator)
    assert paused.status_code == 200 and paused.json()["job"]["status"] == "paused"
    again = product.client.post(f"/api/bulk-jobs/{job_id}/pause", headers=operator)
    assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "paused"
    resumed = product.client.post(f"/api/bulk-jobs/{job_id}/resume", headers=operator)
    assert resumed.status_code == 200 and resumed.json()["job"]["status"] == "running"
    cancelled = product.client.post(f"/api/bulk-jobs/{job_id}/cancel", headers=operator)
    assert cancelled.status_code == 200, cancelled.text
    job = cancelled.json()["job"]
    assert job["status"] == "cancelled" and job["counts"]["cancelled"] == 5
    late = product.client.post(f"/api/bulk-jobs/{job_id}/resume", headers=operator)
    assert late.status_code == 409 and late.json()["error"]["details"]["status"] == "cancelled"
    assert product.client.post("/api/bulk-jobs/job_nope/pause", headers=operator).status_code == 404
    assert product.client.get("/api/bulk-jobs/job_nope", headers=operator).status_code == 404
    actions = {a["action"] for a in product.container.tables["AuditLogs"].scan(limit=1000).items}
    assert {"bulk.created", "bulk.paused", "bulk.resumed", "bulk.cancelled"} <= actions


def test_viewer_reads_but_cannot_create_or_control(product: Product) -> None:
    ids = product.contacts(2)
    job_id = product.create(ids).json()["job"]["jobId"]
    viewer = product.auth("Viewer")
    listed = product.client.get("/api/bulk-jobs", headers=viewer)
    assert listed.status_code == 200 and [j["jobId"] for j in listed.json()["items"]] == [job_id]
    assert product.client.get("/api/bulk-jobs", headers=viewer, params={"status": "pending"}).json()["items"]
    recipients = product.client.get(f"/api/bulk-jobs/{job_id}/recipients", headers=viewer)
    assert recipients.status_code == 200
    assert sorted(r["contactId"] for r in recipients.json()["items"]) == sorted(ids)
    assert product.job(job_id)["status"] == "pending"
    assert product.create(ids, role="Viewer").status_code == 403
    assert product.client.post(f"/api/bulk-jobs/{job_id}/pause", headers=viewer).status_code == 403
    preflight = product.client.post("/api/bulk-jobs/preflight", headers=viewer, json=product.job_body(ids))
    assert preflight.status_code == 403


def test_jobs_list_newest_first(product: Product) -> None:
    ids = product.contacts(1)
    first = product.create(ids).json()["job"]["jobId"]
    time.sleep(0.01)
    second = product.create(ids).json()["job"]["jobId"]
    items = product.client.get("/api/bulk-jobs", headers=product.auth("Viewer")).json()["items"]
    assert [j["jobId"] for j in items] == [second, first]


def _wait_until_ended(product: Product, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = product.job(job_id)
        if job["status"] in ("completed", "cancelled", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_the_embedded_workers_send_each_recipient_exactly_once(product: Product) -> None:
    assert product.container.settings.BULK_WORKER_CONCURRENCY == 2
    names = [w.name for w in product.container.workers]
    assert {"bulk-worker-1", "bulk-worker-2", "bulk-scheduler"} <= set(names)
    a, b = product.contacts(12, tag="a"), product.contacts(8, tag="b")
    jobs = [product.create(a).json()["job"]["jobId"], product.create([*b, *b]).json()["job"]["jobId"]]
    product.container.start_workers()
    for job_id in jobs:
        job = _wait_until_ended(product, job_id)
        assert job["status"] == "completed", job
    assert product.job(jobs[0])["counts"]["sent"] == 12 and product.job(jobs[1])["counts"]["sent"] == 8
    assert product.outbound_by_contact() == Counter({c: 1 for c in [*a, *b]})
    started = time.monotonic()
    product.container.stop_workers()
    assert time.monotonic() - started < 3.0
    assert not [t.name for t in threading.enumerate() if t.name.startswith("wecare-bulk-")]
    assert product.container.queues[BULK_QUEUE].approximate_count() == 0


def test_a_scheduled_job_waits_then_starts(product: Product) -> None:
    ids = product.contacts(2)
    reply = product.create(ids, sendAt=time.time() + 1.5)
    assert reply.status_code == 201, reply.text
    job = reply.json()["job"]
    assert job["status"] == "scheduled"
    product.container.start_workers()
    assert _wait_until_ended(product, job["jobId"])["status"] == "completed"
    assert product.outbound_by_contact() == Counter({c: 1 for c in ids})


def test_bulk_dlq_replay_resumes_a_dead_chunk(product: Product) -> None:
    ids = product.contacts(4)
    job_id = product.create(ids).json()["job"]["jobId"]
    queue = product.container.queues[BULK_QUEUE]
    [message] = queue.receive(1, visibility_timeout=60)
    queue.delete(message.receipt_handle)
    dlq = product.container.dlq
    assert dlq is not None
    dlq.dead_letter(BULK_DLQ, message.body, "StoreUnavailable: the chunk kept failing")
    assert product.job(job_id)["counts"]["pending"] == 4

    reply = product.client.post("/api/dlq/replay", headers=product.auth("Operator"), json={"queue": BULK_DLQ})
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["queue"] == BULK_DLQ and report["replayed"] == 1 and report["failed"] == 0
    job = product.job(job_id)
    assert job["status"] == "completed" and job["counts"]["sent"] == 4, job
    assert product.outbound_by_contact() == Counter({c: 1 for c in ids})
    # A second replay of the same chunk sends nobody twice.
    handler = dlq.handler(BULK_DLQ)
    assert handler is not None
    handler(message.body)
    assert product.outbound_by_contact() == Counter({c: 1 for c in ids})


def test_the_document_states_the_bulk_answers(product: Product) -> None:
    paths = product.client.get("/openapi.json").json()["paths"]
    create = paths["/api/bulk-jobs"]["post"]
    assert {"201", "409", "422"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    for action in ("pause", "resume", "cancel"):
        assert {"200", "404", "409"} <= set(paths[f"/api/bulk-jobs/{{job_id}}/{action}"]["post"]["responses"])
    assert "422" in paths["/api/bulk-jobs/preflight"]["post"]["responses"]


def test_the_embedded_deferred_worker_requeues_due_deferred_recipients(product: Product) -> None:
    (worker,) = [w for w in product.container.workers if w.name == "bulk-deferred"]
    service = product.container.bulk
    assert service is not None
    job_id = product.create(product.contacts(1)).json()["job"]["jobId"]
    queue = product.container.queues[BULK_QUEUE]
    (message,) = queue.receive(10, visibility_timeout=600)
    queue.delete(message.receipt_handle)
    (recipient,) = service.recipients.iter_status(job_id, "pending")
    rid = str(recipient["recipientId"])
    # As the worker leaves a recipient refused with 131049: deferred for 24 h, the job running.
    service.jobs.transition(job_id, "running", expect=("pending",))
    later = time.time() + 3600
    assert service.recipients.move(job_id, rid, "pending", "deferred", {"retryAt": later}) is not None
    worker.run_once()
    assert queue.approximate_count() == 0 and product.job(job_id)["counts"]["deferred"] == 1
    assert service.recipients.move(job_id, rid, "deferred", "deferred", {"retryAt": time.time() - 1})
    worker.run_once()
    counts = product.job(job_id)["counts"]
    assert (counts["deferred"], counts["pending"]) == (0, 1)
    (again,) = queue.receive(10, visibility_timeout=600)
    assert json.loads(again.body) == {"jobId": job_id, "recipientIds": [rid]}


def test_the_report_is_downloaded_as_csv_or_json_and_stored_in_the_data_dir(product: Product) -> None:
    ids = product.contacts(4) + product.contacts(1, opted_in=False, tag="out")
    job_id = product.create(ids).json()["job"]["jobId"]
    product.container.start_workers()
    assert _wait_until_ended(product, job_id)["status"] == "completed"
    viewer = product.auth("Viewer")
    as_csv = product.client.get(f"/api/bulk-jobs/{job_id}/report?format=csv", headers=viewer)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    lines = as_csv.text.splitlines()
    assert lines[0].startswith("contactId,address,status")
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(ids)
    as_json = product.client.get(f"/api/bulk-jobs/{job_id}/report?format=json", headers=viewer)
    assert as_json.status_code == 200
    assert as_json.json()["counts"] == {"sent": 4, "rejected": 1}
    stored = product.container.settings.WECARE_DATA_DIR / "reports" / job_id / "report.csv"
    assert stored.read_text() == as_csv.text.replace("\r\n", "\n") or stored.read_bytes() == as_csv.content
    job = product.job(job_id)
    assert job["ratePerSecond"] is not None and job["etaSeconds"] is None and job["elapsedSeconds"] >= 0
    bad = product.client.get(f"/api/bulk-jobs/{job_id}/report?format=xml", headers=viewer)
    assert bad.status_code == 422
    missing = product.client.get("/api/bulk-jobs/job_nope/report", headers=viewer)
    assert missing.status_code == 404


def test_a_delivery_failure_from_the_webhook_reaches_the_bulk_recipient(product: Product) -> None:
    """The composition root hands a failed status to the bulk worker: the recipient and report follow."""
    contacts = product.container.contacts
    assert contacts is not None
    contact_id = str(
        contacts.create({"name": "Wren", "phone": "+447898765432", "optInWhatsApp": True}, actor="test")[
            "contactId"
        ]
    )
    operator = product.auth("Operator")
    created = product.client.post(
        "/api/bulk-jobs",
        headers=operator,
        json={
            "channel": "whatsapp",
            "template": {"name": "order_update", "language": "en_GB"},
            "recipients": {"contactIds": [contact_id]},
        },
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["job"]["jobId"]
    product.container.start_workers()
    assert _wait_until_ended(product, job_id)["counts"]["sent"] == 1
    product.container.stop_workers()
    fixture = json.loads(
        (
            Path(__file__).parents[1] / "fixtures" / "eum" / "eum-status-failed-131047.sns-lambda.json"
        ).read_text()
    )
    wamid = "wamid.HBgMNDQ3ODk4NzY1NDMyFQIAERgSD4181CE92FB7E84332AA=="
    (recipient,) = product.container.tables["BulkRecipients"].query(job_id, limit=10).items
    messages = product.container.tables["Messages"]
    messages.update({"messageId": recipient["messageId"]}, Update(set={"whatsappMessageId": wamid}))
    inbound = product.container.inbound
    assert inbound is not None
    inbound.ingest_document(fixture)
    job = product.job(job_id)
    assert (job["counts"]["sent"], job["counts"]["failed"]) == (0, 1)
    (after,) = product.container.tables["BulkRecipients"].query(job_id, limit=10).items
    assert after["errorDetails"]["providerCode"] == "131047" and after["errorDetails"]["reasons"] == [
        "TEMPLATE_REQUIRED"
    ]
    report = product.client.get(f"/api/bulk-jobs/{job_id}/report?format=json", headers=operator).json()
    assert report["counts"] == {"failed": 1} and report["providerErrorCodes"] == {"131047": 1}
