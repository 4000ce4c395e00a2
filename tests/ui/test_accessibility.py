"""Accessibility of every page, in a real headless Chromium against `wecare serve` on the demo data.

- axe-core (vendored in tests/ui/vendor/, injected into the page: no network) scans every page of the UI at
  1280 px and at 320 px, signed in as the Admin, and finds no violation of impact "serious" or "critical".
- Every page is saved as a screenshot at both widths, `reports/screenshots/<page>-<width>.png` (the CI
  artefacts folder, ignored by git).
- Visible focus: every control that Tab reaches in every page's content, and the sidebar's, shows an outline
  or a box-shadow (its own, or the ring of the row it covers).
- Keyboard only: sign in, open a conversation from the DM inbox and send a reply from the composer, with Tab,
  Enter and typing alone; every control reached on the way shows its focus.
- The UI's own font (gateway/ui/fonts/) is served with a font type and is the face the text renders in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.ui.conftest import running_demo
from tests.ui.harness import (
    DESKTOP,
    MOBILE,
    REPO,
    PageErrors,
    Server,
    create_contact,
    new_page,
    sign_in,
)

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SHOTS = REPO / "reports" / "screenshots"
BLOCKING = ("serious", "critical")
WIDTHS = {1280: DESKTOP, 320: MOBILE}
MAX_TABS = 60
# The demo's contact with an open WhatsApp window and a conversation (gateway/demo.py).
CONTACT = "Amelia Hughes"
CJK_NAME = "陈美玲 🌸"


@dataclass(frozen=True)
class Route:
    name: str  # the screenshot's name
    hash: str
    title: str | None = None  # the page's heading, when it is fixed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo data dir (`wecare demo`): contacts, a conversation, a refusal and a dead letter to show."""
    root = tmp_path_factory.mktemp("wecare-a11y")
    with running_demo(root) as started:
        yield started


@pytest.fixture(scope="module")
def routes(server: Server) -> list[Route]:
    """Every route of gateway/ui/js/app.js, those with an id on one of the demo's records."""
    token = server.token()
    # A name in Chinese with an emoji: the screenshots show the CJK and emoji fallback fonts at work.
    create_contact(server, token, name=CJK_NAME, email="chen.meiling@example.com")
    with server.api(token) as client:
        contacts = client.get("/api/contacts", params={"q": CONTACT}).json()["items"]
        contact_id = next(c["contactId"] for c in contacts if c.get("name") == CONTACT)
        messages = client.get("/api/messages", params={"contactId": contact_id}).json()["items"]
        refused = client.get("/api/messages", params={"status": "rejected"}).json()["items"][0]
    outbound = next(m for m in messages if m.get("direction") == "outbound")
    return [
        Route("contacts", "#/contacts", "Contacts"),
        Route("contact", f"#/contacts/{contact_id}", CONTACT),
        Route("dm", "#/dm", "DM (WhatsApp/SMS/SES)"),
        Route("dm-conversation", f"#/dm/{contact_id}", CONTACT),
        Route("message", f"#/messages/{outbound['messageId']}", "Message"),
        Route("message-refused", f"#/messages/{refused['messageId']}", "Message"),
        Route("compliance", "#/compliance", "Compliance"),
        Route("compliance-policies", "#/compliance/policies", "Compliance"),
        Route("dlq", "#/dlq", "Dead letters"),
        Route("users", "#/users", "Users"),
        Route("settings", "#/settings", "Settings"),
        Route("account", "#/account", "Your account"),
        Route("bulk", "#/bulk", "Bulk Messaging"),
        Route("agent", "#/agent", "Agent"),
        Route("pay", "#/pay"),
        Route("not-found", "#/no-such-page", "Page not found"),
    ]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A/AA and best-practice rules).

    axe is loaded by the context's init script (see ``with_axe``): the page's CSP allows no inline script,
    so `add_script_tag` would be refused, and the scan keeps the CSP the product runs with.
    """
    assert page.evaluate("() => typeof window.axe === 'object'"), "axe-core is not loaded"
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({ target: n.target.join(" "), impact: n.impact,
                    html: n.html.slice(0, 200), summary: n.failureSummary })),
            }));
        }"""
    )
    return found


