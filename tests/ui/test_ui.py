"""The web UI in a real headless Chromium against the real product (`wecare serve` in a subprocess).

Requirement 12 (title, sidebar, Helvetica Light, white pages, black 13px buttons, 320px screens, no
reload on navigation), 16.9 (window expiry on contact details), and the flows an operator relies on:
sign-in, contacts and consent, a refused free-form WhatsApp message, a sent template, and the stored
decision behind each message.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.ui.harness import Server, create_contact, sent_message_bodies, sign_in

pytestmark = pytest.mark.browser

NAV = [
    "Pay",
    "Link",
    "Forms",
    "Docs",
    "Invoice",
    "DM (WhatsApp/SMS/SES)",
    "Contacts",
    "Bulk Messaging",
    "Agent",
]
UNAVAILABLE = {
    "Pay": "pay",
    "Link": "link",
    "Forms": "forms",
    "Docs": "docs",
    "Invoice": "invoice",
}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eum"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SCRIPT_NAME = '<script>window.__xss = "script"</script>Mallory'
IMG_NAME = "<img src=x onerror=\"window.__xss = 'img'\">Eve"

_phones = iter(range(10, 99))


def unique_phone() -> str:
    # +1 415 555 01xx: valid, never a real subscriber; unique within the module's server.
    return f"+141555501{next(_phones):02d}"


def heading(page: Page) -> str:
    return page.locator("[data-page-title]").inner_text()


def go(page: Page, hash_path: str, title: str) -> None:
    """Navigate inside the app (hash change, no reload) and wait for the page's heading."""
    page.evaluate("(h) => { location.hash = h; }", hash_path)
    expect(page.locator("[data-page-title]")).to_have_text(title)


