// Contact search with cursor paging (GET /api/contacts?q=&limit=&cursor=), shared by Contacts and DM.

import { h, nextId, replace } from "./dom.js";
import { get, isAbort, seg, withQuery } from "./api.js";
import { badge, errorNotice, morePager } from "./components.js";
import { contactLabel, formatTime, plural, windowState } from "./format.js";

const PAGE_SIZE = 20;

/**
 * @param {{signal: AbortSignal, hrefFor: (contact: any) => string, actionLabel?: string,
 *   initial: {items: any[], cursor: string | null}}} options
 */
export function contactSearch({ signal, hrefFor, actionLabel, initial }) {
  // Label above, then the box and its button on one line, then the hint.
  const input = h("input", { type: "search", name: "q", id: nextId("search"), autocomplete: "off",
    "aria-describedby": "contact-search-hint" });
  const submit = h("button", { type: "submit", text: "Search" });
  const search = h("div", { class: "field" },
    h("label", { class: "label", for: input.id, text: "Search contacts" }),
    h("div", { class: "search-row" }, input, submit),
    h("span", { class: "hint", id: "contact-search-hint", text: "Name, phone or e-mail; leave empty to list all." }));
  const status = h("p", { class: "muted", role: "status" });
  const list = h("ul", { class: "list", "aria-label": "Contacts" });
  const problems = h("div");
  let query = "";
  let shown = 0;

  const pager = morePager("Load more contacts", async (cursor) => {
    await load(cursor);
  });

  function row(contact) {
    const win = windowState(contact);
    const optIns = [
      contact.optInWhatsApp ? badge("WhatsApp opt-in", "ok") : null,
      contact.optInSms ? badge("SMS opt-in", "ok") : null,
      contact.optInEmail ? badge("Email opt-in", "ok") : null,
    ].filter(Boolean);
    return h("li", { dataset: { contactId: contact.contactId } },
      h("div", { class: "row-main" },
        h("a", { class: "row-title", href: hrefFor(contact), text: contactLabel(contact) }),
        h("div", { class: "badges" }, optIns.length ? optIns : badge("no opt-in"))),
      h("div", { class: "row-meta" },
        contact.phone ? h("span", { text: contact.phone }) : null,
        contact.email ? h("span", { text: contact.email }) : null,
        contact.phone
          ? h("span", { text: win.open ? `WhatsApp window open until ${formatTime(win.expiresAt)}` : "WhatsApp window closed" })
          : null,
        actionLabel ? h("a", { href: hrefFor(contact), text: actionLabel, "aria-label": `${actionLabel}: ${contactLabel(contact)}` }) : null));
  }

  function show(page, appendRows) {
    if (!appendRows) {
      replace(list);
      shown = 0;
    }
    for (const contact of page.items || []) list.append(row(contact));
    shown += (page.items || []).length;
    pager.set(page.cursor);
    const what = query ? `matching “${query}”` : "";
    status.textContent = shown
      ? `Showing ${plural(shown, "contact")} ${what}`.trim() + (page.cursor ? "; more available." : ".")
      : query ? `No contacts match “${query}”.` : "No contacts yet.";
  }

  async function load(cursor) {
    replace(problems);
    try {
      const page = await get(withQuery("/api/contacts", { q: query, limit: PAGE_SIZE, cursor }), { signal });
      show(page, Boolean(cursor));
    } catch (err) {
      if (!isAbort(err) && err.status !== 401) replace(problems, errorNotice(err, "Could not load contacts"));
    }
  }

  const form = h("form", { role: "search" }, search);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    query = input.value.trim();
    submit.disabled = true;
    try {
      await load(null);
    } finally {
      submit.disabled = false;
    }
  });

  show(initial, false);
  const element = h("div", { class: "contact-search" }, form, problems, status, list, pager.element);
  element.reload = () => load(null);
  return element;
}

export async function firstContactsPage(signal) {
  return get(withQuery("/api/contacts", { limit: PAGE_SIZE }), { signal });
}

export function contactHref(contact) {
  return `#/contacts/${seg(contact.contactId)}`;
}