def with_axe(context: BrowserContext) -> None:
    """Every document of ``context`` gets axe-core from tests/ui/vendor/ before its own scripts run."""
    context.add_init_script(path=str(AXE))


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(where: str, violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{where}: [{v['impact']}] {v['id']} — {v['help']}")
        for node in v["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {node['html']}\n      {summary}")
    return "\n".join(lines)


def open_route(page: Page, route: Route) -> None:
    """Go to a route inside the app (hash change, no reload) and wait until its content is on screen."""
    page.evaluate("(h) => { location.hash = h; }", route.hash)
    heading = page.locator("main [data-page-title]")
    if route.title:
        expect(heading).to_have_text(route.title)
    else:
        expect(heading).to_be_visible()
    # Lists and panels that load after the heading: no "Loading…" left, and the web font is in.
    expect(page.locator("main [role=status]", has_text="Loading…")).to_have_count(0)
    page.evaluate("() => document.fonts.ready.then(() => true)")


def screenshot(page: Page, name: str, width: int, *, full_page: bool = True) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_every_page_has_no_serious_axe_violation_and_is_saved_as_a_screenshot(
    browser: Browser, server: Server, routes: list[Route], width: int
) -> None:
    context, page = new_page(browser, server, WIDTHS[width])
    with_axe(context)
    errors = PageErrors(page)
    problems: list[str] = []
    saved: list[Path] = []
    try:
        page.goto("/")
        expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
        page.evaluate("() => document.fonts.ready.then(() => true)")
        problems.append(describe("signin", blocking(axe_violations(page))))
        saved.append(screenshot(page, "signin", width))
        # A refused sign-in: the error notice and the form around it.
        page.get_by_label("E-mail").fill(server.email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Could not sign in")
        problems.append(describe("signin-error", blocking(axe_violations(page))))
        saved.append(screenshot(page, "signin-error", width))

        sign_in(page, server.email, server.password)
        for route in routes:
            open_route(page, route)
            problems.append(describe(route.name, blocking(axe_violations(page))))
            saved.append(screenshot(page, route.name, width))

        if width == 320:
            # The small-screen menu, open over the page.
            open_route(page, routes[0])
            page.get_by_role("button", name="Menu").click()
            expect(page.locator("#nav")).to_be_visible()
            problems.append(describe("menu", blocking(axe_violations(page))))
            saved.append(screenshot(page, "menu", width, full_page=False))  # the menu is one screen
    finally:
        context.close()

    report = "\n".join(p for p in problems if p)
    assert not report, f"axe-core found serious or critical violations at {width} px:\n{report}"
    for path in saved:
        assert path.is_file() and path.stat().st_size > 0, f"screenshot not saved: {path}"
    assert errors.errors == [], f"uncaught JavaScript errors: {errors.errors}"


# ------------------------------------------------------------------------------------------ keyboard

# What the focused element shows: its own outline or box-shadow, or (a row whose link covers it, say) the
# ring that an ancestor draws while it has the focus within (`:focus-within`), at most 3 levels up.
FOCUS_STYLE = """(el) => {
    const ring = (node) => {
        const style = getComputedStyle(node);
        const outline = style.outlineStyle !== "none" && (parseFloat(style.outlineWidth) || 0) > 0;
        return outline || style.boxShadow !== "none";
    };
    let shownBy = ring(el) ? "self" : "";
    let node = el.parentElement;
    for (let up = 1; !shownBy && node && up <= 3; up += 1, node = node.parentElement) {
        if (node.matches(":focus-within") && ring(node)) shownBy = `${node.tagName} ${node.className}`;
    }
    const name = el.getAttribute("aria-label") || el.textContent || el.name || "";
    const style = getComputedStyle(el);
    return { tag: el.tagName.toLowerCase(), text: name.trim().slice(0, 60), shownBy,
             outline: `${style.outlineStyle} ${style.outlineWidth}`, boxShadow: style.boxShadow,
             focusVisible: el.matches(":focus-visible") };
}"""


def focus_shown(style: dict[str, Any]) -> bool:
    return bool(style["shownBy"])


def active(page: Page) -> dict[str, Any]:
    style: dict[str, Any] = page.evaluate(f"() => ({FOCUS_STYLE})(document.activeElement)")
    return style


def tab_to(page: Page, selector: str, *, shift: bool = False) -> list[dict[str, Any]]:
    """Press Tab (Shift+Tab) until an element that matches ``selector`` has the focus; the focus styles
    of the controls on the way.

    Fails when none is reached within MAX_TABS presses or when a control on the way shows no focus.
    """
    expect(page.locator(selector).first).to_be_visible()
    seen: list[dict[str, Any]] = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab" if shift else "Tab")
        style = active(page)
        seen.append(style)
        assert style["tag"] == "body" or focus_shown(style), f"no visible focus on {style}"
        if page.evaluate("(sel) => Boolean(document.activeElement?.matches(sel))", selector):
            return seen
    pytest.fail(f"{selector} not reached with {MAX_TABS} Tab presses; focus went through {seen}")


def test_focus_is_visible_on_every_control_tabbed_to(desktop: Page, server: Server) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    open_route(page, Route("contacts", "#/contacts", "Contacts"))
    page.locator("main [data-page-title]").focus()
    # Through the page, its controls and on into the sidebar again; each one shows its focus.
    seen = tab_to(page, "#sign-out")
    kinds = {style["tag"] for style in seen}
    assert {"a", "button", "input"} <= kinds, kinds
    button = page.get_by_role("button", name="Sign out")
    style: dict[str, Any] = button.evaluate(FOCUS_STYLE)
    assert style["focusVisible"], style
    assert style["shownBy"] == "self", f"the focused button shows no outline or box-shadow: {style}"


def test_every_tab_stop_of_every_page_shows_its_focus(
    desktop: Page, server: Server, routes: list[Route]
) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    missing: list[str] = []
    for route in routes:
        open_route(page, route)
        page.locator("main [data-page-title]").focus()
        for _ in range(120):
            page.keyboard.press("Tab")
            if not page.evaluate("() => Boolean(document.activeElement?.closest('main'))"):
                break  # out of the page's content (past its last control)
            style = active(page)
            if not focus_shown(style):
                missing.append(f"{route.name}: {style}")
    assert not missing, "controls that show no focus when tabbed to:\n" + "\n".join(missing)


def test_the_inbox_and_the_composer_work_with_the_keyboard_alone(desktop: Page, server: Server) -> None:
    page = desktop
    with server.api(server.token()) as client:
        found = client.get("/api/contacts", params={"q": CONTACT}).json()["items"]
    contact_id = next(c["contactId"] for c in found if c.get("name") == CONTACT)

    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    # Sign in: the e-mail box, then Tab, the password and Enter.
    tab_to(page, "main input[autocomplete=username]")
    page.keyboard.type(server.email)
    page.keyboard.press("Tab")
    page.keyboard.type(server.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible()

    # The DM inbox from the main navigation, then the contact's conversation from it.
    tab_to(page, "#nav a[href='#/dm']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="DM (WhatsApp/SMS/SES)", level=1)).to_be_visible()
    tab_to(page, f"main a[href='#/dm/{contact_id}']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=CONTACT, level=1)).to_be_visible()
    thread = page.locator("ol.conversation")
    expect(thread).to_contain_text("Can I move my appointment to Friday afternoon?")

    # The composer: WhatsApp text is the default; type the message, then Send with the keyboard.
    reply = "Friday at 4 pm works too, see you then."
    tab_to(page, "main form[aria-labelledby=compose-title] textarea[name=body]")
    page.keyboard.type(reply)
    tab_to(page, "main form[aria-labelledby=compose-title] button[type=submit]")
    expect(page.locator(":focus")).to_have_text("Send")
    page.keyboard.press("Enter")
    outcome = page.locator("#send-outcome")
    expect(outcome).to_contain_text("Sent")
    expect(thread).to_contain_text(reply)

    # The outcome's link to the message and its decision, by keyboard too.
    tab_to(page, "#send-outcome a[href^='#/messages/']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Message", level=1)).to_be_visible()


# ---------------------------------------------------------------------------------------------- font


def test_the_ui_font_is_served_and_used(browser: Browser, server: Server) -> None:
    with server.api() as client:
        reply = client.get("/fonts/LiberationSans-Regular.ttf")
        licence = client.get("/fonts/LICENSE-LiberationSans.txt")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "font/ttf"
    assert reply.content[:4] == b"\x00\x01\x00\x00"  # a TrueType file
    assert licence.status_code == 200 and "SIL OPEN FONT LICENSE Version 1.1" in licence.text

    context, page = new_page(browser, server, DESKTOP)
    try:
        page.goto("/")
        expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
        state: dict[str, Any] = page.evaluate(
            """async () => {
                await document.fonts.ready;
                const face = [...document.fonts].find((f) => f.family.replace(/"/g, "") === "WECARE Sans");
                return { status: face ? face.status : "absent", weight: face ? face.weight : "",
                         display: face ? face.display : "",
                         family: getComputedStyle(document.body).fontFamily,
                         weightUsed: getComputedStyle(document.querySelector("h1")).fontWeight,
                         ready: document.fonts.check('300 16px "WECARE Sans"') };
            }"""
        )
    finally:
        context.close()
    assert state["status"] == "loaded", state
    assert state["weight"] == "300" and state["display"] == "swap", state
    assert state["ready"], state
    assert state["family"].startswith('"WECARE Sans"'), state
    assert "Noto Sans CJK SC" in state["family"] and "Noto Color Emoji" in state["family"], state
    assert state["weightUsed"] == "300", state