def send_via_api(server: Server, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with server.api(token) as client:
        reply = client.post("/api/messages", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    out: dict[str, Any] = reply.json()
    return reply.status_code, out


def inbound_event(tmp_path: Path, phone: str, text: str, at: int) -> Path:
    """The captured inbound text event, re-addressed from ``phone`` at ``at`` (epoch seconds)."""
    event = json.loads((FIXTURES / "eum-inbound-text.sns-lambda.json").read_text())
    sns = event["Records"][0]["Sns"]
    body = json.loads(sns["Message"])
    entry = json.loads(body["whatsAppWebhookEntry"])
    value = entry["changes"][0]["value"]
    digits = phone.lstrip("+")
    value["contacts"][0]["wa_id"] = digits
    message = value["messages"][0]
    message.update(
        {"from": digits, "id": f"wamid.ui-{uuid.uuid4().hex}", "timestamp": str(at), "text": {"body": text}}
    )
    body["whatsAppWebhookEntry"] = json.dumps(entry)
    sns["Message"] = json.dumps(body)
    sns["MessageId"] = str(uuid.uuid4())
    path = tmp_path / "inbound.json"
    path.write_text(json.dumps(event))
    return path


# ------------------------------------------------------------------------------- shell and sign-in


def test_title_sidebar_and_sign_in_with_the_printed_credentials(desktop: Page, server: Server) -> None:
    page = desktop
    page.goto("/")
    expect(page).to_have_title("WECARE.DIGITAL")
    expect(page.locator("#brand")).to_have_text("WECARE.DIGITAL")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#nav-main")).to_be_hidden()  # nothing to navigate before signing in

    page.get_by_label("E-mail").fill(server.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong e-mail or password")
    assert page.evaluate("sessionStorage.getItem('wecare.accessToken')") is None

    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible()
    expect(page.locator("#nav-main a")).to_have_text(NAV)
    assert page.locator("#nav-main a").all_inner_texts() == NAV
    expect(page.locator("#account-email")).to_have_text(server.email)
    expect(page.locator("#account-role")).to_have_text("(Admin)")
    token = page.evaluate("sessionStorage.getItem('wecare.accessToken')")
    assert isinstance(token, str) and token.count(".") == 2  # a JWT, kept for this tab only
    assert page.evaluate("localStorage.length") == 0

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("main")).to_contain_text("You have signed out.")
    assert page.evaluate("sessionStorage.getItem('wecare.accessToken')") is None


def test_an_ended_session_goes_back_to_sign_in_then_to_the_same_page(desktop: Page, server: Server) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    go(page, "#/compliance", "Compliance")
    page.evaluate("sessionStorage.setItem('wecare.accessToken', 'not-a-token')")
    page.reload()  # the API answers 401 to the stale token
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Your session has ended")
    assert page.evaluate("sessionStorage.getItem('wecare.accessToken')") is None

    page.get_by_label("E-mail").fill(server.email)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-page-title]")).to_have_text("Compliance")
    assert page.evaluate("location.hash") == "#/compliance"


# ---------------------------------------------------------------------------------- navigation


def test_navigation_loads_pages_without_a_reload(desktop: Page, server: Server) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    page.evaluate("window.__marker = 'still here'")
    for label in [*NAV, "Compliance", "Dead letters", "Users"]:
        link = page.locator("#nav").get_by_role("link", name=label, exact=True)
        link.click()
        expect(page.locator("[data-page-title]")).to_have_text(label)
        expect(link).to_have_attribute("aria-current", "page")
        assert page.evaluate("window.__marker") == "still here", f"{label} reloaded the page"
        if label in UNAVAILABLE:
            assert page.evaluate("location.hash") == f"#/{UNAVAILABLE[label]}"
            expect(page.locator("main")).to_contain_text(f"{label} is not available yet.")
            # Said plainly, with nothing that looks like data.
            assert page.locator("main table, main ul, main ol, main form").count() == 0
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    page.go_back()
    expect(page.locator("[data-page-title]")).to_have_text("Dead letters")
    assert page.evaluate("window.__marker") == "still here"

    go(page, "#/contacts/ct_does_not_exist", "Not found")
    expect(page.get_by_role("alert")).to_contain_text("NOT_FOUND")
    go(page, "#/nowhere", "Page not found")
    assert page.evaluate("window.__marker") == "still here"


def test_keyboard_reaches_the_menu_and_focus_is_visible(desktop: Page, server: Server) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    page.reload()  # a fresh load leaves focus at the top of the document
    expect(page.locator("[data-page-title]")).to_have_text("Contacts")
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#brand")).to_be_focused()
    page.keyboard.press("Tab")  # the menu toggle is hidden on desktop, so next is the first menu item
    expect(page.locator("#nav-main a").first).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "focus must be visible"
    for _ in range(6):
        page.keyboard.press("Tab")
    expect(page.locator("#nav-main a", has_text="Contacts")).to_be_focused()
    page.evaluate("window.__marker = 1")
    page.locator("#nav-main a", has_text="DM (WhatsApp/SMS/SES)").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-page-title]")).to_have_text("DM (WhatsApp/SMS/SES)")
    assert page.evaluate("window.__marker") == 1
    # After navigation the new page's heading has focus, for screen readers.
    expect(page.locator("[data-page-title]")).to_be_focused()


# ------------------------------------------------------------------------------------------ style


