"""Settings and accounts in a real headless Chromium against `wecare serve`.

The Settings page (#/settings, Admin) edits the SystemConfig switches, each change saved, audited and
a bad value refused with the server's message; Viewers and Operators neither see it nor reach it.
The Account page (#/account, every role) changes your own password: the other sessions end, this tab
keeps a fresh token. An Admin resets another account's password on the Users page and sees the
one-time password once. All three pages fit a 320 px screen.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.ui.harness import MOBILE, PageErrors, Server, new_page, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "a long passphrase for the account tests"
NEW_PASSWORD = "another long passphrase, changed"
TOKEN_KEY = "wecare.accessToken"


def go(page: Page, hash_path: str, title: str) -> None:
    """Navigate inside the app (hash change, no reload) and wait for the page's heading."""
    page.evaluate("(h) => { location.hash = h; }", hash_path)
    expect(page.locator("[data-page-title]")).to_have_text(title)


def make_user(server: Server, role: str, *, prefix: str = "", password: str = PASSWORD) -> dict[str, Any]:
    email = f"{prefix or role.lower()}.{uuid.uuid4().hex[:8]}@example.com"
    with server.api(server.token()) as client:
        reply = client.post("/api/users", json={"email": email, "role": role, "password": password})
    assert reply.status_code == 201, reply.text
    user: dict[str, Any] = reply.json()["user"]
    return user


def config_items(server: Server) -> list[dict[str, Any]]:
    with server.api(server.token()) as client:
        reply = client.get("/api/config")
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def audit_records(server: Server, action: str) -> list[dict[str, Any]]:
    """AuditLogs items of one action, read from the embedded store (there is no audit API)."""
    conn = sqlite3.connect(server.data_dir / "wecare.db")
    try:
        rows = conn.execute('SELECT _item FROM "AuditLogs"').fetchall()
    finally:
        conn.close()
    items = [json.loads(row[0]) for row in rows]
    return [item for item in items if item.get("action") == action]


def me_status(server: Server, token: str) -> tuple[int, dict[str, Any]]:
    with server.api(token) as client:
        reply = client.get("/api/me")
    body: dict[str, Any] = reply.json()
    return reply.status_code, body


def login_status(server: Server, email: str, password: str) -> int:
    with server.api() as client:
        return client.post("/api/auth/login", json={"email": email, "password": password}).status_code


def setting(page: Page, key: str) -> Locator:
    return page.locator(f"section.setting[data-key='{key}']")


def field_error(page: Page, control: Locator) -> Locator:
    """The error line that belongs to a control (it is in the control's aria-describedby)."""
    ids = (control.get_attribute("aria-describedby") or "").split()
    errors = [i for i in ids if i.endswith("-error")]
    assert errors, f"no error line in aria-describedby {ids}"
    return page.locator(f"[id='{errors[0]}']")


def token_of(page: Page) -> str:
    token = page.evaluate("(k) => sessionStorage.getItem(k)", TOKEN_KEY)
    assert isinstance(token, str) and token
    return token


# ------------------------------------------------------------------------------------------ settings


def save(page: Page, key: str) -> Locator:
    """Press the key's Save; returns its outcome (the aria-live region of that setting)."""
    setting(page, key).get_by_role("button", name="Save").click()
    return setting(page, key).locator("[aria-live]")


def test_an_admin_changes_settings_they_persist_are_audited_and_a_bad_value_is_refused(
    desktop: Page, server: Server, shots: Path
) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    nav_link = page.locator("#nav").get_by_role("link", name="Settings", exact=True)
    expect(nav_link).to_be_visible()
    nav_link.click()
    expect(page.locator("[data-page-title]")).to_have_text("Settings")
    expect(nav_link).to_have_attribute("aria-current", "page")

    # Every key, with its description and a control of its kind.
    described = {item["key"]: item for item in config_items(server)}
    expect(page.locator("section.setting")).to_have_count(len(described))
    for key, item in described.items():
        expect(setting(page, key)).to_contain_text(key)
        expect(setting(page, key)).to_contain_text(item["description"])
    switch = page.get_by_role("switch", name="AI-suggested replies")
    tier = page.get_by_role("spinbutton", name="WhatsApp tier limit")
    expect(switch).not_to_be_checked()
    expect(tier).to_have_value("")
    expect(page.get_by_role("spinbutton", name="Bulk auto-pause failure rate")).to_have_value("0.2")
    expect(setting(page, "bulk.autoPause.failureRate")).to_contain_text("20 %")

    tier.fill("2500")
    expect(save(page, "whatsapp.tier.limit")).to_contain_text("WhatsApp tier limit saved: 2,500.")
    expect(setting(page, "whatsapp.tier.limit").get_by_test_id("setting-value")).to_have_text("2,500")
    switch.check()
    expect(save(page, "ai.enabled")).to_contain_text("AI-suggested replies saved: On.")

    a_bad_ratio_is_refused(page, server)
    page.screenshot(path=str(shots / "desktop-settings.png"), full_page=True)

    # Persisted: a reload shows the saved values; the API agrees.
    page.reload()
    expect(page.locator("[data-page-title]")).to_have_text("Settings")
    expect(page.get_by_role("switch", name="AI-suggested replies")).to_be_checked()
    expect(page.get_by_role("spinbutton", name="WhatsApp tier limit")).to_have_value("2500")
    expect(page.get_by_role("spinbutton", name="Bulk auto-pause failure rate")).to_have_value("0.2")
    values = {item["key"]: item["value"] for item in config_items(server)}
    assert values["whatsapp.tier.limit"] == 2500
    assert values["ai.enabled"] is True
    assert values["bulk.autoPause.failureRate"] == 0.2

    # Audited: one config.changed record per saved change, none for the refused value.
    changes = {r["resourceId"]: r for r in audit_records(server, "config.changed")}
    assert changes["whatsapp.tier.limit"]["details"] == {"old": None, "new": 2500}
    assert changes["ai.enabled"]["details"] == {"old": False, "new": True}
    assert "bulk.autoPause.failureRate" not in changes


