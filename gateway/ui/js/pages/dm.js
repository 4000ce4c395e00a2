// DM (WhatsApp/SMS/SES): pick a contact (#/dm), then compose and read the conversation (#/dm/<id>).
// Each compose gets its own Idempotency-Key, so a retried click never sends twice.

import { announce, h, replace } from "../dom.js";
import { call, get, isAbort, newIdempotencyKey, post, seg, withQuery } from "../api.js";
import {
  badge, decisionBadge, errorNotice, field, morePager, notice, pageHead, radios, reasonList, statusBadge,
} from "../components.js";
import { contactSearch, firstContactsPage } from "../contact-search.js";
import { channelName, contactLabel, contentText, formatTime, windowState } from "../format.js";
import { can } from "../session.js";
import { canActOnSuggestions, suggestionCard } from "../suggestion.js";

const LIMITS = { whatsapp: 4096, sms: 1600 };
const CONVERSATION_PAGE = 30;

export async function dmPickPage(ctx) {
  const initial = await firstContactsPage(ctx.signal);
  return h("section", null,
    pageHead("DM (WhatsApp/SMS/SES)", "Choose a contact to message or to read the conversation with."),
    contactSearch({
      signal: ctx.signal,
      hrefFor: (c) => `#/dm/${seg(c.contactId)}`,
      actionLabel: "Open conversation",
      initial,
    }));
}

// ----------------------------------------------------------------------------------- conversation

function bubble(message) {
  const inbound = message.direction === "inbound";
  const decision = message.decision || null;
  const refused = decision && decision.allowed === false ? decision.reasons || [] : [];
  return h("li", { class: `bubble ${inbound ? "inbound" : "outbound"}`, dataset: { messageId: message.messageId } },
    h("div", { class: "meta" },
      h("span", { text: inbound ? "From contact" : "To contact" }),
      h("span", { text: channelName(message.channel) }),
      h("time", { text: formatTime(message.timestamp) }),
      statusBadge(message.status),
      // "rejected" already says the policy refused it.
      inbound || message.status === "rejected" ? null : decisionBadge(decision)),
    h("p", { class: "body", text: contentText(message) || "(no content)" }),
    refused.length ? h("div", { class: "badges" }, refused.map((code) => badge(code, "bad"))) : null,
    h("div", { class: "meta" },
      h("a", { href: `#/messages/${seg(message.messageId)}`, text: inbound ? "Details" : "Details and decision" })));
}

function conversation(contactId, signal) {
  const list = h("ol", { class: "conversation", "aria-label": "Messages, newest first" });
  const status = h("p", { class: "muted", role: "status" });
  const problems = h("div");
  const refresh = h("button", { type: "button", class: "small", text: "Refresh" });
  let count = 0;
  const pager = morePager("Load older messages", (cursor) => load(cursor));

  async function load(cursor) {
    replace(problems);
    try {
      const page = await get(withQuery("/api/messages", { contactId, limit: CONVERSATION_PAGE, cursor }), { signal });
      if (!cursor) {
        replace(list);
        count = 0;
      }
      for (const message of page.items || []) list.append(bubble(message));
      count += (page.items || []).length;
      pager.set(page.cursor);
      status.textContent = count ? "" : "No messages with this contact yet.";
    } catch (err) {
      if (!isAbort(err) && err.status !== 401) replace(problems, errorNotice(err, "Could not load the conversation"));
    }
  }
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    await load(null);
    refresh.disabled = false;
    announce("Conversation refreshed.");
  });

  const element = h("section", { "aria-labelledby": "conversation-title" },
    h("div", { class: "page-head" }, h("h2", { id: "conversation-title", text: "Conversation" }), refresh),
    problems, status, list, pager.element);
  return { element, load };
}

// ---------------------------------------------------------------------------------------- compose

function allowlistFrom(bundle) {
  const list = bundle && bundle.params && bundle.params.whatsapp && bundle.params.whatsapp.allowlist;
  return Array.isArray(list) ? list.filter((id) => typeof id === "string") : [];
}

function outcomeSent(status, data) {
  const message = (data && data.message) || {};
  const id = message.messageId || "";
  const dryRun = message.sendMode === "DRY_RUN";
  return notice("ok", status === 202 ? "Accepted — still sending" : "Sent",
    h("p", null, "Message id: ", h("span", { class: "code id", "data-message-id": id, text: id })),
    h("p", null, "Status: ", statusBadge(message.status)),
    dryRun ? h("p", { text: "DRY_RUN: recorded in the outbox, not delivered — this server does not send to real recipients." }) : null,
    data && data.replayed ? h("p", { text: "This repeated an earlier request with the same key; nothing was sent twice." }) : null,
    id ? h("p", null, h("a", { href: `#/messages/${seg(id)}`, text: "Open the message and its decision (why was this sent?)" })) : null);
}