def test_helvetica_light_white_pages_and_black_13px_buttons(desktop: Page, server: Server) -> None:
    page = desktop
    page.goto("/")
    body = page.evaluate("""() => {
        const s = getComputedStyle(document.body);
        return {bg: s.backgroundColor, font: s.fontFamily, weight: s.fontWeight,
                html: getComputedStyle(document.documentElement).backgroundColor};
    }""")
    assert body["bg"] == "rgb(255, 255, 255)"
    assert body["html"] == "rgb(255, 255, 255)"
    assert "Helvetica" in body["font"]
    assert body["weight"] == "300"

    sign_in(page, server.email, server.password)
    contact = create_contact(
        server, server.token(), name="Style Check", phone=unique_phone(), optInWhatsApp=True
    )
    for hash_path, title in [
        ("#/contacts", "Contacts"),
        (f"#/dm/{contact['contactId']}", "Style Check"),
        ("#/users", "Users"),
        ("#/dlq", "Dead letters"),
    ]:
        go(page, hash_path, title)
        styles = page.evaluate("""() => {
            const visible = (el) => el.getClientRects().length > 0;
            const buttons = [...document.querySelectorAll('button')].filter(visible).map((b) => {
                const s = getComputedStyle(b);
                return {text: b.textContent, bg: s.backgroundColor, color: s.color,
                        radii: [s.borderTopLeftRadius, s.borderTopRightRadius,
                                s.borderBottomLeftRadius, s.borderBottomRightRadius]};
            });
            const texts = [...document.querySelectorAll('h1, h2, label, a, p, button, input, td, dd')]
                .filter(visible).map((el) => {
                    const s = getComputedStyle(el);
                    return {tag: el.tagName, weight: s.fontWeight, font: s.fontFamily};
                });
            const surfaces = [...document.querySelectorAll('main, .panel, .sidebar')].map(
                (el) => getComputedStyle(el).backgroundColor);
            return {buttons, texts, surfaces};
        }""")
        assert styles["buttons"], f"{title}: no buttons"
        for button in styles["buttons"]:
            assert button["bg"] == "rgb(0, 0, 0)", button
            assert button["color"] == "rgb(255, 255, 255)", button
            assert button["radii"] == ["13px"] * 4, button
        for text in styles["texts"]:
            assert text["weight"] == "300", text
            assert "Helvetica" in text["font"], text
        for surface in styles["surfaces"]:
            assert surface in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), surface


# ---------------------------------------------------------------------- contacts, DM, decisions