def a_bad_ratio_is_refused(page: Page, server: Server) -> None:
    """A ratio of 5: the server's message by the field, the typed value kept, nothing stored."""
    with server.api(server.token()) as client:
        refused = client.put("/api/config/bulk.autoPause.failureRate", json={"value": 5})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "INVALID_CONFIG_VALUE"
    rate = page.get_by_role("spinbutton", name="Bulk auto-pause failure rate")
    rate.fill("5")
    expect(setting(page, "bulk.autoPause.failureRate")).to_contain_text("500 %")  # the percentage hint
    with page.expect_response(lambda r: r.request.method == "PUT") as answer:
        save(page, "bulk.autoPause.failureRate")
    assert answer.value.status == 422
    expect(field_error(page, rate)).to_have_text(refused.json()["error"]["message"])
    expect(rate).to_have_attribute("aria-invalid", "true")
    expect(rate).to_have_value("5")
    expect(setting(page, "bulk.autoPause.failureRate").get_by_test_id("setting-value")).to_contain_text("0.2")


def test_viewers_and_operators_neither_see_nor_reach_settings(desktop: Page, server: Server) -> None:
    page = desktop
    target = make_user(server, "Viewer", prefix="target")
    for role in ("Viewer", "Operator"):
        user = make_user(server, role)
        sign_in(page, user["email"], PASSWORD)
        expect(page.locator("#account-role")).to_have_text(f"({role})")
        expect(page.locator("#nav").get_by_role("link", name="Settings", exact=True)).to_be_hidden()
        go(page, "#/settings", "Not available to your role")
        expect(page.locator("main")).to_contain_text("This page needs the Admin role")
        assert page.locator("main input, main form").count() == 0

        token = token_of(page)
        with server.api(token) as client:
            assert client.get("/api/config").status_code == 403
            assert client.put("/api/config/ai.enabled", json={"value": True}).status_code == 403
            assert client.post(f"/api/users/{target['userId']}/password").status_code == 403
        # Still signed in, and their own account page is theirs.
        page.locator("#account-link").click()
        expect(page.locator("[data-page-title]")).to_have_text("Your account")
        expect(page.get_by_test_id("account-page-role")).to_have_text(role)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert login_status(server, target["email"], PASSWORD) == 200  # the refused reset changed nothing


# ------------------------------------------------------------------------------------------- account


def password_controls(page: Page) -> tuple[Locator, Locator, Locator]:
    current, new, again = (
        page.get_by_label(label, exact=True)
        for label in ("Current password", "New password", "Repeat new password")
    )
    return current, new, again