function outcomeRefused(err) {
  const details = err.details || {};
  const reasons = Array.isArray(details.reasons) ? details.reasons : [];
  const warnings = Array.isArray(details.warnings) ? details.warnings : [];
  const box = notice("error", "Not sent — refused by policy",
    h("p", { text: err.message }),
    reasonList(reasons),
    warnings.length ? h("p", null, "Warnings: ", warnings.map((w) => [badge(String(w), "warn"), " "])) : null,
    details.messageId
      ? h("p", null, h("a", { href: `#/messages/${seg(details.messageId)}`, text: "See the full decision (why was this refused?)" }))
      : null);
  box.setAttribute("role", "alert");
  return box;
}

function outcomeFailed(err) {
  const box = errorNotice(err, "Not sent");
  const id = err.details && err.details.messageId;
  if (id) box.append(h("p", null, h("a", { href: `#/messages/${seg(id)}`, text: "Open the stored message" })));
  return box;
}

function composer(contact, bundle, onSent) {
  const defaultChannel = contact.phone ? "whatsapp" : contact.email ? "email" : "whatsapp";
  const channel = radios("Channel", "channel", [["whatsapp", "WhatsApp"], ["sms", "SMS"], ["email", "Email"]], defaultChannel);
  const kind = radios("WhatsApp message type", "kind", [["text", "Text"], ["template", "Template"]], "text");
  const senders = allowlistFrom(bundle);
  const from = field({
    label: "From WhatsApp number", name: "phoneNumberId",
    options: [["", "Default sender"], ...senders.map((id) => [id, id])],
    hint: "Only allowlisted phone-number ids can send.",
  });
  const body = field({ label: "Message", name: "body", multiline: true });
  const counter = h("p", { class: "counter", "aria-live": "off" });
  const templateName = field({ label: "Template name", name: "templateName", autocomplete: "off", placeholder: "e.g. order_update" });
  const templateLanguage = field({ label: "Template language", name: "templateLanguage", value: "en_US", autocomplete: "off" });
  const subject = field({ label: "Subject", name: "subject", autocomplete: "off" });
  const emailText = field({ label: "Text body", name: "emailText", multiline: true });
  const emailHtml = field({
    label: "HTML body (optional)", name: "emailHtml", multiline: true,
    hint: "Sent as the HTML part of the e-mail; this page shows it only as text.",
  });

  const whatsappGroup = h("div", null, kind, from);
  const textGroup = h("div", null, body, counter);
  const templateGroup = h("div", { class: "grid-2" }, templateName, templateLanguage);
  const emailGroup = h("div", null, subject, emailText, emailHtml);
  const submit = h("button", { type: "submit", text: "Send" });
  const outcome = h("div", { class: "outcome", "aria-live": "polite", id: "send-outcome" });
  const form = h("form", { "aria-labelledby": "compose-title" },
    channel, whatsappGroup, textGroup, templateGroup, emailGroup,
    h("div", { class: "actions" }, submit));

  let key = null; // one Idempotency-Key per compose: kept for a retry of the same content only

  function sync() {
    const ch = channel.value();
    const isTemplate = ch === "whatsapp" && kind.value() === "template";
    whatsappGroup.hidden = ch !== "whatsapp";
    textGroup.hidden = ch === "email" || isTemplate;
    templateGroup.hidden = !isTemplate;
    emailGroup.hidden = ch !== "email";
    const limit = LIMITS[ch];
    const length = [...body.input.value].length;
    counter.textContent = limit ? `${length} / ${limit} characters` : "";
  }
  form.addEventListener("input", () => {
    key = null;
    sync();
  });
  form.addEventListener("change", sync);

  function payload() {
    const ch = channel.value();
    const out = { contactId: contact.contactId, channel: ch };
    if (ch === "email") {
      out.email = { subject: subject.input.value };
      if (emailText.input.value) out.email.text = emailText.input.value;
      if (emailHtml.input.value) out.email.html = emailHtml.input.value;
      return out;
    }
    if (ch === "whatsapp") {
      if (from.input.value) out.phoneNumberId = from.input.value;
      if (kind.value() === "template") {
        out.template = { name: templateName.input.value.trim(), language: templateLanguage.input.value.trim() };
        return out;
      }
    }
    out.text = { body: body.input.value };
    return out;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!key) key = newIdempotencyKey();
    submit.disabled = true;
    replace(outcome, h("p", { class: "muted", text: "Sending…" }));
    let definitive = true;
    try {
      const { status, data } = await call("POST", "/api/messages", {
        body: payload(),
        headers: { "Idempotency-Key": key },
      });
      replace(outcome, outcomeSent(status, data));
      announce(status === 202 ? "Accepted, still sending." : "Sent.");
      body.input.value = "";
      emailText.input.value = "";
      emailHtml.input.value = "";
      sync();
    } catch (err) {
      if (err && err.status === 401) return;
      // Only a lost answer, a rate limit or a server fault may be retried with the same key.
      definitive = !(err.status === 0 || err.status === 429 || err.status >= 500);
      replace(outcome, err.code === "POLICY_DENIED" ? outcomeRefused(err) : outcomeFailed(err));
      announce(err.code === "POLICY_DENIED" ? "Not sent: refused by policy." : "Not sent.");
    } finally {
      if (definitive) key = null;
      submit.disabled = false;
      onSent();
    }
  });

  sync();
  return h("section", { class: "panel", "aria-labelledby": "compose-title" },
    h("h2", { id: "compose-title", text: "New message" }), form, outcome);
}