def test_whatsapp_text_is_refused_and_a_template_is_sent_with_its_decision(  # noqa: PLR0915 - one journey; split, each part would replay the steps before it
    desktop: Page, server: Server, shots: Path
) -> None:
    page = desktop
    sent_keys: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/messages"):
            sent_keys.append(request.headers.get("idempotency-key", ""))

    page.on("request", on_request)
    sign_in(page, server.email, server.password)
    page.get_by_role("button", name="New contact").click()
    boxes = [page.get_by_label(label) for label in ("WhatsApp opt-in", "SMS opt-in", "Email opt-in")]
    for box in boxes:
        expect(box).not_to_be_checked()  # consent is off until someone ticks it
    page.get_by_label("Name").fill("Priya Raman")
    page.get_by_label("Phone").fill(unique_phone())
    boxes[0].check()
    page.get_by_role("button", name="Create contact").click()

    expect(page.locator("[data-page-title]")).to_have_text("Priya Raman")
    expect(page.locator("main")).to_contain_text("Contact “Priya Raman” created.")
    expect(page.locator("#window-state")).to_contain_text("Closed — templates only")
    expect(page.locator("#window-state")).to_have_attribute("data-open", "false")
    expect(page.get_by_role("table")).to_contain_text("not opted in → opted in")

    page.get_by_role("link", name="Send a message").click()
    expect(page.get_by_role("heading", name="New message")).to_be_visible()
    # Outside the window the composer does not offer free text at all: it says why and picks Template.
    expect(page.locator("main")).to_contain_text("The 24-hour window is closed: only a template can be sent")
    expect(page.get_by_role("radio", name="Text")).to_be_disabled()
    expect(page.get_by_role("radio", name="Template")).to_be_checked()
    # The gateway refuses free text all the same (the page is a convenience, the policy is the rule):
    # sent through the API, the refusal appears in the thread on its next poll, without a reload.
    contact_id = page.url.rsplit("/", 1)[-1]
    status, refused = send_via_api(
        server,
        server.token(),
        {"contactId": contact_id, "channel": "whatsapp", "text": {"body": "Your order has shipped"}},
    )
    assert status == 422 and refused["error"]["code"] == "POLICY_DENIED", refused
    assert [r["code"] for r in refused["error"]["details"]["reasons"]] == ["TEMPLATE_REQUIRED"]
    bubbles = page.locator(".conversation > li")
    expect(bubbles).to_have_count(1)
    reason = bubbles.nth(0).locator("text=TEMPLATE_REQUIRED")
    expect(reason).to_be_visible()
    page.screenshot(path=str(shots / "desktop-dm-refused.png"), full_page=True)

    page.get_by_role("combobox", name="Template").select_option(label="order_update (en_US)")
    for n, value in enumerate(("Priya", "A-1001", "tomorrow"), start=1):
        page.get_by_label(f"Variable {{{{{n}}}}}").fill(value)
    expect(page.get_by_test_id("template-preview")).to_contain_text(
        "Hello Priya, your order A-1001 has shipped"
    )
    page.get_by_role("button", name="Send").click()
    outcome = page.locator("#send-outcome")
    expect(outcome).to_contain_text("Sent")
    expect(outcome).to_contain_text("DRY_RUN")
    message_id = outcome.locator("[data-message-id]").inner_text()
    assert message_id.startswith("msg_")

    # The page's one send carried a fresh Idempotency-Key.
    assert len(sent_keys) == 1 and UUID.match(sent_keys[0]), sent_keys

    expect(bubbles).to_have_count(2)
    expect(bubbles.nth(0)).to_contain_text("TEMPLATE_REQUIRED")  # oldest first
    expect(bubbles.nth(1)).to_contain_text("Template “order_update” (en_US)")
    page.screenshot(path=str(shots / "desktop-dm-sent.png"), full_page=True)

    page.get_by_role("link", name=re.compile("Open the message and its decision")).click()
    expect(page.locator("[data-page-title]")).to_have_text("Message")
    expect(page.locator("main")).to_contain_text(message_id)
    decision = page.locator("#decision")
    expect(decision.get_by_role("heading", name="Why was this sent?")).to_be_visible()
    expect(decision).to_contain_text("Allowed by policy")
    rule = decision.locator("tr", has_text="whatsapp-opt-in")
    expect(rule).to_contain_text("pass")
    expect(decision).to_contain_text("sha256:")
    page.screenshot(path=str(shots / "desktop-message-sent.png"), full_page=True)

    page.go_back()
    expect(page.get_by_role("heading", name="Conversation")).to_be_visible()
    page.locator(".conversation > li", has_text="TEMPLATE_REQUIRED").get_by_role(
        "link", name="Details and decision"
    ).click()
    decision = page.locator("#decision")
    expect(decision.get_by_role("heading", name="Why was this refused?")).to_be_visible()
    expect(decision.locator("tr", has_text="template-outside-window")).to_contain_text("deny")
    expect(decision).to_contain_text("TEMPLATE_REQUIRED")


