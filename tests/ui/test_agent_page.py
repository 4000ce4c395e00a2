"""The Agent page (#/agent) and the inline suggestion of the DM thread, in a real headless Chromium
against `wecare serve` (DRY_RUN, the embedded ``ai-suggest`` worker running over the sample documents).

An Admin switches automation on from the page; an inbound WhatsApp message gets a cited suggestion from
the worker; an operator edits and approves it and sees the gateway's outcome; rejects and rates others;
an approval outside the 24-hour window shows the refusal's reason code; a Viewer reads suggestions
without controls; the DM conversation shows the pending suggestion and approves it; 320 px screens fit.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from tests.ui.harness import DESKTOP, MOBILE, PageErrors, Server, create_contact, new_page, sign_in

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eum"
PASSWORD = "a long passphrase for the agent tests"
SUGGESTION_WAIT = 20.0  # s: the worker polls ai-queue every 0.5 s; a local draft takes milliseconds
REJECT_REASON = "Out of date: the customer moved on"
COMMENT = "Too generic for a card question"

_numbers = iter(range(100, 999))


def unique_phone() -> str:
    # +1 415 555 3xxx: valid numbers, unique within this module's server.
    return f"+14155553{next(_numbers):03d}"


class Console:
    """Console errors of a page: every API call these journeys make is expected to succeed."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._on)

    def _on(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def _page(browser: Browser, server: Server, viewport: dict[str, int]) -> Iterator[Page]:
    context, opened = new_page(browser, server, viewport)
    errors, console = PageErrors(opened), Console(opened)
    yield opened
    context.close()
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"
    assert console.errors == [], f"console errors: {console.errors}"


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    yield from _page(browser, server, DESKTOP)


@pytest.fixture
def small(browser: Browser, server: Server) -> Iterator[Page]:
    yield from _page(browser, server, MOBILE)


@pytest.fixture(scope="module")
def admin_token(server: Server) -> str:
    return server.token()


@pytest.fixture(scope="module")
def operator(server: Server, admin_token: str) -> str:
    return server.add_user(admin_token, "Operator", PASSWORD)


@pytest.fixture(scope="module")
def viewer(server: Server, admin_token: str) -> str:
    return server.add_user(admin_token, "Viewer", PASSWORD)


def set_automation(server: Server, token: str, on: bool) -> None:
    with server.api(token) as client:
        reply = client.put("/api/config/ai.enabled", json={"value": on})
    assert reply.status_code == 200, reply.text


def automation(server: Server, token: str) -> bool:
    with server.api(token) as client:
        items = client.get("/api/config").json()["items"]
    return {i["key"]: i["value"] for i in items}["ai.enabled"] is True


@pytest.fixture
def automation_off(server: Server, admin_token: str) -> None:
    """Suggestions only on demand: each test makes exactly the ones it looks at."""
    set_automation(server, admin_token, False)


def whatsapp_contact(server: Server, token: str, name: str) -> dict[str, Any]:
    return create_contact(server, token, name=name, phone=unique_phone(), optInWhatsApp=True)


def receive(server: Server, tmp_path: Path, contact: dict[str, Any], text: str, age: float = 60) -> int:
    """An inbound WhatsApp text from the contact, ``age`` seconds old, through `wecare inbound ingest`."""
    at = int(time.time() - age)
    event = json.loads((FIXTURES / "eum-inbound-text.sns-lambda.json").read_text())
    sns = event["Records"][0]["Sns"]
    body = json.loads(sns["Message"])
    entry = json.loads(body["whatsAppWebhookEntry"])
    value = entry["changes"][0]["value"]
    digits = contact["phone"].lstrip("+")
    value["contacts"][0]["wa_id"] = digits
    value["messages"][0].update(
        {
            "from": digits,
            "id": f"wamid.agent-{uuid.uuid4().hex}",
            "timestamp": str(at),
            "text": {"body": text},
        }
    )
    body["whatsAppWebhookEntry"] = json.dumps(entry)
    sns["Message"] = json.dumps(body)
    sns["MessageId"] = str(uuid.uuid4())
    path = tmp_path / f"inbound-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(event))
    assert "1 stored" in server.ingest(path)
    return at


def ask(server: Server, token: str, contact: dict[str, Any]) -> dict[str, Any]:
    """POST /api/ai/suggestions for the contact's newest inbound message."""
    with server.api(token) as client:
        reply = client.post("/api/ai/suggestions", json={"contactId": contact["contactId"]})
    assert reply.status_code == 201, reply.text
    made: dict[str, Any] = reply.json()["suggestion"]
    assert made["status"] == "pending", made
    return made


def suggestion(server: Server, token: str, interaction_id: str) -> dict[str, Any]:
    with server.api(token) as client:
        reply = client.get(f"/api/ai/suggestions/{interaction_id}")
    assert reply.status_code == 200, reply.text
    out: dict[str, Any] = reply.json()["suggestion"]
    return out


def stats(server: Server, token: str) -> dict[str, int]:
    with server.api(token) as client:
        out: dict[str, int] = client.get("/api/ai/stats").json()["overall"]
    return out


def open_agent(page: Page, hash_path: str = "#/agent") -> None:
    page.evaluate("(h) => { location.hash = h; }", hash_path)
    expect(page.locator("[data-page-title]")).to_have_text("Agent")


def card(scope: Page | Locator, interaction_id: str) -> Locator:
    return scope.locator(f"article[data-interaction-id='{interaction_id}']")


def button(scope: Locator, name: str) -> Locator:
    return scope.get_by_role("button", name=name, exact=True)


# ------------------------------------------------------------------ automation → suggestion → approval


@pytest.fixture
def automation_reset(server: Server, admin_token: str) -> Iterator[None]:
    set_automation(server, admin_token, False)
    yield
    set_automation(server, admin_token, False)


def test_an_admin_turns_ai_on_and_an_edited_approval_is_sent_through_the_gateway(  # noqa: PLR0915 - one journey: switch, suggestion, edit, approval, outcome
    *, page: Page, server: Server, admin_token: str, tmp_path: Path, shots: Path, automation_reset: None
) -> None:
    sign_in(page, server.email, server.password)
    open_agent(page)
    state = page.get_by_test_id("ai-enabled")
    expect(state).to_have_attribute("data-enabled", "false")
    expect(state).to_contain_text("Off")
    page.get_by_role("button", name="Turn automatic suggestions on").click()
    expect(state).to_have_attribute("data-enabled", "true")
    expect(page.get_by_test_id("ai-automation")).to_contain_text("Automatic suggestions are now on.")
    assert automation(server, admin_token) is True

    contact = whatsapp_contact(server, admin_token, "Agent Journey")
    question = "What are your opening hours on Saturday?"
    receive(server, tmp_path, contact, question)
    # The embedded worker makes the suggestion off the inbound path: wait for it, bounded.
    deadline = time.monotonic() + SUGGESTION_WAIT
    made: list[dict[str, Any]] = []
    with server.api(admin_token) as client:
        while not made and time.monotonic() < deadline:
            made = client.get(
                "/api/ai/suggestions", params={"contactId": contact["contactId"], "status": "pending"}
            ).json()["items"]
            time.sleep(0.25)
    assert made, f"no suggestion within {SUGGESTION_WAIT:.0f} s"
    (item,) = made
    assert item["requestedBy"] == "system:inbound"

    page.get_by_role("button", name="Refresh").click()
    shown = card(page.get_by_test_id("ai-suggestion-list"), item["interactionId"])
    expect(shown).to_be_visible()
    expect(shown.get_by_role("heading", name="Agent Journey")).to_be_visible()
    expect(shown.get_by_test_id("suggestion-status")).to_have_text("pending")
    expect(shown).to_contain_text("made automatically when the message arrived")
    expect(shown.get_by_test_id("suggestion-inbound")).to_have_text(question)
    expect(shown.get_by_test_id("suggestion-reply")).to_have_text(item["response"])
    citations = shown.get_by_test_id("suggestion-citation")
    expect(citations.first).to_contain_text("opening-hours.md")
    passage = citations.first.locator(".citation-passage").inner_text()
    assert len(passage) > 20 and passage.rstrip("…")[:20] in item["citations"][0]["text"]
    window = shown.get_by_test_id("suggestion-window")
    expect(window).to_have_attribute("data-open", "true")
    expect(window).to_contain_text("Window open until")
    expect(shown.get_by_test_id("suggestion-stale")).to_have_count(0)

    # The house style holds on the new page: black 13 px buttons, Helvetica Light.
    page.mouse.move(0, 0)  # no button under the pointer (hover is #222)
    looks = page.evaluate("""() => [...document.querySelectorAll(
            'main button, main h1, main h2, main h3, main p')]
        .filter((el) => el.getClientRects().length > 0).map((el) => {
            const s = getComputedStyle(el);
            return {tag: el.tagName, bg: s.backgroundColor, radius: s.borderTopLeftRadius,
                    weight: s.fontWeight, font: s.fontFamily};
        })""")
    assert any(look["tag"] == "BUTTON" for look in looks)
    for look in looks:
        assert look["weight"] == "300" and "Helvetica" in look["font"], look
        if look["tag"] == "BUTTON":
            assert look["bg"] == "rgb(0, 0, 0)" and look["radius"] == "13px", look

    edited = "We are open on Saturday from 10:00 to 16:00. See you then!"
    button(shown, "Edit and approve").click()
    reply_box = shown.get_by_label("Reply to send")
    expect(reply_box).to_be_focused()
    expect(reply_box).to_have_value(item["response"])
    reply_box.fill(edited)
    page.screenshot(path=str(shots / "desktop-agent-edit.png"), full_page=True)
    button(shown, "Approve and send edited reply").click()

    # The card leaves the pending list and shows the gateway's outcome.
    handled = card(page.get_by_test_id("ai-handled-list"), item["interactionId"])
    outcome = handled.get_by_test_id("suggestion-outcome")
    expect(outcome).to_contain_text("Sent")
    expect(outcome).to_contain_text("DRY_RUN")
    expect(outcome.get_by_test_id("suggestion-send-status")).to_have_text("sent")
    message_id = outcome.locator("[data-message-id]").inner_text()
    assert message_id.startswith("msg_ai_")
    expect(outcome).to_be_focused()
    expect(handled.get_by_test_id("suggestion-status")).to_have_text("approved")
    expect(handled.get_by_test_id("suggestion-sent-text")).to_have_text(edited)
    expect(card(page.get_by_test_id("ai-suggestion-list"), item["interactionId"])).to_have_count(0)
    expect(handled.get_by_role("button", name="Approve and send", exact=True)).to_have_count(0)
    page.screenshot(path=str(shots / "desktop-agent-approved.png"), full_page=True)

    approved = suggestion(server, admin_token, item["interactionId"])
    assert approved["status"] == "approved" and approved["edited"] is True
    assert approved["sentText"] == edited and approved["originalText"] == item["response"]
    assert approved["send"]["messageId"] == message_id and approved["send"]["status"] == "sent"
    assert approved["send"]["sendMode"] == "DRY_RUN"
    with server.api(admin_token) as client:
        message = client.get(f"/api/messages/{message_id}").json()
    assert message["content"]["body"] == edited and message["origin"] == "ai"
    expect(page.get_by_test_id("ai-stat-edited")).to_have_text(str(stats(server, admin_token)["edited"]))

    page.get_by_role("button", name="Turn automatic suggestions off").click()
    expect(state).to_have_attribute("data-enabled", "false")
    assert automation(server, admin_token) is False


# ---------------------------------------------------------------------- stale, reject and feedback


def test_a_stale_suggestion_is_marked_one_is_rejected_and_another_rated(
    *, page: Page, server: Server, admin_token: str, operator: str, tmp_path: Path, automation_off: None
) -> None:
    contact = whatsapp_contact(server, admin_token, "Stale Sam")
    receive(server, tmp_path, contact, "How do refunds work?", age=300)
    older = ask(server, admin_token, contact)
    receive(server, tmp_path, contact, "Never mind the refund — can I pay by card?", age=60)
    newer = ask(server, admin_token, contact)
    assert suggestion(server, admin_token, older["interactionId"])["stale"] is True

    sign_in(page, operator, PASSWORD)
    open_agent(page)
    pending = page.get_by_test_id("ai-suggestion-list")
    old_card, new_card = card(pending, older["interactionId"]), card(pending, newer["interactionId"])
    # Newest first.
    ids = pending.locator("article").evaluate_all("(cards) => cards.map((c) => c.dataset.interactionId)")
    assert ids.index(newer["interactionId"]) < ids.index(older["interactionId"])
    expect(old_card.get_by_test_id("suggestion-badges")).to_contain_text("stale")
    expect(old_card.get_by_test_id("suggestion-stale")).to_contain_text("answers an earlier message")
    expect(new_card.get_by_test_id("suggestion-stale")).to_have_count(0)
    expect(new_card.get_by_test_id("suggestion-inbound")).to_have_text(
        "Never mind the refund — can I pay by card?"
    )
    # An operator sees no automation switch; that is an Admin's.
    expect(page.get_by_test_id("ai-toggle")).to_have_count(0)

    button(old_card, "Reject").click()
    old_card.get_by_label("Why reject it? (optional)").fill(REJECT_REASON)
    button(old_card, "Reject suggestion").click()
    handled = card(page.get_by_test_id("ai-handled-list"), older["interactionId"])
    expect(handled.get_by_test_id("suggestion-outcome")).to_contain_text("Rejected")
    expect(handled.get_by_test_id("suggestion-status")).to_have_text("rejected")
    expect(handled.get_by_test_id("suggestion-rejection")).to_contain_text(REJECT_REASON)
    expect(old_card).to_have_count(0)

    new_card.get_by_text("Rate this suggestion").click()
    new_card.get_by_role("radio", name="Bad").check()
    new_card.get_by_label("Comment (optional)").fill(COMMENT)
    button(new_card, "Send feedback").click()
    expect(new_card.get_by_test_id("suggestion-outcome")).to_contain_text("Feedback saved")
    expect(new_card.get_by_test_id("suggestion-badges")).to_contain_text("rated bad")
    expect(new_card.get_by_test_id("suggestion-status")).to_have_text("pending")  # still waiting

    rejected = suggestion(server, admin_token, older["interactionId"])
    assert rejected["status"] == "rejected" and rejected["rejectReason"] == REJECT_REASON
    rated = suggestion(server, admin_token, newer["interactionId"])
    assert rated["status"] == "pending"
    assert rated["feedback"]["rating"] == "bad" and rated["feedback"]["comment"] == COMMENT
    figures = stats(server, admin_token)
    expect(page.get_by_test_id("ai-stat-ratedBad")).to_have_text(str(figures["ratedBad"]))
    expect(page.get_by_test_id("ai-stat-rejected")).to_have_text(str(figures["rejected"]))

    page.get_by_label("Status").select_option("rejected")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(card(page.get_by_test_id("ai-suggestion-list"), older["interactionId"])).to_be_visible()
    assert page.evaluate("location.hash") == "#/agent?status=rejected"


# ---------------------------------------------------------------------------- outside the window


def test_outside_the_24_hour_window_an_approval_shows_template_required(
    *,
    page: Page,
    server: Server,
    admin_token: str,
    operator: str,
    tmp_path: Path,
    shots: Path,
    automation_off: None,
) -> None:
    contact = whatsapp_contact(server, admin_token, "Late Larry")
    receive(server, tmp_path, contact, "Do you deliver on Sundays?", age=30 * 3600)
    made = ask(server, admin_token, contact)

    sign_in(page, operator, PASSWORD)
    open_agent(page)
    shown = card(page.get_by_test_id("ai-suggestion-list"), made["interactionId"])
    window = shown.get_by_test_id("suggestion-window")
    expect(window).to_have_attribute("data-open", "false")
    expect(window).to_contain_text("Closed — templates only")
    expect(shown).to_contain_text("Outside the 24-hour window")
    button(shown, "Approve and send").click()

    outcome = card(page, made["interactionId"]).get_by_test_id("suggestion-outcome")
    expect(outcome).to_contain_text("Not sent — refused by policy")
    reason = outcome.locator("[data-reason='TEMPLATE_REQUIRED']")
    expect(reason).to_contain_text("TEMPLATE_REQUIRED")
    # The stored decision's human message joins the code.
    expect(reason).not_to_have_text("TEMPLATE_REQUIRED")
    expect(outcome.get_by_test_id("suggestion-send-status")).to_have_text("rejected")
    page.screenshot(path=str(shots / "desktop-agent-refused.png"), full_page=True)

    after = suggestion(server, admin_token, made["interactionId"])
    assert after["status"] == "approved"
    assert after["send"]["status"] == "rejected" and after["send"]["reasons"] == ["TEMPLATE_REQUIRED"]


# ----------------------------------------------------------------------------------------- roles


def test_a_viewer_sees_suggestions_but_no_controls(
    *,
    page: Page,
    server: Server,
    admin_token: str,
    viewer: str,
    tmp_path: Path,
    shots: Path,
    automation_off: None,
) -> None:
    contact = whatsapp_contact(server, admin_token, "Viewed Vera")
    receive(server, tmp_path, contact, "Can I book an appointment for Monday?")
    made = ask(server, admin_token, contact)

    sign_in(page, viewer, PASSWORD)
    open_agent(page)
    expect(page.locator("main")).to_contain_text("Your role can read suggestions but not approve")
    shown = card(page.get_by_test_id("ai-suggestion-list"), made["interactionId"])
    expect(shown.get_by_test_id("suggestion-inbound")).to_have_text("Can I book an appointment for Monday?")
    expect(shown.get_by_test_id("suggestion-reply")).to_have_text(made["response"])
    expect(shown.get_by_test_id("suggestion-citation").first).to_contain_text("appointments.md")
    expect(shown.get_by_test_id("suggestion-window")).to_contain_text("Window open until")
    expect(shown.get_by_role("button")).to_have_count(0)
    expect(shown.locator("form, textarea, input, details")).to_have_count(0)
    expect(page.get_by_test_id("ai-toggle")).to_have_count(0)
    # The automation state is shown (read from GET /api/ai/stats), without the switch.
    expect(page.get_by_test_id("ai-automation")).to_contain_text("Only an Admin can switch this")
    expect(page.get_by_test_id("ai-enabled")).to_have_attribute("data-enabled", "false")
    expect(page.get_by_test_id("ai-stats")).to_be_visible()  # the quality figures are for everyone
    page.screenshot(path=str(shots / "desktop-agent-viewer.png"), full_page=True)

    page.evaluate("(h) => { location.hash = h; }", f"#/dm/{contact['contactId']}")
    inline = page.get_by_test_id("dm-suggestion")
    expect(card(inline, made["interactionId"])).to_be_visible()
    expect(inline.get_by_role("button")).to_have_count(0)

    # The API is the real guard.
    with server.api(server.token(viewer, PASSWORD)) as client:
        assert client.post(f"/api/ai/suggestions/{made['interactionId']}/approve").status_code == 403
    assert suggestion(server, admin_token, made["interactionId"])["status"] == "pending"


# -------------------------------------------------------------------------------------- DM thread


def test_the_dm_thread_shows_the_pending_suggestion_and_approves_it(
    *,
    page: Page,
    server: Server,
    admin_token: str,
    operator: str,
    tmp_path: Path,
    shots: Path,
    automation_off: None,
) -> None:
    contact = whatsapp_contact(server, admin_token, "Thread Theo")
    receive(server, tmp_path, contact, "How do refunds work for a damaged parcel?")
    made = ask(server, admin_token, contact)

    sign_in(page, operator, PASSWORD)
    page.evaluate("(h) => { location.hash = h; }", f"#/dm/{contact['contactId']}")
    expect(page.locator("[data-page-title]")).to_have_text("Thread Theo")
    inline = page.get_by_test_id("dm-suggestion")
    shown = card(inline, made["interactionId"])
    expect(shown.get_by_test_id("suggestion-inbound")).to_have_text(
        "How do refunds work for a damaged parcel?"
    )
    expect(shown.get_by_test_id("suggestion-reply")).to_have_text(made["response"])
    expect(shown.get_by_test_id("suggestion-citation").first).to_contain_text("payments-and-refunds.md")
    page.screenshot(path=str(shots / "desktop-dm-suggestion.png"), full_page=True)
    button(shown, "Approve and send").click()

    outcome = shown.get_by_test_id("suggestion-outcome")
    expect(outcome).to_contain_text("Sent")
    expect(outcome.get_by_test_id("suggestion-send-status")).to_have_text("sent")
    message_id = outcome.locator("[data-message-id]").inner_text()
    # The conversation below reloads with the reply that went out.
    sent = page.locator(f".conversation > li.outbound[data-message-id='{message_id}']")
    expect(sent).to_be_visible()
    first_line = made["response"].splitlines()[0]
    expect(sent).to_contain_text(first_line)
    after = suggestion(server, admin_token, made["interactionId"])
    assert after["status"] == "approved" and after["edited"] is False
    assert after["send"]["messageId"] == message_id

    # Nothing pending any more: the operator asks for a fresh suggestion from the thread.
    page.reload()
    expect(inline).to_contain_text("No suggested reply is waiting")
    button(inline, "Ask for a suggestion").click()
    fresh = inline.locator("article[data-status='pending']")
    expect(fresh).to_be_visible()
    expect(fresh.get_by_role("heading", name="Waiting for approval")).to_be_focused()
    fresh_id = fresh.get_attribute("data-interaction-id")
    assert fresh_id and fresh_id != made["interactionId"]
    asked = suggestion(server, admin_token, fresh_id)
    assert asked["status"] == "pending" and asked["contactId"] == contact["contactId"]
    assert asked["requestedBy"] != "system:inbound"


# ---------------------------------------------------------------------------------- small screens


def test_the_agent_page_and_the_inline_suggestion_fit_a_320px_screen(
    *, small: Page, server: Server, admin_token: str, tmp_path: Path, shots: Path, automation_off: None
) -> None:
    contact = whatsapp_contact(server, admin_token, "Maximiliana Featherstonehaugh-Cholmondeley")
    receive(
        server,
        tmp_path,
        contact,
        "Hello! Could you tell me your opening hours on public holidays and whether "
        "https://example.com/a/very/long/path/without/any/spaces/at/all/for/narrow/screens works?",
    )
    made = ask(server, admin_token, contact)

    page = small
    sign_in(page, server.email, server.password)
    open_agent(page)
    expect(card(page, made["interactionId"])).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    shown = card(page, made["interactionId"])
    button(shown, "Edit and approve").click()
    expect(shown.get_by_label("Reply to send")).to_be_visible()
    shown.get_by_text("Rate this suggestion").click()
    page.get_by_test_id("ai-stats").get_by_text(re.compile(r"^Per document")).click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.screenshot(path=str(shots / "mobile-agent.png"), full_page=True)

    page.evaluate("(h) => { location.hash = h; }", f"#/dm/{contact['contactId']}")
    expect(card(page.get_by_test_id("dm-suggestion"), made["interactionId"])).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.screenshot(path=str(shots / "mobile-dm-suggestion.png"), full_page=True)