// ------------------------------------------------------------------------------- AI suggestion

// The newest pending AI-suggested reply for this contact, with the Agent page's controls: approving
// it sends through the gateway like the composer does. Operators can ask for one.
function suggestionPanel(contact, signal, onSent) {
  const body = h("div");
  const section = h("section", { class: "panel ai-inline", "aria-labelledby": "ai-inline-title", "data-testid": "dm-suggestion", hidden: true },
    h("div", { class: "page-head" },
      h("h2", { id: "ai-inline-title", text: "Suggested reply" }),
      h("a", { href: "#/agent", text: "All suggestions" })),
    body);
  const actor = canActOnSuggestions();

  function askButton() {
    const button = h("button", { type: "button", text: "Ask for a suggestion" });
    const outcome = h("div", { "aria-live": "polite" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      replace(outcome, h("p", { class: "muted", text: "Asking for a suggestion…" }));
      try {
        await post("/api/ai/suggestions", { contactId: contact.contactId }, { signal });
        await load(true);
        announce("A new suggestion is ready.");
      } catch (err) {
        if (isAbort(err) || err.status === 401) return;
        replace(outcome, errorNotice(err, "Could not ask for a suggestion"));
        button.disabled = false;
      }
    });
    return [h("div", { class: "actions" }, button), outcome];
  }

  async function load(focus = false) {
    let page;
    try {
      page = await get(withQuery("/api/ai/suggestions", { contactId: contact.contactId, status: "pending", limit: 5 }), { signal });
    } catch (err) {
      if (isAbort(err) || err.status === 401) return;
      section.hidden = false;
      replace(body, errorNotice(err, "Could not load the suggested replies"));
      return;
    }
    const items = page.items || [];
    const canAsk = actor && typeof contact.lastInboundMessageAt === "number";
    section.hidden = !items.length && !canAsk;
    if (!items.length) {
      replace(body, h("p", { class: "muted", text: "No suggested reply is waiting for this conversation." }), canAsk ? askButton() : null);
      return;
    }
    const card = suggestionCard(items[0], {
      contact, signal, level: 3,
      title: (item) => (item.status === "pending" ? "Waiting for approval" : `Suggestion ${item.status}`),
      onResolved: () => onSent(),
      onAsked: () => load(true),
    });
    replace(body, card,
      items.length > 1
        ? h("p", { class: "muted" }, `${items.length - 1} older ${items.length === 2 ? "suggestion is" : "suggestions are"} waiting too: `,
          h("a", { href: "#/agent", text: "see the Agent page" }), ".")
        : null);
    if (focus) {
      const title = card.querySelector(".suggestion-title");
      if (title) {
        title.setAttribute("tabindex", "-1");
        title.focus();
      }
    }
  }
  return { element: section, load };
}

function contactStrip(contact) {
  const win = windowState(contact);
  return h("div", { class: "panel stack" },
    h("div", { class: "row-meta" },
      contact.phone ? h("span", { text: contact.phone }) : null,
      contact.email ? h("span", { text: contact.email }) : null),
    h("div", { class: "badges" },
      badge(contact.optInWhatsApp ? "WhatsApp opt-in" : "no WhatsApp opt-in", contact.optInWhatsApp ? "ok" : ""),
      badge(contact.optInSms ? "SMS opt-in" : "no SMS opt-in", contact.optInSms ? "ok" : ""),
      badge(contact.optInEmail ? "Email opt-in" : "no Email opt-in", contact.optInEmail ? "ok" : "")),
    contact.phone
      ? h("p", { class: "window", id: "window-state", dataset: { open: String(win.open) } },
        h("span", { class: "muted", text: "WhatsApp window:" }), h("span", { text: win.text }))
      : h("p", { class: "muted", text: "No phone number: WhatsApp and SMS cannot reach this contact." }));
}

export async function dmConversationPage(ctx) {
  const id = ctx.params[0];
  const [contact, bundle] = await Promise.all([
    get(`/api/contacts/${seg(id)}`, { signal: ctx.signal }),
    can.send() ? get("/api/policies", { signal: ctx.signal }).catch((err) => {
      if (isAbort(err)) throw err;
      return null; // the sender list is a convenience; the default sender still works
    }) : Promise.resolve(null),
  ]);
  const thread = conversation(contact.contactId, ctx.signal);
  const suggestion = contact.phone ? suggestionPanel(contact, ctx.signal, () => thread.load(null)) : null;
  await Promise.all([thread.load(null), suggestion ? suggestion.load() : null]);
  return h("section", null,
    pageHead(contactLabel(contact), "Direct messages over WhatsApp, SMS and e-mail.",
      h("a", { class: "button", href: `#/contacts/${seg(contact.contactId)}`, text: "Contact details" })),
    contactStrip(contact),
    suggestion ? suggestion.element : null,
    can.send()
      ? composer(contact, bundle, () => thread.load(null))
      : notice("", null, h("p", { text: "Your role can read conversations but not send messages." })),
    thread.element);
}