def test_email_and_sms_are_composed_and_html_is_shown_as_source(desktop: Page, server: Server) -> None:
    contact = create_contact(
        server,
        server.token(),
        name="Mail And Text",
        phone=unique_phone(),
        email=f"mail.{uuid.uuid4().hex[:8]}@example.com",
        optInEmail=True,
        optInSms=True,
    )
    page = desktop
    bodies = sent_message_bodies(page)
    sign_in(page, server.email, server.password)
    go(page, f"#/dm/{contact['contactId']}", "Mail And Text")

    page.get_by_role("radio", name="Email").check()
    expect(page.get_by_label("Message", exact=True)).to_be_hidden()
    html = '<p>Your <b>invoice</b> is ready</p><img src=x onerror="window.__xss = 1">'
    page.get_by_label("Subject").fill("Invoice 42")
    page.get_by_label("Text body").fill("Your invoice is ready.")
    page.get_by_label("HTML body (optional)").fill(html)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_contain_text("Sent")
    assert bodies[-1] == {
        "contactId": contact["contactId"],
        "channel": "email",
        "email": {"subject": "Invoice 42", "text": "Your invoice is ready.", "html": html},
    }

    page.get_by_role("radio", name="SMS").check()
    page.get_by_label("Message", exact=True).fill("Your invoice is ready.")
    expect(page.locator(".counter")).to_have_text("22 / 1600 characters")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_contain_text("Sent")
    assert bodies[-1] == {
        "contactId": contact["contactId"],
        "channel": "sms",
        "text": {"body": "Your invoice is ready."},
    }

    page.locator(".conversation > li", has_text="Subject: Invoice 42").get_by_role(
        "link", name="Details and decision"
    ).click()
    expect(page.get_by_role("heading", name="HTML body (source, not rendered)")).to_be_visible()
    expect(page.locator("main pre").filter(has_text="<b>invoice</b>").first).to_have_text(html)
    assert page.locator("main b, main img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_contact_details_show_when_the_whatsapp_window_expires(
    desktop: Page, server: Server, tmp_path: Path
) -> None:
    phone = unique_phone()
    contact = create_contact(server, server.token(), name="Window Open", phone=phone, optInWhatsApp=True)
    wrote_at = int(time.time()) - 600
    report = server.ingest(inbound_event(tmp_path, phone, "Is my parcel on its way?", wrote_at))
    assert "1 stored" in report

    page = desktop
    sign_in(page, server.email, server.password)
    go(page, f"#/contacts/{contact['contactId']}", "Window Open")
    state = page.locator("#window-state")
    expect(state).to_have_attribute("data-open", "true")
    shown = page.evaluate(
        "(ms) => new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'})"
        ".format(new Date(ms))",
        (wrote_at + 86400) * 1000,
    )
    expect(state).to_contain_text(f"Window open until {shown}")

    page.get_by_role("link", name="Send a message").click()
    expect(page.locator(".conversation > li.inbound")).to_contain_text("Is my parcel on its way?")
    expect(page.locator("#window-state")).to_contain_text("Window open until")
    page.get_by_label("Message", exact=True).fill("Yes — it arrives tomorrow.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_contain_text("Sent")  # free-form inside the window


def test_edit_sends_only_the_changed_fields_and_delete_is_soft(desktop: Page, server: Server) -> None:
    contact = create_contact(
        server,
        server.token(),
        name="Edit Me",
        phone=unique_phone(),
        email=f"edit.{uuid.uuid4().hex[:8]}@example.com",
    )
    page = desktop
    sign_in(page, server.email, server.password)
    go(page, f"#/contacts/{contact['contactId']}", "Edit Me")

    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("main")).to_contain_text("Nothing to save")

    edit = page.get_by_role("region", name="Edit contact")
    edit.get_by_label("SMS opt-in").check()
    with page.expect_request(lambda r: r.method == "PATCH") as caught:
        page.get_by_role("button", name="Save changes").click()
    assert caught.value.post_data_json == {"optInSms": True, "source": "ui"}
    expect(page.locator("main")).to_contain_text("Changes saved.")
    history = page.get_by_role("region", name="Consent history")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history).to_contain_text("SMS")

    page.get_by_role("button", name="Delete contact").click()
    page.get_by_role("button", name="Yes, delete this contact").click()
    expect(page.locator("[data-page-title]")).to_have_text("Contacts")
    expect(page.locator("main")).to_contain_text("Contact “Edit Me” deleted.")
    page.get_by_label("Search contacts").fill("Edit Me")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status").first).to_contain_text("No contacts match")
    with server.api(server.token()) as client:
        assert client.get(f"/api/contacts/{contact['contactId']}").status_code == 404