def refused_password_changes(page: Page) -> None:
    """Mismatch (caught here, nothing sent), wrong current password, too weak: each by its field."""
    current, new, again = password_controls(page)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/me/password") else None)
    submit = page.get_by_role("button", name="Change password")

    current.fill(PASSWORD)
    new.fill(NEW_PASSWORD)
    again.fill(NEW_PASSWORD + "!")
    submit.click()
    expect(field_error(page, again)).to_have_text("The two new passwords do not match.")
    assert sent == []

    current.fill("not the current password")
    again.fill(NEW_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/api/me/password")) as answer:
        submit.click()
    assert answer.value.status == 422
    assert answer.value.json()["error"]["code"] == "WRONG_PASSWORD"
    expect(field_error(page, current)).to_have_text(answer.value.json()["error"]["message"])
    expect(current).to_be_focused()
    expect(field_error(page, again)).to_be_hidden()

    current.fill(PASSWORD)
    new.fill("short")
    again.fill("short")
    with page.expect_response(lambda r: r.url.endswith("/api/me/password")) as answer:
        submit.click()
    assert answer.value.status == 422
    expect(field_error(page, new)).to_contain_text("at least 10 characters")
    expect(field_error(page, current)).to_be_hidden()
    assert len(sent) == 2


def test_a_user_changes_their_password_and_their_other_sessions_end(
    desktop: Page, browser: Browser, server: Server, shots: Path
) -> None:
    email = make_user(server, "Operator")["email"]
    other_context, other = new_page(browser, server)
    other_errors = PageErrors(other)
    try:
        sign_in(other, email, PASSWORD)
        old_token = token_of(other)

        page = desktop
        sign_in(page, email, PASSWORD)
        before = token_of(page)
        page.get_by_role("link", name="Your account").click()
        expect(page.locator("[data-page-title]")).to_have_text("Your account")
        expect(page.get_by_test_id("account-page-email")).to_have_text(email)
        expect(page.get_by_test_id("account-page-role")).to_have_text("Operator")
        current, new, again = password_controls(page)
        expect(current).to_have_attribute("autocomplete", "current-password")
        expect(new).to_have_attribute("autocomplete", "new-password")
        expect(again).to_have_attribute("autocomplete", "new-password")
        refused_password_changes(page)

        # Right: success, the fields cleared, this tab holds the fresh token.
        current.fill(PASSWORD)
        new.fill(NEW_PASSWORD)
        again.fill(NEW_PASSWORD)
        with page.expect_response(lambda r: r.url.endswith("/api/me/password")) as answer:
            page.get_by_role("button", name="Change password").click()
        assert answer.value.status == 200
        fresh = answer.value.json()["accessToken"]
        expect(page.get_by_test_id("password-outcome")).to_have_text(
            "Password changed. Other sessions have been signed out."
        )
        for control in (current, new, again):
            expect(control).to_have_value("")
        page.screenshot(path=str(shots / "desktop-account.png"), full_page=True)
        assert token_of(page) == fresh != before
        assert me_status(server, fresh)[0] == 200
        status, body = me_status(server, old_token)
        assert status == 401 and body["error"]["details"]["reason"] == "revoked"
        go(page, "#/contacts", "Contacts")  # this tab stays signed in
        expect(page.locator("#account-email")).to_have_text(email)

        # The other browser: its next request ends there, on the sign-in page.
        other.evaluate("(h) => { location.hash = h; }", "#/compliance")
        expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(other.locator("main")).to_contain_text("Your session has ended. Please sign in again.")
        assert other.evaluate("(k) => sessionStorage.getItem(k)", TOKEN_KEY) is None
        assert other_errors.errors == []
    finally:
        other_context.close()

    assert login_status(server, email, NEW_PASSWORD) == 200
    assert login_status(server, email, PASSWORD) == 401


# --------------------------------------------------------------------------------------------- users


def test_an_admin_resets_a_password_and_sees_it_once(desktop: Page, server: Server, shots: Path) -> None:
    user = make_user(server, "Viewer", prefix="reset")
    email = user["email"]
    old_token = server.token(email, PASSWORD)

    page = desktop
    sign_in(page, server.email, server.password)
    go(page, "#/users", "Users")
    reset = page.get_by_role("button", name=f"Reset password of {email}")
    expect(page.locator("tr", has_text=server.email).get_by_role("link", name="Change yours")).to_be_visible()

    # A confirm step first: cancelling changes nothing.
    reset.click()
    confirm = page.get_by_role("group", name=f"Reset the password of {email}")
    expect(confirm).to_contain_text("Every session of this account ends")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(reset).to_be_focused()
    assert me_status(server, old_token)[0] == 200

    reset.click()
    with page.expect_response(lambda r: r.url.endswith(f"/api/users/{user['userId']}/password")) as answer:
        page.get_by_role("button", name="Yes, reset the password").click()
    assert answer.value.status == 200
    assert answer.value.headers.get("cache-control") == "no-store"
    box = page.get_by_test_id("reset-outcome")
    expect(box).to_contain_text(f"New password for {email}")
    expect(box).to_contain_text("shown only once")
    page.screenshot(path=str(shots / "desktop-users-reset.png"), full_page=True)
    shown = box.get_by_test_id("one-time-password")
    expect(shown).to_have_count(1)
    one_time = shown.inner_text()
    assert one_time == answer.value.json()["password"] and len(one_time) >= 12
    assert shown.evaluate("(el) => el.tagName") == "CODE"

    # It signs in; the old password does not; the old session has ended.
    assert server.token(email, one_time)
    assert login_status(server, email, PASSWORD) == 401
    status, body = me_status(server, old_token)
    assert status == 401 and body["error"]["details"]["reason"] == "revoked"
    record = [r for r in audit_records(server, "user.password_change") if r["resourceId"] == user["userId"]]
    assert record and record[-1]["details"]["sessionsEnded"] is True

    # Shown once: hidden on request, and never again after a reload.
    box.get_by_role("button", name="Done, hide it").click()
    expect(page.get_by_test_id("one-time-password")).to_have_count(0)
    page.reload()
    expect(page.locator("[data-page-title]")).to_have_text("Users")
    expect(page.get_by_test_id("one-time-password")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(one_time)


# ----------------------------------------------------------------------------------------- 320 px


def test_settings_account_and_users_fit_a_320px_screen(mobile: Page, server: Server, shots: Path) -> None:
    page = mobile
    assert page.viewport_size == MOBILE
    long_user = make_user(server, "Operator", prefix="a.very.long.address.for.narrow.screens")
    sign_in(page, server.email, server.password)

    def fits(where: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        slug = where.strip("#/").replace(" ", "-").replace("/", "_")
        page.screenshot(path=str(shots / f"mobile-{slug}.png"), full_page=True)
        assert width <= 320, f"{where} scrolls sideways: {width}px"

    # The account page is reached from the menu.
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Your account").click()
    expect(page.locator("[data-page-title]")).to_have_text("Your account")
    fits("#/account")
    current = page.get_by_label("Current password", exact=True)
    current.fill("not the current password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat new password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(field_error(page, current)).to_be_visible()
    fits("#/account with an error")

    go(page, "#/settings", "Settings")
    fits("#/settings")
    rate = page.get_by_role("spinbutton", name="Bulk auto-pause failure rate")
    rate.fill("5")
    setting(page, "bulk.autoPause.failureRate").get_by_role("button", name="Save").click()
    expect(field_error(page, rate)).to_be_visible()
    fits("#/settings with an error")

    go(page, "#/users", "Users")
    fits("#/users")
    page.get_by_role("button", name=f"Reset password of {long_user['email']}").click()
    page.get_by_role("button", name="Yes, reset the password").click()
    expect(page.get_by_test_id("one-time-password")).to_be_visible()
    fits("#/users with a one-time password")


def test_the_kill_switch_pauses_sending_with_a_banner_for_everyone_and_is_released(
    desktop: Page, browser: Browser, server: Server, shots: Path
) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    go(page, "#/settings", "Settings")
    panel = setting(page, "sending.paused")
    expect(panel.get_by_test_id("setting-value")).to_have_text("Sending runs")
    panel.get_by_role("button", name="Pause sending").click()
    expect(panel).to_contain_text("Tick the channels to pause")  # nothing ticked: nothing sent
    panel.get_by_label("SMS").check()
    panel.get_by_label("Reason (shown to everyone)").fill("Carrier incident, SMS on hold")
    with page.expect_response(lambda r: r.request.method == "PUT") as answer:
        panel.get_by_role("button", name="Pause sending").click()
    assert answer.value.status == 200
    expect(panel.get_by_test_id("setting-value")).to_contain_text("Paused: SMS — Carrier incident")
    banner = page.locator("#sending-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Sending is paused (SMS). Carrier incident, SMS on hold")
    page.screenshot(path=str(shots / "desktop-kill-switch.png"), full_page=True)

    # An Operator, in another browser, sees the banner on any page; their SMS send is refused.
    operator = make_user(server, "Operator", prefix="switch")
    context, other = new_page(browser, server)
    try:
        sign_in(other, operator["email"], PASSWORD)
        expect(other.locator("#sending-banner")).to_contain_text("Sending is paused (SMS)")
    finally:
        context.close()
    with server.api(server.token()) as client:
        contact = client.post(
            "/api/contacts", json={"name": "Switch Check", "phone": "+14155554001", "optInSms": True}
        ).json()
        refused = client.post(
            "/api/messages",
            json={"contactId": contact["contactId"], "channel": "sms", "text": {"body": "hi"}},
        )
    assert refused.status_code == 422
    assert [r["code"] for r in refused.json()["error"]["details"]["reasons"]] == ["SENDING_PAUSED"]

    panel.get_by_role("button", name="Release").click()
    expect(panel.get_by_test_id("setting-value")).to_have_text("Sending runs")
    expect(banner).to_be_hidden()
    changes = [r for r in audit_records(server, "config.changed") if r["resourceId"] == "sending.paused"]
    # Both audited, each with the value before it (the table is read in key order, not time order).
    assert sorted(([c["details"]["old"], c["details"]["new"]] for c in changes), key=str) == sorted(
        [
            [False, {"channels": ["sms"], "reason": "Carrier incident, SMS on hold"}],
            [{"channels": ["sms"], "reason": "Carrier incident, SMS on hold"}, False],
        ],
        key=str,
    )
