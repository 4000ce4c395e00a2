"""The demo data dir (`wecare demo`) in the browser: what the README's quick tour promises is there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import running_demo
from tests.ui.harness import Server, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("wecare-demo")
    with running_demo(root) as started:
        yield started


def test_the_quick_tour_finds_the_conversation_the_refusal_and_the_dead_letter(
    desktop: Page, server: Server
) -> None:
    page = desktop
    sign_in(page, server.email, server.password)
    for name in ("Amelia Hughes", "Ben Carter", "Chloe Evans", "Daniel Okafor"):
        expect(page.locator("main")).to_contain_text(name)

    # DM: the conversation dated now, its window open, the reply sent into it.
    page.locator("#nav").get_by_role("link", name="DM (WhatsApp/SMS/SES)").click()
    page.get_by_role("link", name="Amelia Hughes").first.click()
    expect(page.locator("#window-state")).to_have_attribute("data-open", "true")
    conversation = page.locator("ol.conversation")
    expect(conversation).to_contain_text("Can I move my appointment to Friday afternoon?")
    expect(conversation).to_contain_text("Friday at 3 pm is free")
    # A message's page names its contact (a link to it), not an id.
    conversation.locator("li.outbound").first.get_by_role("link", name="Details and decision").click()
    expect(page.get_by_test_id("message-contact")).to_have_text("Amelia Hughes")

    # Compliance: why the free-form text to Ben was refused.
    page.locator("#nav").get_by_role("link", name="Compliance").click()
    page.get_by_label("Reason").select_option("TEMPLATE_REQUIRED")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main table.data tbody tr").first).to_contain_text("TEMPLATE_REQUIRED")

    # Dead letters: the unreadable event, ready to look at.
    page.locator("#nav").get_by_role("link", name="Dead letters").click()
    expect(page.locator("main")).to_contain_text("inbound-dlq")
    expect(page.get_by_role("table")).to_be_visible()