def test_contact_search_pages_with_the_cursor(desktop: Page, server: Server) -> None:
    token = server.token()
    for i in range(23):
        create_contact(server, token, name=f"Pagination Person {i:02d}", email=f"pagination.{i}@example.com")
    page = desktop
    sign_in(page, server.email, server.password)
    page.get_by_label("Search contacts").fill("pagination")
    page.get_by_role("button", name="Search").click()
    rows = page.locator(".contact-search .list > li")
    expect(rows).to_have_count(20)
    expect(page.locator(".contact-search [role=status]")).to_contain_text("more available")
    page.get_by_role("button", name="Load more contacts").click()
    expect(rows).to_have_count(23)
    expect(page.get_by_role("button", name="Load more contacts")).to_be_hidden()
    names = rows.locator(".row-title").all_inner_texts()
    assert len(set(names)) == 23 and all(n.startswith("Pagination Person") for n in names)


def test_untrusted_names_and_messages_render_as_text(desktop: Page, server: Server) -> None:
    token = server.token()
    mallory = create_contact(server, token, name=SCRIPT_NAME, phone=unique_phone(), optInWhatsApp=True)
    eve = create_contact(server, token, name=IMG_NAME, email=f"eve.{uuid.uuid4().hex[:6]}@example.com")
    body = "<img src=x onerror=\"window.__xss = 'body'\"><b>bold?</b>"
    status, refused = send_via_api(
        server, token, {"contactId": mallory["contactId"], "channel": "whatsapp", "text": {"body": body}}
    )
    assert status == 422, refused
    message_id = refused["error"]["details"]["messageId"]

    page = desktop
    sign_in(page, server.email, server.password)
    page.get_by_label("Search contacts").fill("mallory")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".row-title", has_text="Mallory")).to_have_text(SCRIPT_NAME)
    page.get_by_label("Search contacts").fill("eve")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".row-title", has_text="Eve")).to_have_text(IMG_NAME)

    for hash_path, title in [
        (f"#/contacts/{mallory['contactId']}", SCRIPT_NAME),
        (f"#/contacts/{eve['contactId']}", IMG_NAME),
        (f"#/dm/{mallory['contactId']}", SCRIPT_NAME),
        (f"#/messages/{message_id}", "Message"),
    ]:
        go(page, hash_path, title)
        assert page.locator("main img, main script, main b").count() == 0
    expect(page.locator("main")).to_contain_text(body)
    assert page.evaluate("typeof window.__xss") == "undefined"


# ------------------------------------------------------------------------------- roles and admin


def test_a_viewer_sees_no_actions_and_the_api_still_refuses(desktop: Page, server: Server) -> None:
    token = server.token()
    email = f"viewer.{uuid.uuid4().hex[:8]}@example.com"
    with server.api(token) as client:
        created = client.post(
            "/api/users", json={"email": email, "role": "Viewer", "password": "a long viewer passphrase"}
        )
    assert created.status_code == 201, created.text
    contact = create_contact(server, token, name="Seen By Viewer", phone=unique_phone())

    page = desktop
    sign_in(page, email, "a long viewer passphrase")
    expect(page.locator("#account-role")).to_have_text("(Viewer)")
    expect(page.locator("#nav").get_by_role("link", name="Compliance")).to_be_visible()
    expect(page.locator("#nav").get_by_role("link", name="Dead letters")).to_be_hidden()
    expect(page.locator("#nav").get_by_role("link", name="Users")).to_be_hidden()
    expect(page.get_by_role("button", name="New contact")).to_have_count(0)

    go(page, f"#/contacts/{contact['contactId']}", "Seen By Viewer")
    expect(page.locator("#window-state")).to_be_visible()
    expect(page.get_by_role("heading", name="Edit contact")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete contact")).to_have_count(0)

    page.get_by_role("link", name="Conversation").click()
    expect(page.locator("main")).to_contain_text("Your role can read conversations but not send messages.")
    expect(page.get_by_role("button", name="Send")).to_have_count(0)

    go(page, "#/users", "Not available to your role")
    status = page.evaluate(
        """async (id) => {
        const r = await fetch('/api/contacts/' + id, {method: 'DELETE', headers: {
            Authorization: 'Bearer ' + sessionStorage.getItem('wecare.accessToken')}});
        return r.status;
    }""",
        contact["contactId"],
    )
    assert status == 403


def test_admin_creates_a_user_sees_the_password_once_and_changes_it(desktop: Page, server: Server) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    go(page, "#/users", "Users")
    email = f"operator.{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Role", exact=True).select_option("Operator")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("main")).to_contain_text(f"Account created for {email} (Operator)")
    password = page.locator(".secret").inner_text()
    assert len(password) >= 12
    assert server.token(email, password)  # the shown password works

    page.get_by_label(f"Role of {email}").select_option("Viewer")
    expect(page.locator("main")).to_contain_text(f"{email} is now Viewer.")
    page.get_by_role("button", name=f"Disable {email}").click()
    expect(page.locator("main")).to_contain_text(f"{email} is disabled.")
    with server.api(server.token()) as client:
        users = {u["email"]: u for u in client.get("/api/users", params={"limit": 200}).json()["items"]}
    assert users[email]["role"] == "Viewer" and users[email]["disabled"] is True
    # Your own account cannot be demoted or disabled from here.
    expect(page.get_by_label(f"Role of {server.email}")).to_be_disabled()


