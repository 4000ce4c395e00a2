"""The Bulk Messaging page (#/bulk) in a real headless Chromium against `wecare serve` (DRY_RUN, with
the bulk worker threads running, so jobs really run to the end).

An operator composes a job from a pasted or uploaded recipient list, sees the preflight (refusals by
reason code), confirms a job above 20 recipients, follows its progress without a reload, pauses,
resumes and cancels it; a Viewer follows jobs but has no compose form and no controls.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Request, expect

from tests.ui.harness import DESKTOP, MOBILE, PageErrors, Server, create_contact, new_page, sign_in

pytestmark = pytest.mark.browser

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PASSWORD = "a long passphrase for the bulk tests"
JOB_DONE = 45_000  # ms: SMS is rate limited to 5 messages/s, and other jobs may share the limiter
# An error answer the page asked for and shows (409 confirmation, 422 validation) is logged by
# Chromium as a failed resource load; only other console errors fail a test.
EXPECTED_LOAD_FAILURE = re.compile(
    r"Failed to load resource: the server responded with a status of (409|422)"
)

_numbers = iter(range(2000, 9000))


def unique_phone() -> str:
    # +1 415 555 2xxx..8xxx: valid numbers, unique within this module's server.
    return f"+1415555{next(_numbers):04d}"


class Console:
    """Console errors of a page (beyond the uncaught exceptions the harness already collects)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: set[int] = set()

    def watch(self, page: Page) -> Console:
        page.on("console", self._on)
        return self

    def allow(self, status: int) -> None:
        """A test that provokes this HTTP status itself (e.g. a 403 probe) does not fail on its log line."""
        self.allowed.add(status)

    def _on(self, message: ConsoleMessage) -> None:
        if message.type != "error" or EXPECTED_LOAD_FAILURE.search(message.text):
            return
        if any(f"status of {status} " in message.text for status in self.allowed):
            return
        self.errors.append(message.text)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, server: Server, console: Console) -> Iterator[Page]:
    """A desktop page that fails the test on any uncaught JavaScript error or console error."""
    context, opened = new_page(browser, server, DESKTOP)
    errors = PageErrors(opened)
    console.watch(opened)
    yield opened
    context.close()
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"
    assert console.errors == [], f"console errors: {console.errors}"


@pytest.fixture(scope="module")
def admin_token(server: Server) -> str:
    return server.token()


@pytest.fixture(scope="module")
def operator(server: Server, admin_token: str) -> str:
    return server.add_user(admin_token, "Operator", PASSWORD)


@pytest.fixture(scope="module")
def viewer(server: Server, admin_token: str) -> str:
    return server.add_user(admin_token, "Viewer", PASSWORD)


def sms_contacts(
    server: Server, token: str, n: int, *, prefix: str, opted_in: bool = True
) -> list[dict[str, Any]]:
    return [
        create_contact(server, token, name=f"{prefix} {i:03d}", phone=unique_phone(), optInSms=opted_in)
        for i in range(n)
    ]


def open_bulk(page: Page, hash_path: str = "#/bulk") -> None:
    page.evaluate("(h) => { location.hash = h; }", hash_path)
    expect(page.locator("[data-page-title]")).to_have_text("Bulk Messaging")


