"""The DM inbox (#/dm) and chat thread (#/dm/<id>) in a real headless Chromium against `wecare serve`.

Requirement 12 "DM (WhatsApp/SMS/SES)" and 16.9: the conversation list (newest first, previews, unread
markers, channels, the window, filters and search), the thread (oldest at the top, inbound left and
outbound right, delivery ticks, failures with a Retry, long messages collapsed, media as file chips),
the composer (the window's countdown, the template picker outside the window, media attachments,
Enter / Shift+Enter, a refusal keeping the text) and live updates by polling with ETags: inbound
messages and delivery statuses arrive through `wecare inbound ingest` (the captured EUM events,
re-addressed) while the page stays loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

from tests.ui.harness import Server, create_contact, sent_message_bodies, sign_in

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eum"
PASSWORD = "a long passphrase for the inbox tests"
LIVE = 15_000  # ms: a poll (3 s thread, 5 s list) plus a loaded machine's slack
READ_BLUE = "rgb(11, 87, 208)"
SAMPLE_TEMPLATE = {
    "name": "inbox_test_update",
    "language": "en_US",
    "body": "Hello {{1}}, your order {{2}} has shipped.",
}

_numbers = iter(range(100, 999))


def unique_phone() -> str:
    # +1 415 555 4xxx: valid numbers, never a real subscriber; unique within this module's server.
    return f"+14155554{next(_numbers):03d}"


def unique_name(stem: str) -> str:
    return f"{stem} {uuid.uuid4().hex[:6]}"


# ------------------------------------------------------------------------------------------- helpers


def _event(tmp_path: Path, fixture: str, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> Path:
    """A captured SNS event with its WhatsApp entry changed by ``change(envelope, value)``."""
    event = json.loads((FIXTURES / fixture).read_text())
    sns = event["Records"][0]["Sns"]
    envelope = json.loads(sns["Message"])
    entry = json.loads(envelope["whatsAppWebhookEntry"])
    change(envelope, entry["changes"][0]["value"])
    envelope["whatsAppWebhookEntry"] = json.dumps(entry)
    sns["Message"] = json.dumps(envelope)
    sns["MessageId"] = str(uuid.uuid4())
    path = tmp_path / f"event-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(event))
    return path


def receive(server: Server, tmp_path: Path, phone: str, text: str, age: float = 60) -> None:
    """An inbound WhatsApp text from ``phone``, ``age`` seconds old."""
    digits = phone.lstrip("+")

    def change(_envelope: dict[str, Any], value: dict[str, Any]) -> None:
        value["contacts"][0]["wa_id"] = digits
        value["messages"][0].update(
            {
                "from": digits,
                "id": f"wamid.inbox-{uuid.uuid4().hex}",
                "timestamp": str(int(time.time() - age)),
                "text": {"body": text},
            }
        )

    assert "1 stored" in server.ingest(_event(tmp_path, "eum-inbound-text.sns-lambda.json", change))


def receive_image(server: Server, tmp_path: Path, phone: str, caption: str) -> None:
    digits = phone.lstrip("+")

    def change(_envelope: dict[str, Any], value: dict[str, Any]) -> None:
        value["contacts"][0]["wa_id"] = digits
        message = value["messages"][0]
        message.update(
            {"from": digits, "id": f"wamid.inbox-{uuid.uuid4().hex}", "timestamp": str(int(time.time()) - 30)}
        )
        message["image"]["caption"] = caption

    assert "1 stored" in server.ingest(_event(tmp_path, "eum-inbound-image.sns-lambda.json", change))


def report_status(server: Server, tmp_path: Path, whatsapp_message_id: str, status: str) -> None:
    """A delivery status (delivered, read, failed) for the outbound message with this WhatsApp id."""
    fixture = {
        "delivered": "eum-status-delivered.sns-lambda.json",
        "read": "eum-status-read.sns-lambda.json",
        "failed": "eum-status-failed-131047.sns-lambda.json",
    }[status]

    def change(envelope: dict[str, Any], value: dict[str, Any]) -> None:
        envelope["messageId"] = whatsapp_message_id  # the id SendWhatsAppMessage answered
        value["statuses"][0].update(
            {"id": f"wamid.status-{uuid.uuid4().hex}", "timestamp": str(int(time.time()))}
        )

    out = server.ingest(_event(tmp_path, fixture, change))
    assert "1 status" in out, out


def send(server: Server, token: str, body: dict[str, Any]) -> dict[str, Any]:
    with server.api(token) as client:
        reply = client.post("/api/messages", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert reply.status_code == 201, reply.text
    message: dict[str, Any] = reply.json()["message"]
    return message


def conversation_row(server: Server, token: str, contact_id: str) -> dict[str, Any]:
    with server.api(token) as client:
        reply = client.get("/api/conversations", params={"limit": 100})
    assert reply.status_code == 200, reply.text
    rows = [r for r in reply.json()["items"] if r["contactId"] == contact_id]
    assert rows, f"no conversation for {contact_id}"
    row: dict[str, Any] = rows[0]
    return row


def open_hash(page: Page, hash_path: str, title: str) -> None:
    page.evaluate("(h) => { location.hash = h; }", hash_path)
    expect(page.locator("[data-page-title]")).to_have_text(title)


def mark_document(page: Page) -> None:
    """A flag on the window: still there later means the page was never reloaded."""
    page.evaluate("window.__inboxNoReload = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__inboxNoReload === true") is True


def row(page: Page, contact_id: str) -> Locator:
    return page.locator(f"li.inbox-row[data-contact-id='{contact_id}']")


def bubbles(page: Page) -> Locator:
    return page.locator(".conversation > li")


def tiny_png() -> bytes:
    """A valid 1x1 PNG (the DRY_RUN driver checks the file's signature and type)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def admin_token(server: Server) -> str:
    return server.token()


@pytest.fixture(scope="module")
def viewer(server: Server, admin_token: str) -> str:
    return server.add_user(admin_token, "Viewer", PASSWORD)


@pytest.fixture
def page(desktop: Page) -> Page:
    return desktop


def whatsapp_contact(server: Server, token: str, stem: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": unique_name(stem), "phone": unique_phone(), "optInWhatsApp": True}
    fields.update(extra)
    return create_contact(server, token, **fields)


# ---------------------------------------------------------------------------------------- the list


def test_the_list_shows_conversations_newest_first_with_unread_channels_and_window(
    page: Page, server: Server, admin_token: str, tmp_path: Path, shots: Path
) -> None:
    older = whatsapp_contact(server, admin_token, "Older Olive")
    newer = whatsapp_contact(server, admin_token, "Newer Nora")
    texter = create_contact(
        server, admin_token, name=unique_name("Texting Tess"), phone=unique_phone(), optInSms=True
    )
    receive(server, tmp_path, older["phone"], "Where is my parcel?", age=120)
    receive(server, tmp_path, newer["phone"], "Can I change my delivery address?", age=30)
    send(
        server, admin_token, {"contactId": texter["contactId"], "channel": "sms", "text": {"body": "Hi Tess"}}
    )

    sign_in(page, server.email, server.password)
    open_hash(page, "#/dm", "DM (WhatsApp/SMS/SES)")
    first, second, third = (
        row(page, texter["contactId"]),
        row(page, newer["contactId"]),
        row(page, older["contactId"]),
    )
    for shown in (first, second, third):
        expect(shown).to_be_visible()
    ids = page.locator("li.inbox-row").evaluate_all("(rows) => rows.map((r) => r.dataset.contactId)")
    order = [ids.index(c["contactId"]) for c in (texter, newer, older)]
    assert order == sorted(order), "newest first"

    # A name (never an id) is the row's link; the preview, unread marker, channels and window beside it.
    link = second.get_by_role("link", name=newer["name"])
    expect(link).to_have_attribute("href", f"#/dm/{newer['contactId']}")
    expect(second.get_by_test_id("preview")).to_have_text("Can I change my delivery address?")
    expect(second.get_by_test_id("unread")).to_have_text("Unread (1)")
    expect(second.locator(".channel-chip")).to_have_text(["WhatsApp"])
    expect(second.locator(".inbox-window")).to_contain_text("WhatsApp window open until")
    expect(first.get_by_test_id("unread")).to_have_count(0)
    expect(first.locator(".channel-chip")).to_have_text(["SMS"])
    expect(first.get_by_test_id("preview")).to_have_text("Hi Tess")
    expect(first).to_contain_text("You:")
    expect(first.locator(".inbox-window")).to_have_text("WhatsApp window closed")
    assert newer["contactId"] not in (page.locator("main").inner_text())
    page.screenshot(path=str(shots / "desktop-inbox.png"), full_page=True)

    # Filters (native controls) and search narrow the list.
    page.get_by_label("Channel", exact=True).select_option("sms")
    expect(second).to_have_count(0)
    expect(first).to_be_visible()
    page.get_by_label("Channel", exact=True).select_option(label="All channels")
    page.get_by_label("Unread only").check()
    expect(first).to_have_count(0)
    expect(second).to_be_visible()
    expect(third).to_be_visible()
    page.get_by_label("Unread only").uncheck()
    page.get_by_label("WhatsApp window open").check()
    expect(first).to_have_count(0)
    expect(second).to_be_visible()
    page.get_by_label("WhatsApp window open").uncheck()
    page.get_by_label("Search conversations").fill(older["name"])
    page.get_by_label("Search conversations").press("Enter")
    expect(third).to_be_visible()
    expect(page.locator("li.inbox-row")).to_have_count(1)

    # The new-conversation picker is on the page too.
    page.get_by_role("button", name="Start a new conversation").click()
    expect(page.get_by_label("Search contacts")).to_be_focused()

    # A row is a link: the keyboard opens it.
    third.get_by_role("link").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-page-title]")).to_have_text(older["name"])


def test_an_inbound_message_appears_without_reload_in_the_thread_and_the_list(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Live Lena")
    receive(server, tmp_path, contact["phone"], "Hello, is anyone there?", age=90)
    reply = send(
        server,
        admin_token,
        {"contactId": contact["contactId"], "channel": "whatsapp", "text": {"body": "Yes, how can I help?"}},
    )

    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    mark_document(page)
    # Oldest at the top, inbound on the left, outbound on the right.
    expect(bubbles(page)).to_have_count(2)
    expect(bubbles(page).nth(0)).to_contain_text("Hello, is anyone there?")
    expect(bubbles(page).nth(1)).to_have_attribute("data-message-id", reply["messageId"])
    inbound_box = bubbles(page).nth(0).bounding_box()
    outbound_box = bubbles(page).nth(1).bounding_box()
    assert inbound_box and outbound_box
    assert inbound_box["x"] < outbound_box["x"]
    assert outbound_box["x"] + outbound_box["width"] > inbound_box["x"] + inbound_box["width"]
    expect(page.get_by_test_id("window-countdown")).to_have_text(
        re.compile(r"^Window closes in \d+ h( \d+ min)?$")
    )

    # The poll asks with the last ETag; nothing new is a 304.
    with page.expect_response(
        lambda r: "/api/messages?" in r.url and r.status == 304, timeout=LIVE
    ) as unchanged:
        pass
    assert unchanged.value.request.headers.get("if-none-match", "").startswith('W/"')

    # Seen as it arrives: the Admin's open thread marks it read again.
    with page.expect_response(
        lambda r: (
            r.request.method == "POST" and r.url.endswith(f"/api/conversations/{contact['contactId']}/read")
        ),
        timeout=LIVE,
    ):
        receive(server, tmp_path, contact["phone"], "I need to change my order.", age=0)
    newest = bubbles(page).last
    expect(newest).to_contain_text("I need to change my order.", timeout=LIVE)
    expect(newest).to_have_class(re.compile(r"\binbound\b"))
    expect(bubbles(page)).to_have_count(3)
    # The reader was at the bottom: the thread followed the new message.
    assert (
        page.get_by_test_id("thread").evaluate("(el) => el.scrollHeight - el.scrollTop - el.clientHeight")
        < 50
    )
    assert not_reloaded(page)

    # The list follows too: a message while it is open moves its preview and marks it unread.
    page.get_by_role("link", name="All conversations").click()
    expect(page.locator("[data-page-title]")).to_have_text("DM (WhatsApp/SMS/SES)")
    shown = row(page, contact["contactId"])
    expect(shown.get_by_test_id("preview")).to_have_text("I need to change my order.")
    expect(shown.get_by_test_id("unread")).to_have_count(0)  # the Admin had the thread open
    receive(server, tmp_path, contact["phone"], "Actually, two things.", age=0)
    expect(shown.get_by_test_id("preview")).to_have_text("Actually, two things.", timeout=LIVE)
    expect(shown.get_by_test_id("unread")).to_have_text("Unread (1)")
    assert not_reloaded(page)


def test_unread_clears_when_an_operator_opens_the_thread(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Unread Una")
    receive(server, tmp_path, contact["phone"], "First question", age=120)
    receive(server, tmp_path, contact["phone"], "Second question", age=60)
    assert conversation_row(server, admin_token, contact["contactId"])["unreadCount"] == 2

    sign_in(page, server.email, server.password)
    open_hash(page, "#/dm", "DM (WhatsApp/SMS/SES)")
    shown = row(page, contact["contactId"])
    expect(shown.get_by_test_id("unread")).to_have_text("Unread (2)")
    expect(shown).to_have_class(re.compile(r"\bunread\b"))
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/api/conversations/{contact['contactId']}/read")
    ):
        shown.get_by_role("link", name=contact["name"]).click()
    expect(page.locator("[data-page-title]")).to_have_text(contact["name"])
    expect(bubbles(page)).to_have_count(2)

    page.go_back()
    expect(page.locator("[data-page-title]")).to_have_text("DM (WhatsApp/SMS/SES)")
    expect(shown).to_be_visible()
    expect(shown.get_by_test_id("unread")).to_have_count(0)
    expect(shown).to_contain_text(f"Seen by {server.email}")
    after = conversation_row(server, admin_token, contact["contactId"])
    assert after["unreadCount"] == 0 and after["seenByEmail"] == server.email


# -------------------------------------------------------------------------------------- the thread


def test_ticks_move_on_status_events(page: Page, server: Server, admin_token: str, tmp_path: Path) -> None:
    contact = whatsapp_contact(server, admin_token, "Ticking Tom")
    receive(server, tmp_path, contact["phone"], "Please confirm my booking", age=60)
    sent = send(
        server,
        admin_token,
        {
            "contactId": contact["contactId"],
            "channel": "whatsapp",
            "text": {"body": "Your booking is confirmed"},
        },
    )
    assert sent["status"] == "sent" and sent["whatsappMessageId"]

    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    mark_document(page)
    mine = page.locator(f".conversation > li[data-message-id='{sent['messageId']}']")
    ticks = mine.locator(".ticks")
    expect(ticks).to_have_attribute("data-status", "sent")
    expect(ticks).to_have_text("✓Sent")

    report_status(server, tmp_path, sent["whatsappMessageId"], "delivered")
    expect(ticks).to_have_attribute("data-status", "delivered", timeout=LIVE)
    expect(ticks).to_have_text("✓✓Delivered")
    delivered_colour = ticks.evaluate("(el) => getComputedStyle(el).color")

    report_status(server, tmp_path, sent["whatsappMessageId"], "read")
    expect(ticks).to_have_attribute("data-status", "read", timeout=LIVE)
    expect(ticks).to_have_text("✓✓Read")
    expect(ticks).to_have_css("color", READ_BLUE)
    assert delivered_colour != READ_BLUE
    assert not_reloaded(page)


def test_a_failed_send_shows_the_reason_and_code_and_retry_sends_it_again(
    page: Page, server: Server, admin_token: str, tmp_path: Path, shots: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Failing Fay")
    receive(server, tmp_path, contact["phone"], "Are you open on Sunday?", age=60)
    body = "We open at ten on Sundays."
    first_key = str(uuid.uuid4())
    with server.api(admin_token) as client:
        reply = client.post(
            "/api/messages",
            json={"contactId": contact["contactId"], "channel": "whatsapp", "text": {"body": body}},
            headers={"Idempotency-Key": first_key},
        )
    assert reply.status_code == 201, reply.text
    failed = reply.json()["message"]
    # DRY_RUN sends nothing that can fail; the provider's failure report (Meta 131047) makes it failed.
    report_status(server, tmp_path, failed["whatsappMessageId"], "failed")

    sent: list[Request] = []
    page.on(
        "request",
        lambda r: sent.append(r) if r.method == "POST" and r.url.endswith("/api/messages") else None,
    )
    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    mine = page.locator(f".conversation > li[data-message-id='{failed['messageId']}']")
    expect(mine.locator(".ticks")).to_have_text("✗Failed")
    failure = mine.get_by_test_id("failure")
    expect(failure).to_contain_text("Not delivered: Re-engagement message")
    expect(failure).to_contain_text("more than 24 hours have passed")
    expect(failure.get_by_test_id("failure-code")).to_have_text("131047")

    failure.get_by_role("button", name="Retry").click()
    outcome = failure.get_by_test_id("retry-outcome")
    expect(outcome).to_contain_text("Sent")
    new_id = outcome.locator("[data-message-id]").inner_text()
    assert new_id and new_id != failed["messageId"]
    assert len(sent) == 1
    assert sent[0].post_data_json == {
        "contactId": contact["contactId"],
        "channel": "whatsapp",
        "text": {"body": body},
    } | ({"phoneNumberId": failed["phoneNumberId"]} if failed.get("phoneNumberId") else {})
    key = sent[0].headers.get("idempotency-key", "")
    assert key and key != first_key  # a new send with its own decision, not a replay
    resent = bubbles(page).last
    expect(resent).to_have_attribute("data-message-id", new_id, timeout=LIVE)
    expect(resent.locator(".ticks")).to_have_text("✓Sent")
    expect(resent).to_contain_text(body)
    page.screenshot(path=str(shots / "desktop-dm-thread-retry.png"), full_page=True)


def test_long_messages_are_collapsed_behind_show_more(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Long Lou")
    receive(server, tmp_path, contact["phone"], "Tell me everything", age=60)
    long_text = " ".join(f"word{i}" for i in range(150))  # ~1,000 characters
    send(
        server,
        admin_token,
        {"contactId": contact["contactId"], "channel": "whatsapp", "text": {"body": long_text}},
    )

    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    last = bubbles(page).last
    body = last.locator("p.body")
    more = last.get_by_role("button", name="Show more")
    expect(more).to_have_attribute("aria-expanded", "false")
    shown = body.inner_text()
    assert shown.endswith("…") and len(shown) <= 501 and long_text.startswith(shown[:-1].rstrip())
    more.click()
    expect(body).to_have_text(long_text)
    expect(last.get_by_role("button", name="Show less")).to_have_attribute("aria-expanded", "true")


def test_media_shows_as_file_chips_and_an_attachment_goes_as_multipart(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Photo Phil")
    receive_image(server, tmp_path, contact["phone"], "Damaged box")

    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    chip = bubbles(page).first.locator(".media-chip")
    expect(chip).to_contain_text("Image")
    expect(chip).to_contain_text("image/jpeg")
    expect(chip).to_contain_text("cannot be previewed here")  # no media download route yet
    expect(bubbles(page).first.locator("p.body")).to_have_text("Damaged box")

    page.get_by_label("Attach a file (optional)").set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    attachment = page.get_by_test_id("attachment")
    expect(attachment).to_contain_text("receipt.png")
    expect(attachment).to_contain_text("Image")
    expect(attachment.get_by_role("img", name="Preview of receipt.png")).to_be_visible()
    page.get_by_label("Message", exact=True).fill("Here is your receipt")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/messages")) as caught:
        page.get_by_role("button", name="Send").click()
    request = caught.value
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    outcome = page.locator("#send-outcome")
    expect(outcome).to_contain_text("Sent")
    expect(attachment).to_be_hidden()
    # The browser does not hand a multipart body with a file to the test: the stored message shows
    # what the server got from its `message` and `file` parts.
    with server.api(admin_token) as client:
        stored = client.get(f"/api/messages/{outcome.locator('[data-message-id]').inner_text()}").json()
    png = tiny_png()
    assert stored["content"] == {
        "type": "media",
        "mediaKind": "image",
        "caption": "Here is your receipt",
        "filename": "receipt.png",
        "upload": {"bytes": len(png), "sha256": hashlib.sha256(png).hexdigest(), "mimeType": "image/png"},
    }
    sent = bubbles(page).last
    expect(sent).to_have_class(re.compile(r"\boutbound\b"))
    expect(sent.locator(".media-chip")).to_contain_text("receipt.png")
    expect(sent.locator("p.body")).to_have_text("Here is your receipt")


# ------------------------------------------------------------------------------------ the composer


def with_templates(page: Page) -> list[dict[str, str]]:
    """GET /api/policies as the server answers it, with a sample template when the bundle lists none."""
    listed: list[dict[str, str]] = []

    def handle(route: Route) -> None:
        response = route.fetch()
        bundle = response.json()
        whatsapp = bundle.setdefault("params", {}).setdefault("whatsapp", {})
        templates = whatsapp.get("templates") or []
        if not templates:
            templates = [SAMPLE_TEMPLATE]
            whatsapp["templates"] = templates
        listed[:] = templates
        route.fulfill(response=response, json=bundle)

    page.route("**/api/policies", handle)
    return listed


def test_a_closed_window_turns_the_composer_to_the_template_picker(
    page: Page, server: Server, admin_token: str, shots: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Closed Cleo")  # never wrote to us
    templates = with_templates(page)
    bodies = sent_message_bodies(page)
    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])

    expect(page.get_by_test_id("window-countdown")).to_have_text(
        "The 24-hour window is closed: only a template can be sent"
    )
    expect(page.get_by_role("radio", name="Text")).to_be_disabled()
    expect(page.get_by_role("radio", name="Template")).to_be_checked()
    expect(page.get_by_label("Message", exact=True)).to_be_hidden()
    assert templates, "the picker's list"
    template = templates[0]
    picker = page.get_by_role("combobox", name="Template", exact=True)
    expect(picker).to_be_visible()
    expect(picker.locator("option").first).to_have_text(f"{template['name']} ({template['language']})")
    expect(page.get_by_label("Template name")).to_be_hidden()  # the free fields are for "Another template"

    numbers = sorted({int(n) for n in re.findall(r"\{\{\s*(\d+)\s*\}\}", template["body"])})
    values = {n: f"value {n}" for n in numbers}
    for n in numbers:
        page.get_by_label(f"Variable {{{{{n}}}}}").fill(values[n])
    expected = re.sub(r"\{\{\s*(\d+)\s*\}\}", lambda m: values[int(m.group(1))], template["body"])
    expect(page.get_by_test_id("template-preview")).to_contain_text(expected)
    page.screenshot(path=str(shots / "desktop-dm-template-picker.png"), full_page=True)

    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_contain_text("Sent")
    sent_template: dict[str, Any] = {"name": template["name"], "language": template["language"]}
    if numbers:
        sent_template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": values[n]} for n in numbers]}
        ]
    assert bodies == [{"contactId": contact["contactId"], "channel": "whatsapp", "template": sent_template}]
    expect(bubbles(page).last).to_contain_text(f"Template “{template['name']}”")

    # Another template than the listed ones: the free name and language fields.
    picker.select_option("other")
    expect(page.get_by_label("Template name")).to_be_visible()
    expect(page.get_by_label("Template language")).to_have_value("en_US")


def test_a_refused_send_keeps_the_text_and_shows_the_reasons(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    # The window is open (the contact wrote) but nobody recorded a WhatsApp opt-in.
    contact = create_contact(server, admin_token, name=unique_name("No Consent Nico"), phone=unique_phone())
    receive(server, tmp_path, contact["phone"], "Hi there", age=60)
    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])

    box = page.get_by_label("Message", exact=True)
    box.fill("A reply they did not agree to receive")
    page.get_by_role("button", name="Send").click()
    outcome = page.locator("#send-outcome")
    expect(outcome).to_contain_text("Not sent — refused by policy")
    reasons = outcome.locator("[data-reason]")
    expect(reasons.first).to_be_visible()
    code = reasons.first.get_attribute("data-reason") or ""
    assert re.fullmatch(r"[A-Z][A-Z0-9_]+", code)
    assert len(reasons.first.inner_text().replace(code, "").strip()) > 10  # the reason in words
    expect(box).to_have_value("A reply they did not agree to receive")
    expect(bubbles(page).last).to_contain_text(code, timeout=LIVE)


def test_enter_sends_and_shift_enter_starts_a_new_line(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Keyboard Kai")
    receive(server, tmp_path, contact["phone"], "Hello?", age=60)
    bodies = sent_message_bodies(page)
    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])

    box = page.get_by_label("Message", exact=True)
    box.focus()
    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("First line\nsecond line")
    assert bodies == []
    page.keyboard.press("Enter")
    expect(page.locator("#send-outcome")).to_contain_text("Sent")
    assert bodies == [
        {
            "contactId": contact["contactId"],
            "channel": "whatsapp",
            "text": {"body": "First line\nsecond line"},
        }
    ]
    expect(box).to_have_value("")
    expect(box).to_be_focused()
    expect(bubbles(page).last.locator("p.body")).to_have_text("First line\nsecond line")


# ------------------------------------------------------------------------------ roles and polling


def test_a_viewer_reads_the_list_and_the_thread_but_has_no_composer_and_marks_nothing_read(
    page: Page, server: Server, admin_token: str, viewer: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Viewed Vic")
    receive(server, tmp_path, contact["phone"], "Is my refund through?", age=60)
    writes: list[str] = []
    page.on("request", lambda r: writes.append(f"{r.method} {r.url}") if r.method != "GET" else None)

    sign_in(page, viewer, PASSWORD)
    open_hash(page, "#/dm", "DM (WhatsApp/SMS/SES)")
    shown = row(page, contact["contactId"])
    expect(shown.get_by_test_id("unread")).to_have_text("Unread (1)")
    shown.get_by_role("link", name=contact["name"]).click()
    expect(page.locator("[data-page-title]")).to_have_text(contact["name"])
    expect(bubbles(page).first).to_contain_text("Is my refund through?")
    expect(page.locator("main")).to_contain_text("Your role can read conversations but not send messages.")
    expect(page.get_by_role("heading", name="New message")).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_have_count(0)
    # A poll goes by (the thread stays live for a Viewer) and still nothing was written.
    with page.expect_request(lambda r: "/api/messages?" in r.url, timeout=LIVE):
        pass
    assert [w for w in writes if "/api/auth/login" not in w] == []
    assert conversation_row(server, admin_token, contact["contactId"])["unreadCount"] == 1


def test_polling_pauses_while_the_tab_is_hidden_and_stops_when_the_page_is_left(
    page: Page, server: Server, admin_token: str, tmp_path: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Polled Pat")
    receive(server, tmp_path, contact["phone"], "Ping", age=60)
    polls: list[float] = []
    page.on(
        "request", lambda r: polls.append(time.monotonic()) if "/api/messages?contactId=" in r.url else None
    )
    sign_in(page, server.email, server.password)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    with page.expect_request(lambda r: "/api/messages?contactId=" in r.url, timeout=LIVE):
        pass

    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    hidden_at = len(polls)
    page.wait_for_timeout(4_000)  # longer than one thread poll (3 s)
    assert len(polls) == hidden_at, "no polling while the tab is hidden"
    with page.expect_request(lambda r: "/api/messages?contactId=" in r.url, timeout=2_000):
        page.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")

    open_hash(page, "#/contacts", "Contacts")
    left_at = len(polls)
    page.wait_for_timeout(4_000)
    assert len(polls) == left_at, "the thread stops polling once it is left"


def test_the_inbox_and_a_thread_fit_a_320px_screen(
    mobile: Page, server: Server, admin_token: str, tmp_path: Path, shots: Path
) -> None:
    contact = whatsapp_contact(server, admin_token, "Maximiliana Featherstonehaugh-Cholmondeley")
    receive(
        server,
        tmp_path,
        contact["phone"],
        "https://example.com/a/very/long/path/without/any/spaces/at/all/for/narrow/screens " * 8,
        age=60,
    )
    failed = send(
        server,
        admin_token,
        {"contactId": contact["contactId"], "channel": "whatsapp", "text": {"body": "Thanks, we are on it."}},
    )
    report_status(server, tmp_path, failed["whatsappMessageId"], "failed")

    page = mobile
    sign_in(page, server.email, server.password)
    open_hash(page, "#/dm", "DM (WhatsApp/SMS/SES)")
    expect(row(page, contact["contactId"])).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.screenshot(path=str(shots / "mobile-inbox.png"), full_page=True)
    open_hash(page, f"#/dm/{contact['contactId']}", contact["name"])
    expect(bubbles(page).last.get_by_role("button", name="Retry")).to_be_visible()
    expect(bubbles(page).first.get_by_role("button", name="Show more")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.screenshot(path=str(shots / "mobile-dm-thread.png"), full_page=True)