def test_dead_letters_are_listed_and_replayed(desktop: Page, server: Server, tmp_path: Path) -> None:
    event = json.loads((FIXTURES / "eum-inbound-text.sns-lambda.json").read_text())
    sns = event["Records"][0]["Sns"]
    body = json.loads(sns["Message"])
    body["whatsAppWebhookEntry"] = json.dumps(
        {
            "id": "1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messages": [{"from": "", "id": f"wamid.broken-{uuid.uuid4().hex}", "type": "text"}]
                    },
                }
            ],
        }
    )
    sns["Message"] = json.dumps(body)
    sns["MessageId"] = f"broken-{uuid.uuid4().hex}"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(event))
    assert "1 dead-lettered" in server.ingest(broken, dead_letters=True)

    page = desktop
    sign_in(page, server.email, server.password)
    page.locator("#nav").get_by_role("link", name="Dead letters").click()
    expect(page.locator("[data-page-title]")).to_have_text("Dead letters")
    expect(page.locator("main")).to_contain_text("inbound-dlq")
    expect(page.get_by_role("table")).to_contain_text("has no 'from'")
    page.get_by_label("Queue to replay").select_option("inbound-dlq")
    page.get_by_label("At most").fill("5")
    page.get_by_role("button", name="Replay").click()
    result = page.locator("main .notice", has_text="Replay finished")
    expect(result).to_contain_text("received from inbound-dlq")
    expect(result).to_contain_text("failed 1")  # the payload is still broken: back on the queue


def test_compliance_filters_decisions_and_shows_the_policy_bundle(desktop: Page, server: Server) -> None:
    token = server.token()
    contact = create_contact(server, token, name="No Consent", phone=unique_phone())
    status, _ = send_via_api(
        server,
        token,
        {
            "contactId": contact["contactId"],
            "channel": "whatsapp",
            "template": {"name": "order_update", "language": "en_US"},
        },
    )
    assert status == 422

    page = desktop
    sign_in(page, server.email, server.password)
    page.locator("#nav").get_by_role("link", name="Compliance").click()
    page.get_by_label("Reason").select_option("OPT_IN_REQUIRED")
    page.get_by_label("Outcome").select_option("false")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("main table.data tbody tr")
    expect(rows.first).to_contain_text("OPT_IN_REQUIRED")
    for text in rows.all_inner_texts():
        assert "OPT_IN_REQUIRED" in text and "refused" in text
    rows.first.get_by_role("link").click()
    expect(page.locator("#decision").get_by_role("heading", name="Why was this refused?")).to_be_visible()
    expect(page.locator("#decision")).to_contain_text("OPT_IN_REQUIRED")

    go(page, "#/compliance/policies", "Compliance")
    expect(page.locator("main")).to_contain_text("sha256:")
    rule = page.locator("tr", has_text="whatsapp-opt-in")
    expect(rule).to_contain_text("OPT_IN_REQUIRED")
    expect(rule).to_contain_text("contact.optInWhatsApp")