def create_job_via_api(server: Server, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/bulk-jobs as the API's own clients do, confirming above the threshold."""
    with server.api(token) as client:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        reply = client.post("/api/bulk-jobs", json=body, headers=headers)
        if reply.status_code == 409:
            token_ = reply.json()["error"]["details"]["confirmationToken"]
            reply = client.post("/api/bulk-jobs", json={**body, "confirmationToken": token_}, headers=headers)
    assert reply.status_code == 201, reply.text
    job: dict[str, Any] = reply.json()["job"]
    return job


def wait_for_job(
    server: Server, token: str, job_id: str, statuses: set[str], timeout: float = 45.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with server.api(token) as client:
        while True:
            job: dict[str, Any] = client.get(f"/api/bulk-jobs/{job_id}").json()["job"]
            if job["status"] in statuses or time.monotonic() > deadline:
                return job
            time.sleep(0.25)


def compose_sms(page: Page, body: str) -> None:
    compose = page.get_by_test_id("bulk-compose")
    compose.get_by_label("Channel").select_option("sms")
    compose.get_by_label("Message", exact=True).fill(body)


def preflight_figure(page: Page, name: str) -> Locator:
    return page.get_by_test_id(f"bulk-preflight-{name}")


def in_a_day_local() -> str:
    """A datetime-local value one day ahead (the browser runs in this machine's time zone)."""
    return (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


def body_of(request: Request) -> dict[str, Any]:
    sent = request.post_data_json
    assert isinstance(sent, dict), request.post_data
    return sent


def bulk_posts(page: Page) -> list[Request]:
    posts: list[Request] = []
    page.on(
        "request",
        lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/api/bulk-jobs") else None,
    )
    return posts


# ------------------------------------------------------------------------------------ compose → run


def test_an_operator_pastes_ids_and_a_phone_sees_the_preflight_and_the_job_completes(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    contacts = sms_contacts(server, admin_token, 3, prefix="Paste Person")
    posts = bulk_posts(page)
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose_sms(page, "Your parcel is on its way.")
    page.get_by_label("Job name (optional)").fill("Parcel notice")
    # Two contact ids and one phone number as a person would type it (spaces, no punctuation rules).
    third = contacts[2]["phone"]
    typed = f"{third[:2]} {third[2:5]} {third[5:8]} {third[8:]}"
    page.get_by_label("Contact ids or phone numbers").fill(
        f"{contacts[0]['contactId']}\n{contacts[1]['contactId']}\n\n{typed}\n"
    )
    expect(page.get_by_test_id("bulk-resolved")).to_have_text(
        "3 recipients; 1 line matched by phone or e-mail."
    )
    expect(preflight_figure(page, "total")).to_have_text("3")
    expect(preflight_figure(page, "would-send")).to_have_text("3")
    expect(preflight_figure(page, "refused-total")).to_have_text("0")
    expect(page.get_by_test_id("bulk-preflight-refused")).to_have_count(0)

    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_test_id("bulk-create-outcome")).to_contain_text("Job created")
    job_id = page.get_by_test_id("bulk-created-job-id").inner_text()
    assert job_id.startswith("job_")
    assert page.evaluate("location.hash") == f"#/bulk?job={job_id}"

    progress = page.get_by_test_id("bulk-progress")
    expect(progress.get_by_role("heading", name="Job progress: Parcel notice")).to_be_visible()
    expect(progress).to_have_attribute("data-status", "completed", timeout=JOB_DONE)
    expect(page.get_by_test_id("bulk-job-status")).to_have_text("completed")
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("3")
    expect(page.get_by_test_id("bulk-count-pending")).to_have_text("0")
    expect(page.get_by_test_id("bulk-count-failed")).to_have_text("0")
    expect(page.get_by_test_id("bulk-overall")).to_have_text("3 of 3 recipients done.")
    expect(page.get_by_test_id("bulk-job-rate")).to_contain_text("messages/s")  # the server's rate
    # A finished job offers no controls.
    for control in ("bulk-pause", "bulk-resume", "bulk-cancel"):
        expect(page.get_by_test_id(control)).to_be_hidden()
    row = page.get_by_test_id("bulk-history").locator(f"tr[data-job-id='{job_id}']")
    expect(row).to_contain_text("Parcel notice")
    expect(row).to_contain_text("completed")  # the history row follows the progress in place

    assert len(posts) == 1
    sent = body_of(posts[0])
    assert sent["channel"] == "sms" and sent["text"] == {"body": "Your parcel is on its way."}
    assert sorted(sent["recipients"]["contactIds"]) == sorted(c["contactId"] for c in contacts)
    assert sent["name"] == "Parcel notice" and "confirmationToken" not in sent
    assert UUID.match(posts[0].headers["idempotency-key"])
    with server.api(admin_token) as client:
        stored = client.get(f"/api/bulk-jobs/{job_id}").json()["job"]
    assert stored["status"] == "completed" and stored["counts"]["sent"] == 3

    # The recipients of the job, each with its message.
    page.locator("summary", has_text="Recipients").click()
    recipients = page.get_by_test_id("bulk-recipients").locator("tbody tr")
    expect(recipients).to_have_count(3)
    expect(recipients.filter(has_text="sent")).to_have_count(3)


def test_above_twenty_recipients_an_uploaded_csv_needs_confirmation(
    page: Page, server: Server, admin_token: str, operator: str, tmp_path: Path
) -> None:
    contacts = sms_contacts(server, admin_token, 21, prefix="Upload Person")
    csv = "name,contactId\n" + "".join(f'"{c["name"]}",{c["contactId"]}\n' for c in contacts)
    posts = bulk_posts(page)
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose_sms(page, "Our opening hours change on Monday.")
    upload = tmp_path / "recipients.csv"
    upload.write_text(csv, encoding="utf-8")
    page.get_by_label("Upload a CSV file").set_input_files(upload)
    expect(page.get_by_label("Contact ids or phone numbers")).to_have_value(csv)
    expect(page.get_by_test_id("bulk-resolved")).to_have_text("21 recipients.")
    expect(preflight_figure(page, "total")).to_have_text("21")
    expect(preflight_figure(page, "would-send")).to_have_text("21")

    page.get_by_role("button", name="Create job").click()
    confirm = page.get_by_test_id("bulk-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("This job has 21 recipients, more than 20")
    expect(page.get_by_test_id("bulk-confirm-total")).to_have_text("21")
    expect(page.get_by_test_id("bulk-confirm-would-send")).to_have_text("21")
    expect(page.get_by_test_id("bulk-confirm-refused-total")).to_have_text("0")
    expect(confirm.get_by_role("heading", name="Confirm this job")).to_be_focused()
    expect(page.get_by_test_id("bulk-create-outcome")).not_to_contain_text("Job created")
    assert len(posts) == 1  # nothing was created yet

    confirm.get_by_role("button", name="Confirm and create job").click()
    expect(page.get_by_test_id("bulk-create-outcome")).to_contain_text("Job created")
    expect(confirm).to_be_hidden()
    assert len(posts) == 2
    first, second = posts[0], posts[1]
    assert "confirmationToken" not in body_of(first)
    assert body_of(second)["confirmationToken"]
    # The same compose attempt: one Idempotency-Key for the request and its confirmation.
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    repeated = {k: v for k, v in body_of(second).items() if k != "confirmationToken"}
    assert repeated == body_of(first)

    progress = page.get_by_test_id("bulk-progress")
    expect(page.get_by_test_id("bulk-job-total")).to_have_text("21")
    expect(progress).to_have_attribute("data-status", "completed", timeout=JOB_DONE)
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("21")


def test_refused_recipients_show_in_the_preflight_by_reason_code(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    allowed = [
        create_contact(
            server,
            admin_token,
            name=f"Refusal Yes {i}",
            phone=unique_phone(),
            optInSms=True,
            optInWhatsApp=True,
        )
        for i in range(2)
    ]
    no_consent = create_contact(server, admin_token, name="Refusal No", phone=unique_phone())
    missing = f"ct_{uuid.uuid4().hex}"
    unknown_phone = unique_phone()  # nobody has it
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose_sms(page, "Your appointment is tomorrow at 10:00.")
    ids = [c["contactId"] for c in allowed] + [no_consent["contactId"], missing]
    page.get_by_label("Contact ids or phone numbers").fill("\n".join([*ids, unknown_phone]))
    expect(page.get_by_test_id("bulk-resolved")).to_have_text("4 recipients.")
    expect(page.get_by_test_id("bulk-unmatched")).to_have_text(f"Line 5: {unknown_phone} — no contact")

    expect(preflight_figure(page, "total")).to_have_text("4")
    expect(preflight_figure(page, "would-send")).to_have_text("2")
    expect(preflight_figure(page, "refused-total")).to_have_text("2")
    refused = page.get_by_test_id("bulk-preflight-refused")
    # Every failing rule is counted: the unknown contact has no consent (and no address) either.
    expect(refused.locator("[data-reason='OPT_IN_REQUIRED']")).to_have_text("OPT_IN_REQUIRED 2 recipients")
    expect(refused.locator("[data-reason='CONTACT_NOT_FOUND']")).to_have_text("CONTACT_NOT_FOUND 1 recipient")

    # The preflight follows the form: WhatsApp free-form text outside the window needs a template.
    page.get_by_test_id("bulk-compose").get_by_label("Channel").select_option("whatsapp")
    expect(refused.locator("[data-reason='TEMPLATE_REQUIRED']")).to_have_text(
        "TEMPLATE_REQUIRED 4 recipients"
    )
    expect(preflight_figure(page, "would-send")).to_have_text("0")
    page.get_by_role("radio", name="Template").check()
    page.get_by_label("Template name").fill("appointment_reminder")
    expect(preflight_figure(page, "would-send")).to_have_text("2")
    expect(
        page.get_by_test_id("bulk-preflight-refused").locator("[data-reason='TEMPLATE_REQUIRED']")
    ).to_have_count(0)
    expect(preflight_figure(page, "opens")).to_have_text("2")

    # Created anyway (over SMS), the refused recipients end rejected, never sent.
    page.get_by_test_id("bulk-compose").get_by_label("Channel").select_option("sms")
    expect(preflight_figure(page, "would-send")).to_have_text("2")
    page.get_by_role("button", name="Create job").click()
    progress = page.get_by_test_id("bulk-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=JOB_DONE)
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("2")
    expect(page.get_by_test_id("bulk-count-rejected")).to_have_text("2")
    page.locator("summary", has_text="Recipients").click()
    page.get_by_label("Recipient status").select_option("rejected")
    page.get_by_role("button", name="Show recipients").click()
    rows = page.get_by_test_id("bulk-recipients").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=no_consent["contactId"])).to_contain_text("OPT_IN_REQUIRED")
    expect(rows.filter(has_text=missing)).to_contain_text("CONTACT_NOT_FOUND")


def test_recipients_by_filter_get_a_live_count_from_the_preflight(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    """Needs the server's recipient filter (POST /api/bulk-jobs/preflight with recipients.filter)."""
    tag = f"Filtertag{uuid.uuid4().hex[:8]}"
    for i in range(3):
        create_contact(server, admin_token, name=f"{tag} In{i}", phone=unique_phone(), optInSms=True)
    create_contact(server, admin_token, name=f"{tag} Out", phone=unique_phone())
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose_sms(page, "Filtered hello.")
    page.get_by_role("radio", name="Contacts matching a search").check()
    expect(page.get_by_label("Contact ids or phone numbers")).to_be_hidden()
    box = page.get_by_label("Only contacts opted in to SMS")
    expect(box).to_be_checked()
    with page.expect_response(
        lambda r: r.url.endswith("/api/bulk-jobs/preflight") and tag in (r.request.post_data or "")
    ) as caught:
        page.get_by_label("Search text").fill(tag)
    answer = caught.value
    assert body_of(answer.request)["recipients"] == {"filter": {"q": tag, "optedIn": True}}
    assert answer.status == 200, f"the server must preflight recipients.filter: {answer.text()}"
    expect(preflight_figure(page, "total")).to_have_text("3")
    expect(preflight_figure(page, "would-send")).to_have_text("3")
    box.uncheck()
    expect(preflight_figure(page, "total")).to_have_text("4")
    expect(preflight_figure(page, "would-send")).to_have_text("3")
    expect(
        page.get_by_test_id("bulk-preflight-refused").locator("[data-reason='OPT_IN_REQUIRED']")
    ).to_contain_text("1 recipient")

    # The job takes the contacts the filter matches: the three opted in.
    box.check()
    expect(preflight_figure(page, "total")).to_have_text("3")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_test_id("bulk-create-outcome")).to_contain_text("Job created")
    expect(page.get_by_test_id("bulk-job-total")).to_have_text("3")
    expect(page.get_by_test_id("bulk-progress")).to_have_attribute(
        "data-status", "completed", timeout=JOB_DONE
    )
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("3")


def test_an_api_error_is_shown_not_swallowed(page: Page, server: Server, operator: str) -> None:
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose = page.get_by_test_id("bulk-compose")
    compose.get_by_label("Channel").select_option("email")
    page.get_by_label("Subject").fill("Hello")
    page.get_by_label("Text body").fill("Body")
    # A date past the 35 days a job may be scheduled ahead: the server's 422 message is shown.
    far = (datetime.now() + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Send at (optional)").fill(far)
    page.get_by_label("Contact ids or phone numbers").fill(f"ct_{uuid.uuid4().hex}")
    expect(page.get_by_test_id("bulk-resolved")).to_have_text("1 recipient.")
    page.get_by_role("button", name="Create job").click()
    outcome = page.get_by_test_id("bulk-create-outcome")
    expect(outcome.get_by_role("alert")).to_contain_text("The job was not created")
    expect(outcome).to_contain_text("sendAt may be at most 35 days ahead")
    expect(outcome).to_contain_text("INVALID_SEND_AT")
    # A form the page can tell is incomplete is not sent at all.
    page.get_by_label("Subject").fill("")
    expect(page.get_by_test_id("bulk-preflight-hint")).to_have_text("Give the e-mail a subject.")


# ------------------------------------------------------------------------------------------ controls


def test_pause_resume_and_cancel_a_running_job_from_the_page(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    contacts = sms_contacts(server, admin_token, 80, prefix="Control Person")
    sign_in(page, operator, PASSWORD)
    # 80 SMS at 5 a second: the job runs for about 16 s, long enough to control it.
    job = create_job_via_api(
        server,
        server.token(operator, PASSWORD),
        {
            "channel": "sms",
            "text": {"body": "A long-running job."},
            "recipients": {"contactIds": [c["contactId"] for c in contacts]},
            "name": "Long runner",
        },
    )
    open_bulk(page, f"#/bulk?job={job['jobId']}")
    progress = page.get_by_test_id("bulk-progress")
    expect(progress.get_by_role("heading", name="Job progress: Long runner")).to_be_visible()
    expect(page.get_by_test_id("bulk-resume")).to_be_hidden()
    expect(progress).to_have_attribute("data-status", re.compile(r"^(pending|running)$"))

    page.get_by_role("button", name="Pause").click()
    expect(progress).to_have_attribute("data-status", "paused")
    expect(page.get_by_test_id("bulk-pause-reason")).to_have_text("OPERATOR")
    expect(page.get_by_test_id("bulk-pause")).to_be_hidden()
    expect(page.get_by_test_id("bulk-resume")).to_be_visible()
    expect(page.get_by_test_id("bulk-resume")).to_be_focused()  # focus stays with the controls
    expect(page.get_by_test_id("bulk-cancel")).to_be_visible()
    paused_at = int(page.get_by_test_id("bulk-count-sent").inner_text())
    page.wait_for_timeout(2500)  # a paused job sends nothing more (one in-flight send may finish)
    assert int(page.get_by_test_id("bulk-count-sent").inner_text()) <= paused_at + 2

    page.get_by_role("button", name="Resume").click()
    expect(progress).to_have_attribute("data-status", re.compile(r"^(pending|running)$"))
    expect(page.get_by_test_id("bulk-pause")).to_be_visible()
    expect(page.get_by_test_id("bulk-resume")).to_be_hidden()
    # Progress moves on without a reload.
    page.evaluate("window.__marker = 'no reload'")
    expect(page.get_by_test_id("bulk-count-sent")).not_to_have_text(str(paused_at), timeout=10_000)

    page.get_by_role("button", name="Cancel job").click()
    page.get_by_role("button", name="Yes, cancel this job").click()
    expect(progress).to_have_attribute("data-status", re.compile(r"^(cancelling|cancelled)$"))
    expect(progress).to_have_attribute("data-status", "cancelled", timeout=15_000)
    for control in ("bulk-pause", "bulk-resume", "bulk-cancel"):
        expect(page.get_by_test_id(control)).to_be_hidden()
    cancelled = int(page.get_by_test_id("bulk-count-cancelled").inner_text())
    sent = int(page.get_by_test_id("bulk-count-sent").inner_text())
    assert cancelled > 0 and sent + cancelled == 80
    assert page.evaluate("window.__marker") == "no reload"
    stored = wait_for_job(server, admin_token, job["jobId"], {"cancelled"})
    assert stored["counts"]["cancelled"] == cancelled and stored["counts"]["sent"] == sent


def test_a_scheduled_job_is_created_from_the_page_and_cancelled(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    contacts = sms_contacts(server, admin_token, 2, prefix="Later Person")
    posts = bulk_posts(page)
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose_sms(page, "See you tomorrow.")
    page.get_by_label("Job name (optional)").fill("Tomorrow")
    page.get_by_label("Send at (optional)").fill(in_a_day_local())
    page.get_by_label("Contact ids or phone numbers").fill("\n".join(c["contactId"] for c in contacts))
    expect(preflight_figure(page, "would-send")).to_have_text("2")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_test_id("bulk-create-outcome")).to_contain_text("Job scheduled")
    send_at = body_of(posts[-1])["sendAt"]
    assert 23 * 3600 < send_at - time.time() < 25 * 3600

    progress = page.get_by_test_id("bulk-progress")
    expect(progress).to_have_attribute("data-status", "scheduled")
    expect(page.get_by_test_id("bulk-job-send-at")).not_to_be_empty()
    # Only cancel is valid for a scheduled job.
    expect(page.get_by_test_id("bulk-pause")).to_be_hidden()
    expect(page.get_by_test_id("bulk-resume")).to_be_hidden()
    page.get_by_role("button", name="Cancel job").click()
    page.get_by_role("button", name="Keep it running").click()
    expect(progress).to_have_attribute("data-status", "scheduled")
    page.get_by_role("button", name="Cancel job").click()
    page.get_by_role("button", name="Yes, cancel this job").click()
    expect(progress).to_have_attribute("data-status", "cancelled", timeout=15_000)
    expect(page.get_by_test_id("bulk-count-cancelled")).to_have_text("2")
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("0")
    expect(page.get_by_test_id("bulk-cancel")).to_be_hidden()
    job_id = page.get_by_test_id("bulk-created-job-id").inner_text()
    expect(page.get_by_test_id("bulk-history").locator(f"tr[data-job-id='{job_id}']")).to_contain_text(
        "cancelled"
    )


def test_the_report_downloads_as_csv_and_json(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    """Needs GET /api/bulk-jobs/{id}/report?format=csv|json on the server."""
    contacts = sms_contacts(server, admin_token, 2, prefix="Report Person")
    job = create_job_via_api(
        server,
        admin_token,
        {
            "channel": "sms",
            "text": {"body": "Report me."},
            "recipients": {"contactIds": [c["contactId"] for c in contacts]},
        },
    )
    wait_for_job(server, admin_token, job["jobId"], {"completed"})
    with server.api(admin_token) as client:
        probe = client.get(f"/api/bulk-jobs/{job['jobId']}/report", params={"format": "csv"})
    assert probe.status_code == 200, f"the server must answer GET /api/bulk-jobs/{{id}}/report: {probe.text}"
    sign_in(page, operator, PASSWORD)
    open_bulk(page, f"#/bulk?job={job['jobId']}")
    expect(page.get_by_test_id("bulk-progress")).to_have_attribute("data-status", "completed")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download CSV report").click()
    text = Path(caught.value.path()).read_text(encoding="utf-8")
    for contact in contacts:
        assert contact["contactId"] in text
    expect(page.locator("main")).to_contain_text("Report saved as")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download JSON report").click()
    assert job["jobId"] in Path(caught.value.path()).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- roles


def test_a_viewer_sees_the_jobs_and_progress_but_no_compose_form_or_controls(
    page: Page, server: Server, admin_token: str, viewer: str, console: Console
) -> None:
    console.allow(403)  # the API's refusal of the viewer's own cancel request, probed below
    contacts = sms_contacts(server, admin_token, 2, prefix="Viewer Seen")
    ids = [c["contactId"] for c in contacts]
    done = create_job_via_api(
        server,
        admin_token,
        {
            "channel": "sms",
            "text": {"body": "Done job."},
            "recipients": {"contactIds": ids},
            "name": "Viewer done",
        },
    )
    later = create_job_via_api(
        server,
        admin_token,
        {
            "channel": "sms",
            "text": {"body": "Later job."},
            "recipients": {"contactIds": ids},
            "name": "Viewer later",
            "sendAt": int(time.time()) + 86400,
        },
    )
    assert later["status"] == "scheduled"
    wait_for_job(server, admin_token, done["jobId"], {"completed"})

    sign_in(page, viewer, PASSWORD)
    page.locator("#nav").get_by_role("link", name="Bulk Messaging").click()
    expect(page.locator("[data-page-title]")).to_have_text("Bulk Messaging")
    expect(page.locator("#nav").get_by_role("link", name="Bulk Messaging")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_test_id("bulk-compose")).to_have_count(0)
    expect(page.get_by_role("button", name="Create job")).to_have_count(0)
    expect(page.locator("main")).to_contain_text(
        "Your role can follow bulk jobs but not create or control them."
    )

    history = page.get_by_test_id("bulk-history")
    expect(history.locator(f"tr[data-job-id='{done['jobId']}']")).to_contain_text("completed")
    expect(history.locator(f"tr[data-job-id='{later['jobId']}']")).to_contain_text("scheduled")

    history.get_by_role("link", name="Viewer later").click()
    progress = page.get_by_test_id("bulk-progress")
    expect(progress.get_by_role("heading", name="Job progress: Viewer later")).to_be_focused()
    expect(progress).to_have_attribute("data-status", "scheduled")
    for control in ("bulk-pause", "bulk-resume", "bulk-cancel", "bulk-cancel-confirm"):
        expect(page.get_by_test_id(control)).to_have_count(0)
    expect(page.get_by_role("button", name="Download CSV report")).to_be_visible()

    history.get_by_role("link", name="Viewer done").click()
    expect(progress.get_by_role("heading", name="Job progress: Viewer done")).to_be_visible()
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("2")
    expect(page.get_by_test_id("bulk-overall")).to_have_text("2 of 2 recipients done.")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)

    # The page offers nothing; the API refuses anyway.
    status = page.evaluate(
        """async (id) => {
        const r = await fetch('/api/bulk-jobs/' + id + '/cancel', {method: 'POST', headers: {
            Authorization: 'Bearer ' + sessionStorage.getItem('wecare.accessToken')}});
        return r.status;
    }""",
        later["jobId"],
    )
    assert status == 403
    with server.api(admin_token) as client:
        assert client.get(f"/api/bulk-jobs/{later['jobId']}").json()["job"]["status"] == "scheduled"


# ------------------------------------------------------------------------------- errors, small screens


def test_every_part_of_the_page_renders_without_errors_and_fits_320px(
    browser: Browser, server: Server, admin_token: str, operator: str
) -> None:
    contacts = sms_contacts(server, admin_token, 1, prefix="Narrow Person With A Rather Long Name")
    job = create_job_via_api(
        server,
        admin_token,
        {
            "channel": "sms",
            "text": {"body": "Narrow."},
            "recipients": {"contactIds": [contacts[0]["contactId"]]},
            "name": "A bulk job name long enough to wrap on the narrowest supported screen",
        },
    )
    wait_for_job(server, admin_token, job["jobId"], {"completed"})
    context, page = new_page(browser, server, MOBILE)
    errors, console = PageErrors(page), Console().watch(page)
    try:
        sign_in(page, operator, PASSWORD)
        open_bulk(page, f"#/bulk?job={job['jobId']}")
        expect(page.get_by_test_id("bulk-progress")).to_have_attribute("data-status", "completed")
        compose = page.get_by_test_id("bulk-compose")
        for channel in ("whatsapp", "sms", "email"):
            compose.get_by_label("Channel").select_option(channel)
            assert page.evaluate("document.documentElement.scrollWidth") <= 320, channel
        compose.get_by_label("Channel").select_option("whatsapp")
        page.get_by_role("radio", name="Template").check()
        expect(page.get_by_label("Template name")).to_be_visible()
        expect(page.get_by_label("Message", exact=True)).to_be_hidden()
        page.get_by_label("Contact ids or phone numbers").fill(contacts[0]["contactId"])
        expect(page.get_by_test_id("bulk-preflight-hint")).to_have_text("Give the template name.")
        page.get_by_role("radio", name="Contacts matching a search").check()
        page.locator("summary", has_text="Recipients").click()
        expect(page.get_by_test_id("bulk-recipients").locator("tbody tr")).to_have_count(1)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"the bulk page scrolls sideways: {width}px"
        # Every input has a label (its own <label>, or aria-label).
        unlabelled = page.evaluate("""() => [
            ...document.querySelectorAll('main input, main select, main textarea')
        ].filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
         .map((el) => el.name || el.type)""")
        assert unlabelled == []
    finally:
        context.close()
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"
    assert console.errors == [], f"console errors: {console.errors}"


def test_a_whatsapp_job_can_be_sent_from_all_numbers_alternating(
    page: Page, server: Server, admin_token: str, operator: str
) -> None:
    contacts = [
        create_contact(
            server, admin_token, name=f"Both Numbers {i}", phone=unique_phone(), optInWhatsApp=True
        )
        for i in range(4)
    ]
    posts = bulk_posts(page)
    sign_in(page, operator, PASSWORD)
    open_bulk(page)
    compose = page.get_by_test_id("bulk-compose")
    compose.get_by_label("Channel").select_option("whatsapp")
    page.get_by_role("radio", name="Template").check()
    page.get_by_label("Template name").fill("appointment_reminder")
    sender = compose.get_by_label("From WhatsApp number")
    options = sender.locator("option")
    all_numbers = options.filter(has_text="All 2 numbers")
    expect(all_numbers).to_have_count(1)
    sender.select_option(all_numbers.get_attribute("value") or "")
    page.get_by_label("Contact ids or phone numbers").fill("\n".join(c["contactId"] for c in contacts))
    expect(preflight_figure(page, "would-send")).to_have_text("4")
    page.get_by_role("button", name="Create job").click()
    progress = page.get_by_test_id("bulk-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=JOB_DONE)
    expect(page.get_by_test_id("bulk-count-sent")).to_have_text("4")
    sent = body_of(posts[-1])
    numbers = sent["phoneNumberIds"]
    assert len(numbers) == 2 and len(set(numbers)) == 2 and "phoneNumberId" not in sent
    job_id = page.get_by_test_id("bulk-created-job-id").inner_text()
    with server.api(admin_token) as client:
        recipients = client.get(f"/api/bulk-jobs/{job_id}/recipients").json()["items"]
    # Each recipient was sent from its own, alternating number.
    assert sorted(r["phoneNumberId"] for r in recipients) == sorted(numbers * 2)