# ----------------------------------------------------------------------------------- small screens


def test_every_page_fits_a_320px_screen(mobile: Page, server: Server, shots: Path) -> None:
    token = server.token()
    contact = create_contact(
        server,
        token,
        name="Bartholomew Featherstonehaugh-Cholmondeley " + IMG_NAME,
        phone=unique_phone(),
        email="a.very.long.address.for.narrow.screens@example.com",
        optInWhatsApp=True,
    )
    status, sent = send_via_api(
        server,
        token,
        {
            "contactId": contact["contactId"],
            "channel": "whatsapp",
            "template": {"name": "a_rather_long_template_name_v2", "language": "en_GB"},
        },
    )
    assert status == 201, sent
    message_id = sent["message"]["messageId"]
    name = contact["name"]

    page = mobile
    page.goto("/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.screenshot(path=str(shots / "mobile-signin.png"), full_page=True)
    sign_in(page, server.email, server.password)

    # The sidebar collapses into a menu behind a toggle.
    toggle = page.get_by_role("button", name="Menu")
    expect(page.locator("#nav-main")).to_be_hidden()
    toggle.click()
    expect(page.locator("#menu-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#nav-main a")).to_have_text(NAV)
    page.screenshot(path=str(shots / "mobile-menu.png"))
    page.locator("#nav-main").get_by_role("link", name="Contacts").click()
    expect(page.locator("#nav-main")).to_be_hidden()

    pages = [
        ("#/contacts", "Contacts"),
        (f"#/contacts/{contact['contactId']}", name),
        ("#/dm", "DM (WhatsApp/SMS/SES)"),
        (f"#/dm/{contact['contactId']}", name),
        (f"#/messages/{message_id}", "Message"),
        ("#/compliance", "Compliance"),
        ("#/compliance/policies", "Compliance"),
        ("#/dlq", "Dead letters"),
        ("#/users", "Users"),
        *[(f"#/{slug}", label) for label, slug in UNAVAILABLE.items()],
    ]
    for hash_path, title in pages:
        go(page, hash_path, title)
        width = page.evaluate("document.documentElement.scrollWidth")
        slug = hash_path.strip("#/").replace("/", "_")[:40]
        page.screenshot(path=str(shots / f"mobile-{slug}.png"), full_page=True)
        assert width <= 320, f"{hash_path} scrolls sideways: {width}px"
    go(page, "#/contacts", "Contacts")
    page.get_by_role("button", name="New contact").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


def test_desktop_screenshots_of_every_page(desktop: Page, server: Server, shots: Path) -> None:
    token = server.token()
    contact = create_contact(
        server, token, name="Screenshot Person", phone=unique_phone(), optInWhatsApp=True
    )
    send_via_api(
        server,
        token,
        {
            "contactId": contact["contactId"],
            "channel": "whatsapp",
            "text": {"body": "Hello from the screenshot test"},
        },
    )
    page = desktop
    sign_in(page, server.email, server.password)
    pages = [
        ("#/contacts", "Contacts"),
        (f"#/contacts/{contact['contactId']}", "Screenshot Person"),
        (f"#/dm/{contact['contactId']}", "Screenshot Person"),
        ("#/compliance", "Compliance"),
        ("#/compliance/policies", "Compliance"),
        ("#/dlq", "Dead letters"),
        ("#/users", "Users"),
        ("#/pay", "Pay"),
    ]
    for hash_path, title in pages:
        go(page, hash_path, title)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.screenshot(
            path=str(shots / f"desktop-{hash_path.strip('#/').replace('/', '_')[:40]}.png"), full_page=True
        )
