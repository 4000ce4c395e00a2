// DM (WhatsApp/SMS/SES): the inbox of conversations (#/dm) and one conversation's thread and composer
// (#/dm/<contactId>).
//
// Live without a reload: the list polls GET /api/conversations every 5 s and the open thread polls
// GET /api/messages?contactId= every 3 s, each with If-None-Match (a 304 changes nothing on screen).
// Polling pauses while the tab is hidden and stops when the page is left (ctx.signal). Each compose
// gets its own Idempotency-Key, so a retried click never sends twice; "Retry" on a failed message is a
// new send (a new key, a new decision).

import { announce, h, nextId, replace } from "../dom.js";
import { call, get, getWithETag, isAbort, newIdempotencyKey, seg, withQuery } from "../api.js";
import {
  badge, checkbox, decisionBadge, errorNotice, field, morePager, notice, pageHead, radios, reasonList, statusBadge,
} from "../components.js";
import { contactSearch, firstContactsPage } from "../contact-search.js";
import {
  channelName, contactLabel, contentText, formatBytes, formatCountdown, formatShortTime, formatTime, isNumber, isoTime,
  plural, windowState,
} from "../format.js";
import { can } from "../session.js";
import { canActOnSuggestions, suggestionCard } from "../suggestion.js";

const LIMITS = { whatsapp: 4096, sms: 1600 };
const LIST_PAGE = 30;
const THREAD_PAGE = 30;
const LIST_POLL_MS = 5000;
const THREAD_POLL_MS = 3000;
const COUNTDOWN_MS = 30000;
const COLLAPSE_CHARS = 500; // longer bodies show this much and a "Show more" button
const BOTTOM_SLACK = 48; // px: "at the bottom" even when a few pixels short of it
const MEDIA_KINDS = ["image", "video", "audio", "document", "sticker"];
const MEDIA_LABELS = { image: "Image", video: "Video", audio: "Audio", document: "Document", sticker: "Sticker" };
const CAPTION_KINDS = new Set(["image", "video", "document"]); // WhatsApp shows no caption on audio or stickers
const WINDOW_CLOSED_TEXT = "The 24-hour window is closed: only a template can be sent";

/** A person's name for the screen; never a raw id. */
function displayName(name, phone, email) {
  const text = typeof name === "string" ? name.trim() : "";
  return text || phone || email || "Unnamed contact";
}

// ------------------------------------------------------------------------------------------ polling

/**
 * Call tick() every ``every`` ms while the tab is visible; paused while it is hidden (and run at once
 * when it shows again), stopped for good when ``signal`` aborts. Never two ticks at a time.
 * @returns {{now: () => Promise<void>}} now(): tick at once (e.g. right after a send)
 */
function poll(every, signal, tick) {
  let timer = null;
  let running = null;
  let again = false;

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (signal.aborted || document.visibilityState === "hidden") return;
    timer = setTimeout(run, every);
  }
  async function run() {
    clearTimeout(timer);
    timer = null;
    if (signal.aborted || document.visibilityState === "hidden") return;
    if (running) {
      again = true;
      await running;
      return;
    }
    running = (async () => {
      try {
        await tick();
      } catch (err) {
        if (!isAbort(err)) console.warn("polling failed", err);
      }
    })();
    await running;
    running = null;
    if (again) {
      again = false;
      await run();
      return;
    }
    schedule();
  }
  function onVisibility() {
    if (document.visibilityState === "visible") run();
    else {
      clearTimeout(timer);
      timer = null;
    }
  }
  if (signal.aborted) return { now: async () => {} };
  document.addEventListener("visibilitychange", onVisibility);
  signal.addEventListener("abort", () => {
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  }, { once: true });
  schedule();
  return { now: run };
}

// -------------------------------------------------------------------------------------- icons, ticks

const SVG = "http://www.w3.org/2000/svg";
const ICON_PATHS = {
  whatsapp: ["M12 3.5a8.5 8.5 0 0 0-7.3 12.8L3.5 20.5l4.3-1.1A8.5 8.5 0 1 0 12 3.5z"],
  sms: ["M4 5h16v11H9l-5 4z", "M8 10.5h8"],
  email: ["M3.5 6h17v12h-17z", "M3.5 6l8.5 7 8.5-7"],
  file: ["M6 3h8l4 4v14H6z", "M14 3v4h4"],
};

/** A small line icon; decorative (the text beside it names the thing). */
function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICON_PATHS[name] || ICON_PATHS.file) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

function channelChip(channel) {
  return h("span", { class: `channel-chip ch-${channel}`, dataset: { channel } },
    icon(channel), h("span", { text: channelName(channel) }));
}

const TICKS = {
  sending: ["…", "Sending"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["✗", "Failed"],
  unknown: ["?", "Outcome unknown"],
  rejected: ["⊘", "Refused"],
};

/** The delivery state of an outbound message: sent ✓, delivered ✓✓, read ✓✓ (coloured), failed ✗. */
function ticks(status) {
  const [glyph, label] = TICKS[status] || ["", status || "—"];
  return h("span", { class: `ticks status-${status || "none"}`, dataset: { status: status || "" } },
    glyph ? h("span", { class: "tick-glyph", "aria-hidden": "true", text: glyph }) : null,
    h("span", { class: "tick-label", text: label }));
}

// ------------------------------------------------------------------------------ conversation list

function conversationRow(row) {
  const name = displayName(row.contactName, row.phone, row.email);
  const unread = isNumber(row.unreadCount) && row.unreadCount > 0;
  const last = row.lastMessage && typeof row.lastMessage === "object" ? row.lastMessage : null;
  const previewId = nextId("cv-preview");
  const unreadId = nextId("cv-unread");
  const channels = Array.isArray(row.channels) ? row.channels.filter((c) => typeof c === "string") : [];
  const reachesWhatsApp = channels.includes("whatsapp") || Boolean(row.phone);
  let windowText = null;
  if (row.windowOpen && isNumber(row.windowExpiresAt)) windowText = `WhatsApp window open until ${formatTime(row.windowExpiresAt)}`;
  else if (reachesWhatsApp) windowText = "WhatsApp window closed";
  const outbound = last && last.direction === "outbound";
  return h("li", {
    class: `inbox-row${unread ? " unread" : ""}`,
    dataset: { contactId: row.contactId, unread: String(unread ? row.unreadCount : 0) },
  },
  h("div", { class: "inbox-top" },
    h("a", {
      class: "inbox-name", href: `#/dm/${seg(row.contactId)}`, text: name,
      "aria-describedby": unread ? `${unreadId} ${previewId}` : previewId,
    }),
    unread
      ? h("span", { class: "badge ink unread-badge", id: unreadId, "data-testid": "unread" },
        h("span", { class: "unread-dot", "aria-hidden": "true" }), `Unread (${row.unreadCount})`)
      : null,
    h("time", {
      class: "inbox-time", datetime: isoTime(row.lastActivityAt), title: formatTime(row.lastActivityAt),
      text: formatShortTime(row.lastActivityAt),
    })),
  h("p", { class: "inbox-preview", id: previewId },
    last
      ? [
        h("span", { class: "inbox-direction", text: outbound ? "You: " : `${name}: ` }),
        h("span", { class: "inbox-text", "data-testid": "preview", text: last.preview || "(no content)" }),
        outbound ? [" ", ticks(last.status)] : null,
      ]
      : h("span", { class: "muted", text: "No messages yet" })),
  h("div", { class: "inbox-meta" },
    channels.length ? h("span", { class: "channel-list" }, channels.map((c) => channelChip(c))) : null,
    windowText ? h("span", { class: "inbox-window", dataset: { open: String(Boolean(row.windowOpen)) }, text: windowText }) : null,
    row.seenByEmail && isNumber(row.seenAt)
      ? h("span", { class: "inbox-seen", text: `Seen by ${row.seenByEmail}, ${formatTime(row.seenAt)}` })
      : null));
}

function conversationList(signal) {
  const search = h("input", { type: "search", name: "q", id: nextId("inbox-q"), autocomplete: "off",
    "aria-describedby": "inbox-q-hint" });
  const searchButton = h("button", { type: "submit", text: "Search" });
  const channel = field({
    label: "Channel", name: "channel",
    options: [["", "All channels"], ["whatsapp", "WhatsApp"], ["sms", "SMS"], ["email", "Email"]],
  });
  const unreadOnly = checkbox("Unread only", { name: "unread" });
  const windowOpen = checkbox("WhatsApp window open", { name: "window" });
  const form = h("form", { role: "search", class: "inbox-filters", "aria-label": "Filter conversations" },
    h("div", { class: "field inbox-search" },
      h("label", { class: "label", for: search.id, text: "Search conversations" }),
      h("div", { class: "search-row" }, search, searchButton),
      h("span", { class: "hint", id: "inbox-q-hint", text: "Name, phone or e-mail." })),
    channel,
    h("div", { class: "inbox-checks" }, unreadOnly, windowOpen));
  const status = h("p", { class: "muted", role: "status" });
  const problems = h("div");
  const list = h("ul", { class: "inbox-list", "aria-label": "Conversations, newest first" });
  let rows = [];
  let cursor = null;
  let etag = null;
  let generation = 0; // bumped by every new query: an answer to an older one is dropped
  const pager = morePager("Load more conversations", () => more());

  function filters() {
    return {
      channel: channel.input.value,
      unread: unreadOnly.input.checked ? "true" : "",
      window: windowOpen.input.checked ? "open" : "",
      q: search.value.trim(),
    };
  }
  function filtered() {
    const f = filters();
    return Boolean(f.channel || f.unread || f.window || f.q);
  }
  function url(extra = {}) {
    return withQuery("/api/conversations", { ...filters(), limit: LIST_PAGE, ...extra });
  }

  function render() {
    const active = document.activeElement;
    const activeRow = active && list.contains(active) ? active.closest("li") : null;
    const focusId = activeRow ? activeRow.dataset.contactId : null;
    replace(list, rows.map((row) => conversationRow(row)));
    if (focusId) {
      const again = [...list.children].find((li) => li.dataset.contactId === focusId);
      const target = again && again.querySelector("a");
      if (target) target.focus({ preventScroll: true });
    }
    pager.set(cursor);
    const unread = rows.filter((r) => isNumber(r.unreadCount) && r.unreadCount > 0).length;
    status.textContent = rows.length
      ? `${plural(rows.length, "conversation")}${unread ? `, ${unread} unread` : ""}${cursor ? "; more available." : "."}`
      : filtered() ? "No conversations match these filters." : "No conversations yet. Messages to and from contacts show up here.";
  }

  function fail(err) {
    if (isAbort(err) || err.status === 401) return;
    replace(problems, errorNotice(err, "Could not load the conversations"));
  }

  async function load() {
    generation += 1;
    const mine = generation;
    try {
      const answer = await getWithETag(url(), null, { signal });
      if (mine !== generation) return;
      replace(problems);
      etag = answer.etag;
      rows = (answer.data && answer.data.items) || [];
      cursor = (answer.data && answer.data.cursor) || null;
      render();
    } catch (err) {
      if (mine === generation) fail(err);
    }
  }

  async function more() {
    const mine = generation;
    try {
      const page = await get(url({ cursor }), { signal });
      if (mine !== generation) return;
      const seen = new Set(rows.map((r) => r.contactId));
      rows = rows.concat((page.items || []).filter((r) => !seen.has(r.contactId)));
      cursor = page.cursor || null;
      render();
    } catch (err) {
      fail(err);
    }
  }

  /** The polling tick: the first page again, with If-None-Match; merged over what is shown. */
  async function refresh() {
    const mine = generation;
    let answer;
    try {
      answer = await getWithETag(url(), etag, { signal });
    } catch (err) {
      if (mine === generation) fail(err);
      return;
    }
    if (mine !== generation || answer.status === 304) return;
    replace(problems);
    etag = answer.etag;
    const fresh = (answer.data && answer.data.items) || [];
    const freshCursor = (answer.data && answer.data.cursor) || null;
    if (!freshCursor || !fresh.length) {
      rows = fresh;
      cursor = freshCursor;
    } else {
      // Pages loaded with "Load more" stay below the fresh first page.
      const ids = new Set(fresh.map((r) => r.contactId));
      const floor = fresh[fresh.length - 1].lastActivityAt;
      const older = rows.filter((r) => !ids.has(r.contactId) && isNumber(r.lastActivityAt) && r.lastActivityAt < floor);
      rows = fresh.concat(older);
      if (!older.length) cursor = freshCursor;
    }
    render();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    searchButton.disabled = true;
    try {
      await load();
    } finally {
      searchButton.disabled = false;
    }
  });
  for (const control of [channel.input, unreadOnly.input, windowOpen.input]) control.addEventListener("change", () => load());

  const element = h("section", { "aria-labelledby": "inbox-title", class: "inbox" },
    h("h2", { id: "inbox-title", text: "Conversations" }),
    form, problems, status, list, pager.element);
  return { element, load, refresh };
}

export async function dmPickPage(ctx) {
  const inbox = conversationList(ctx.signal);
  const [, initial] = await Promise.all([inbox.load(), firstContactsPage(ctx.signal)]);
  const picker = contactSearch({
    signal: ctx.signal,
    hrefFor: (c) => `#/dm/${seg(c.contactId)}`,
    actionLabel: "Open conversation",
    initial,
  });
  const start = h("button", { type: "button", text: "Start a new conversation" });
  const startSection = h("section", { "aria-labelledby": "dm-start-title", class: "inbox-start" },
    h("h2", { id: "dm-start-title", tabindex: "-1", text: "Start a new conversation" }),
    h("p", { class: "muted", text: "Find any contact to write to, with or without earlier messages." }),
    picker);
  start.addEventListener("click", () => {
    startSection.scrollIntoView({ block: "start" });
    const box = picker.querySelector("input[type=search]");
    if (box) box.focus({ preventScroll: true });
  });
  poll(LIST_POLL_MS, ctx.signal, () => inbox.refresh());
  return h("section", null,
    pageHead("DM (WhatsApp/SMS/SES)", "Conversations with recent messages, newest first. Open one to read and reply.", start),
    inbox.element,
    startSection);
}

// ------------------------------------------------------------------------------------------ thread

function mediaOf(message) {
  const content = message.content && typeof message.content === "object" ? message.content : {};
  const kind = content.mediaKind || (MEDIA_KINDS.includes(content.type) ? content.type : null);
  if (!kind) return null;
  return {
    kind,
    filename: content.filename || "",
    mimeType: content.mimeType || (content.upload && content.upload.mimeType) || "",
    bytes: content.upload && isNumber(content.upload.bytes) ? content.upload.bytes : message.media && message.media.size,
    caption: content.caption || "",
  };
}

/**
 * A file chip for a message's media. There is no API route that serves media bytes to the browser yet,
 * so images cannot be shown inline: the chip names the kind, the file name and its type.
 */
function mediaChip(message, media) {
  const inbound = message.direction === "inbound";
  let note = "";
  if (inbound) {
    note = message.mediaStatus === "stored"
      ? "Stored with the message; it cannot be previewed here."
      : "Not downloaded on this server; it cannot be previewed here.";
  }
  return h("div", { class: "media-chip", dataset: { mediaKind: media.kind } },
    icon("file"),
    h("span", { class: "media-kind", text: MEDIA_LABELS[media.kind] || media.kind }),
    media.filename ? h("span", { class: "media-name", text: media.filename }) : null,
    media.mimeType ? h("span", { class: "muted", text: media.mimeType }) : null,
    isNumber(media.bytes) ? h("span", { class: "muted", text: formatBytes(media.bytes) }) : null,
    note ? h("span", { class: "muted media-note", text: note }) : null);
}

/** The body text; a long one shows its first COLLAPSE_CHARS characters and a "Show more" button. */
function bodyBlock(text) {
  const chars = [...text];
  if (chars.length <= COLLAPSE_CHARS) return h("p", { class: "body", text: text || "(no content)" });
  const id = nextId("body");
  const short = `${chars.slice(0, COLLAPSE_CHARS).join("").trimEnd()}…`;
  const para = h("p", { class: "body", id, text: short, dataset: { collapsed: "true" } });
  const toggle = h("button", { type: "button", class: "small show-more", "aria-expanded": "false", "aria-controls": id, text: "Show more" });
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    para.textContent = open ? text : short;
    para.dataset.collapsed = String(!open);
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Show less" : "Show more";
  });
  return h("div", { class: "body-wrap" }, para, toggle);
}

/** The request that sends a stored message's content again (null when it cannot be rebuilt). */
function resendRequest(message, files) {
  const content = message.content && typeof message.content === "object" ? message.content : {};
  const out = { contactId: message.contactId, channel: message.channel };
  if (message.channel === "whatsapp" && typeof message.phoneNumberId === "string" && message.phoneNumberId) {
    out.phoneNumberId = message.phoneNumberId;
  }
  if (content.type === "text") {
    out.text = { body: String(content.body ?? content.text ?? "") };
    return { json: out };
  }
  if (content.type === "template") {
    out.template = { name: content.name, language: content.language };
    if (Array.isArray(content.components) && content.components.length) out.template.components = content.components;
    return { json: out };
  }
  if (content.type === "email") {
    out.email = { subject: content.subject };
    if (content.text) out.email.text = content.text;
    if (content.html) out.email.html = content.html;
    return { json: out };
  }
  if (content.type === "media" && content.mediaKind) {
    out.media = { mediaKind: content.mediaKind };
    if (content.caption) out.media.caption = content.caption;
    if (content.filename && content.mediaKind === "document") out.media.filename = content.filename;
    if (content.fileId) {
      out.media.fileId = content.fileId;
      return { json: out };
    }
    const file = files.get(message.messageId);
    return file ? { json: out, file } : null;
  }
  return null;
}

function sendBody({ json, file }) {
  if (!file) return json;
  const form = new FormData();
  form.append("message", JSON.stringify(json));
  form.append("file", file, file.name);
  return form;
}

function failureBlock(message, options) {
  const error = message.errorDetails && typeof message.errorDetails === "object" ? message.errorDetails : {};
  const reasonId = nextId("failure");
  const reason = error.message ? String(error.message) : "The provider did not say why.";
  const box = h("div", { class: "failure", "data-testid": "failure" },
    h("p", { id: reasonId, class: "failure-reason" }, "Not delivered: ", h("span", { text: reason })),
    error.code ? h("p", { class: "muted" }, "Provider code: ", h("span", { class: "code", "data-testid": "failure-code", text: String(error.code) })) : null);
  if (!options.canRetry) return box;
  const request = resendRequest(message, options.files);
  if (!request) {
    box.append(h("p", { class: "muted", text: "This message cannot be sent again from here: attach the file again in the composer." }));
    return box;
  }
  const retry = h("button", { type: "button", class: "small", text: "Retry", "aria-describedby": reasonId });
  const outcome = h("div", { class: "outcome", "aria-live": "polite", "data-testid": "retry-outcome" });
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    replace(outcome, h("p", { class: "muted", text: "Sending again…" }));
    try {
      // A new key: this is a new send with its own decision, not a replay of the failed one.
      const { status, data } = await call("POST", "/api/messages", {
        body: sendBody(request), headers: { "Idempotency-Key": newIdempotencyKey() }, signal: options.signal,
      });
      const sent = (data && data.message) || {};
      if (request.file && sent.messageId) options.files.set(sent.messageId, request.file);
      replace(outcome, outcomeSent(status, data));
      announce("Sent again.");
    } catch (err) {
      if (isAbort(err) || (err && err.status === 401)) return;
      replace(outcome, err.code === "POLICY_DENIED" ? outcomeRefused(err) : outcomeFailed(err));
      announce("Not sent.");
    } finally {
      retry.disabled = false;
      options.onSent();
    }
  });
  box.append(h("div", { class: "actions" }, retry), outcome);
  return box;
}

function bubble(message, options) {
  const inbound = message.direction === "inbound";
  const decision = message.decision || null;
  const refused = decision && decision.allowed === false ? decision.reasons || [] : [];
  const media = mediaOf(message);
  const text = media ? media.caption : contentText(message);
  return h("li", {
    class: `bubble ${inbound ? "inbound" : "outbound"}`,
    dataset: { messageId: message.messageId, status: message.status || "", direction: message.direction || "" },
  },
  h("div", { class: "meta" },
    h("span", { class: "who", text: inbound ? "From contact" : "To contact" }),
    channelChip(message.channel),
    h("time", { datetime: isoTime(message.timestamp), text: formatTime(message.timestamp) }),
    inbound ? null : ticks(message.status),
    // "rejected" already says the policy refused it.
    inbound || message.status === "rejected" ? null : decisionBadge(decision)),
  media ? mediaChip(message, media) : null,
  media && !text ? null : bodyBlock(text || ""),
  refused.length ? h("div", { class: "badges" }, refused.map((code) => badge(code, "bad"))) : null,
  !inbound && message.status === "failed" ? failureBlock(message, options) : null,
  !inbound && message.status === "unknown"
    ? h("p", { class: "muted", text: "The provider's answer was lost: check the message's details before sending again." })
    : null,
  h("div", { class: "meta" },
    h("a", { href: `#/messages/${seg(message.messageId)}`, text: inbound ? "Details" : "Details and decision" })));
}

function orderKey(message) {
  return [isNumber(message.timestamp) ? message.timestamp : 0, String(message.messageId || "")];
}

function before(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * The thread, oldest at the top and newest at the bottom (the API pages newest first; older pages
 * load above). refresh() is the polling tick: new messages are added, changed ones (ticks, failures)
 * replaced in place; the view follows the newest message only when the reader is at the bottom.
 */
function conversation(contact, signal, options) {
  const name = contactLabel(contact);
  const list = h("ol", { class: "conversation", "aria-label": "Messages, oldest first" });
  const status = h("p", { class: "muted", role: "status" });
  const problems = h("div");
  const refreshButton = h("button", { type: "button", class: "small", text: "Refresh" });
  const jump = h("button", { type: "button", class: "small jump-latest", hidden: true, text: "New messages below — show the latest" });
  const older = morePager("Load older messages", () => loadOlder());
  const scroller = h("div", {
    class: "thread-scroll", tabindex: "0", role: "region", "aria-label": `Messages with ${name}`, "data-testid": "thread",
  }, older.element, list);
  const shown = new Map(); // messageId → {key, sig, el}
  let order = []; // [{key, id}] ascending
  let etag = null;
  let olderCursor = null;
  const firstUrl = () => withQuery("/api/messages", { contactId: contact.contactId, limit: THREAD_PAGE });

  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK;
  }
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    jump.hidden = true;
  }
  scroller.addEventListener("scroll", () => {
    if (atBottom()) jump.hidden = true;
  });
  jump.addEventListener("click", () => {
    toBottom();
    scroller.focus({ preventScroll: true });
  });

  function place(message) {
    const id = String(message.messageId || "");
    const sig = JSON.stringify(message);
    const existing = shown.get(id);
    if (existing) {
      if (existing.sig === sig) return null;
      const el = bubble(message, options);
      const body = existing.el.querySelector(".show-more[aria-expanded='true']");
      existing.el.replaceWith(el);
      if (body) {
        const toggle = el.querySelector(".show-more");
        if (toggle) toggle.click();
      }
      shown.set(id, { ...existing, sig, el });
      return "changed";
    }
    const key = orderKey(message);
    const el = bubble(message, options);
    let index = order.length;
    while (index > 0 && before(key, order[index - 1].key)) index -= 1;
    const next = order[index];
    if (next) list.insertBefore(el, shown.get(next.id).el);
    else list.append(el);
    order.splice(index, 0, { key, id });
    shown.set(id, { key, sig, el });
    return index === order.length - 1 ? "appended" : "inserted";
  }

  function reset() {
    replace(list);
    shown.clear();
    order = [];
  }

  function updateStatus() {
    status.textContent = order.length ? "" : "No messages with this contact yet.";
  }

  function fail(err) {
    if (isAbort(err) || err.status === 401) return;
    replace(problems, errorNotice(err, "Could not load the conversation"));
  }

  /** The newest page from scratch. */
  async function load() {
    try {
      const answer = await getWithETag(firstUrl(), null, { signal });
      replace(problems);
      etag = answer.etag;
      reset();
      for (const message of (answer.data && answer.data.items) || []) place(message);
      olderCursor = (answer.data && answer.data.cursor) || null;
      older.set(olderCursor);
      updateStatus();
      toBottom();
    } catch (err) {
      fail(err);
    }
  }

  async function loadOlder() {
    if (!olderCursor) return;
    try {
      const page = await get(withQuery("/api/messages", { contactId: contact.contactId, limit: THREAD_PAGE, cursor: olderCursor }), { signal });
      const height = scroller.scrollHeight;
      const top = scroller.scrollTop;
      for (const message of page.items || []) place(message);
      // Keep the messages the reader was looking at where they were.
      scroller.scrollTop = top + (scroller.scrollHeight - height);
      olderCursor = page.cursor || null;
      older.set(olderCursor);
      updateStatus();
    } catch (err) {
      fail(err);
    }
  }

  /** The polling tick (also after a send): the newest page with If-None-Match, merged in. */
  async function refresh({ follow = false } = {}) {
    let answer;
    try {
      answer = await getWithETag(firstUrl(), etag, { signal });
    } catch (err) {
      fail(err);
      return;
    }
    if (answer.status === 304) {
      if (follow) toBottom();
      return;
    }
    replace(problems);
    etag = answer.etag;
    const stay = follow || atBottom();
    const arrived = [];
    let added = false;
    for (const message of (answer.data && answer.data.items) || []) {
      const what = place(message);
      if (what === "appended" || what === "inserted") {
        added = true;
        if (message.direction === "inbound") arrived.push(message);
      }
    }
    if (!order.length) older.set(null);
    updateStatus();
    if (stay) toBottom();
    else if (added) jump.hidden = false;
    if (arrived.length) {
      const newest = arrived[arrived.length - 1];
      announce(`New message from ${name}: ${contentText(newest).slice(0, 140)}`);
      options.onInbound(arrived);
    }
  }

  refreshButton.addEventListener("click", async () => {
    refreshButton.disabled = true;
    await refresh();
    refreshButton.disabled = false;
    announce("Conversation refreshed.");
  });

  const element = h("section", { "aria-labelledby": "conversation-title", class: "thread" },
    h("div", { class: "page-head" }, h("h2", { id: "conversation-title", text: "Conversation" }), refreshButton),
    problems, status, scroller, h("div", { class: "actions jump-row" }, jump));
  return { element, load, refresh, toBottom };
}

// ---------------------------------------------------------------------------------------- compose

function allowlistFrom(bundle) {
  const list = bundle && bundle.params && bundle.params.whatsapp && bundle.params.whatsapp.allowlist;
  return Array.isArray(list) ? list.filter((id) => typeof id === "string") : [];
}

/** The WhatsApp templates the bundle lists: [{name, language, body}] (body with {{1}}, {{2}} …). */
function templatesFrom(bundle) {
  const list = bundle && bundle.params && bundle.params.whatsapp && bundle.params.whatsapp.templates;
  if (!Array.isArray(list)) return [];
  return list.filter((t) => t && typeof t.name === "string" && t.name && typeof t.language === "string" && t.language)
    .map((t) => ({ name: t.name, language: t.language, body: typeof t.body === "string" ? t.body : "" }));
}

/** The variable numbers of a template body, in order: "Hi {{1}}, {{2}} and {{1}}" → [1, 2]. */
function placeholders(body) {
  const found = new Set();
  for (const match of body.matchAll(/\{\{\s*(\d+)\s*\}\}/g)) found.add(Number(match[1]));
  return [...found].sort((a, b) => a - b);
}

function fillTemplate(body, values) {
  return body.replace(/\{\{\s*(\d+)\s*\}\}/g, (all, n) => values.get(Number(n)) || `[${n}]`);
}

/** What WhatsApp calls a file: image (JPEG, PNG), sticker (WebP), video, audio, else a document. */
function mediaKindOf(file) {
  const type = (file.type || "").toLowerCase();
  if (type === "image/jpeg" || type === "image/png") return "image";
  if (type === "image/webp") return "sticker";
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  return "document";
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
  const details = err.details || {};
  const error = details.errorDetails && typeof details.errorDetails === "object" ? details.errorDetails : null;
  if (error && error.code) box.append(h("p", { class: "muted" }, "Provider code: ", h("span", { class: "code", text: String(error.code) })));
  const id = details.messageId;
  if (id) box.append(h("p", null, h("a", { href: `#/messages/${seg(id)}`, text: "Open the stored message" })));
  return box;
}

function composer(initialContact, bundle, { signal, files, onSent }) {
  let contact = initialContact;
  const defaultChannel = contact.phone ? "whatsapp" : contact.email ? "email" : "whatsapp";
  const channel = radios("Channel", "channel", [["whatsapp", "WhatsApp"], ["sms", "SMS"], ["email", "Email"]], defaultChannel);
  const kind = radios("WhatsApp message type", "kind", [["text", "Text"], ["template", "Template"]], "text");
  const [textRadio, templateRadio] = kind.controls;
  const senders = allowlistFrom(bundle);
  const from = field({
    label: "From WhatsApp number", name: "phoneNumberId",
    options: [["", "Default sender"], ...senders.map((id) => [id, id])],
    hint: "Only allowlisted phone-number ids can send.",
  });
  const countdown = h("p", { class: "window-countdown", id: "window-countdown", "data-testid": "window-countdown" });
  const body = field({ label: "Message", name: "body", multiline: true, hint: "Enter sends; Shift+Enter starts a new line." });
  const counter = h("p", { class: "counter", "aria-live": "off" });

  // Media (WhatsApp): a file goes as multipart/form-data; the message becomes its caption.
  const fileInput = h("input", { type: "file", name: "file", id: nextId("file"), "aria-describedby": "attach-hint" });
  const attachment = h("div", { class: "attachment", "data-testid": "attachment", hidden: true });
  const attachField = h("div", { class: "field attach-field" },
    h("label", { class: "label", for: fileInput.id, text: "Attach a file (optional)" }),
    fileInput,
    h("span", { class: "hint", id: "attach-hint", text: "JPEG or PNG go as a photo, WebP as a sticker, video and audio as such, anything else as a document. The message becomes the caption." }),
    attachment);
  let file = null;

  // Templates: a picker over the bundle's list, one input per {{n}} and a live preview; the free
  // name/language fields for a template the list does not have (or when there is no list).
  const templates = templatesFrom(bundle);
  const picker = templates.length
    ? field({
      label: "Template", name: "template",
      options: [...templates.map((t, i) => [String(i), `${t.name} (${t.language})`]), ["other", "Another template (type its name)"]],
    })
    : null;
  const variables = h("div", { class: "template-vars" });
  const preview = h("div", { class: "template-preview", "data-testid": "template-preview", hidden: true });
  let variableInputs = []; // [{n, input}]
  const templateName = field({ label: "Template name", name: "templateName", autocomplete: "off", placeholder: "e.g. order_update" });
  const templateLanguage = field({ label: "Template language", name: "templateLanguage", value: "en_US", autocomplete: "off" });
  const freeTemplate = h("div", { class: "grid-2" }, templateName, templateLanguage);

  const subject = field({ label: "Subject", name: "subject", autocomplete: "off" });
  const emailText = field({ label: "Text body", name: "emailText", multiline: true });
  const emailHtml = field({
    label: "HTML body (optional)", name: "emailHtml", multiline: true,
    hint: "Sent as the HTML part of the e-mail; this page shows it only as text.",
  });

  const whatsappGroup = h("div", null, countdown, kind, from);
  const textGroup = h("div", null, body, counter, attachField);
  const templateGroup = h("div", { class: "template-group" }, picker, variables, preview, freeTemplate);
  const emailGroup = h("div", null, subject, emailText, emailHtml);
  const submit = h("button", { type: "submit", text: "Send" });
  const outcome = h("div", { class: "outcome", "aria-live": "polite", id: "send-outcome" });
  const form = h("form", { "aria-labelledby": "compose-title" },
    channel, whatsappGroup, textGroup, templateGroup, emailGroup,
    h("div", { class: "actions" }, submit));

  let key = null; // one Idempotency-Key per compose: kept for a retry of the same content only
  let autoTemplate = false; // Template was chosen for the person because the window closed

  function windowOpen() {
    return windowState(contact).open;
  }

  function chosenTemplate() {
    if (!picker) return null;
    const value = picker.input.value;
    return value === "other" ? null : templates[Number(value)] || null;
  }

  function renderVariables() {
    const template = chosenTemplate();
    variableInputs = [];
    if (!template) {
      replace(variables);
      preview.hidden = true;
      freeTemplate.hidden = false;
      return;
    }
    freeTemplate.hidden = true;
    const numbers = placeholders(template.body);
    replace(variables, numbers.map((n) => {
      const input = field({ label: `Variable {{${n}}}`, name: `var${n}`, autocomplete: "off" });
      variableInputs.push({ n, input: input.input });
      return input;
    }));
    variables.className = numbers.length > 1 ? "template-vars grid-2" : "template-vars";
    updatePreview();
  }

  function updatePreview() {
    const template = chosenTemplate();
    if (!template || !template.body) {
      preview.hidden = true;
      return;
    }
    const values = new Map(variableInputs.map(({ n, input }) => [n, input.value.trim()]));
    replace(preview, h("p", { class: "label", text: "Preview" }), h("p", { class: "body", text: fillTemplate(template.body, values) }));
    preview.hidden = false;
  }

  function syncWindow() {
    const open = windowOpen();
    const whatsapp = channel.value() === "whatsapp";
    if (!open) {
      if (textRadio.checked) {
        templateRadio.checked = true;
        autoTemplate = true;
      }
      textRadio.disabled = true;
      countdown.textContent = WINDOW_CLOSED_TEXT;
    } else {
      textRadio.disabled = false;
      if (autoTemplate && templateRadio.checked) textRadio.checked = true;
      autoTemplate = false;
      const left = formatCountdown(contact.windowExpiresAt);
      countdown.textContent = left ? `Window closes in ${left}` : "";
    }
    countdown.dataset.open = String(open);
    countdown.hidden = !whatsapp || (open && !countdown.textContent);
  }

  function sync() {
    syncWindow();
    const ch = channel.value();
    const isTemplate = ch === "whatsapp" && kind.value() === "template";
    whatsappGroup.hidden = ch !== "whatsapp";
    textGroup.hidden = ch === "email" || isTemplate;
    templateGroup.hidden = !isTemplate;
    emailGroup.hidden = ch !== "email";
    attachField.hidden = ch !== "whatsapp";
    const limit = LIMITS[ch];
    const length = [...body.input.value].length;
    counter.textContent = limit ? `${length} / ${limit} characters` : "";
  }

  function showAttachment() {
    if (!file) {
      attachment.hidden = true;
      replace(attachment);
      return;
    }
    const mediaKind = mediaKindOf(file);
    const remove = h("button", { type: "button", class: "small", text: "Remove attachment" });
    remove.addEventListener("click", () => {
      file = null;
      fileInput.value = "";
      key = null;
      showAttachment();
      fileInput.focus();
    });
    const image = h("img", { class: "attachment-preview", alt: `Preview of ${file.name}`, hidden: true });
    replace(attachment,
      h("div", { class: "media-chip", dataset: { mediaKind } },
        icon("file"),
        h("span", { class: "media-kind", text: MEDIA_LABELS[mediaKind] }),
        h("span", { class: "media-name", text: file.name }),
        file.type ? h("span", { class: "muted", text: file.type }) : null,
        h("span", { class: "muted", text: formatBytes(file.size) })),
      CAPTION_KINDS.has(mediaKind) ? null : h("p", { class: "hint", text: `WhatsApp shows no caption on ${mediaKind === "audio" ? "audio" : "stickers"}: leave the message empty.` }),
      image,
      h("div", { class: "actions" }, remove));
    attachment.hidden = false;
    // Images preview from a data: URL (the page's policy allows data: images, not blob: ones).
    if (file.type.startsWith("image/") && file.size <= 5 * 1024 * 1024 && typeof FileReader !== "undefined") {
      const reader = new FileReader();
      const chosen = file;
      reader.addEventListener("load", () => {
        if (file !== chosen || typeof reader.result !== "string") return;
        image.src = reader.result;
        image.hidden = false;
      });
      reader.readAsDataURL(file);
    }
  }

  fileInput.addEventListener("change", () => {
    file = fileInput.files && fileInput.files.length ? fileInput.files[0] : null;
    key = null;
    showAttachment();
  });
  if (picker) picker.input.addEventListener("change", renderVariables);
  variables.addEventListener("input", updatePreview);
  form.addEventListener("input", () => {
    key = null;
    sync();
  });
  form.addEventListener("change", (event) => {
    if (event.target === templateRadio || event.target === textRadio) autoTemplate = false;
    sync();
  });
  // Enter sends, Shift+Enter is a new line (the message body only; an IME composing keeps its Enter).
  body.input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    if (!submit.disabled) form.requestSubmit(submit);
  });

  /** The request to send, or a problem to show instead: {json, file?} | {problem, focus}. */
  function request() {
    const ch = channel.value();
    const out = { contactId: contact.contactId, channel: ch };
    if (ch === "email") {
      out.email = { subject: subject.input.value };
      if (emailText.input.value) out.email.text = emailText.input.value;
      if (emailHtml.input.value) out.email.html = emailHtml.input.value;
      return { json: out };
    }
    if (ch === "whatsapp") {
      if (from.input.value) out.phoneNumberId = from.input.value;
      if (kind.value() === "template") {
        const template = chosenTemplate();
        if (!template) {
          out.template = { name: templateName.input.value.trim(), language: templateLanguage.input.value.trim() };
          return { json: out };
        }
        const empty = variableInputs.find(({ input }) => !input.value.trim());
        if (empty) return { problem: `Fill in every variable of “${template.name}”: {{${empty.n}}} is empty.`, focus: empty.input };
        out.template = { name: template.name, language: template.language };
        if (variableInputs.length) {
          out.template.components = [{
            type: "body",
            parameters: variableInputs.map(({ input }) => ({ type: "text", text: input.value.trim() })),
          }];
        }
        return { json: out };
      }
      if (file) {
        const mediaKind = mediaKindOf(file);
        out.media = { mediaKind };
        const caption = body.input.value;
        if (caption.trim()) {
          if (!CAPTION_KINDS.has(mediaKind)) return { problem: `WhatsApp shows no caption on ${mediaKind === "audio" ? "audio" : "stickers"}: empty the message, or remove the attachment.`, focus: body.input };
          out.media.caption = caption;
        }
        if (mediaKind === "document") out.media.filename = file.name;
        return { json: out, file };
      }
    }
    out.text = { body: body.input.value };
    return { json: out };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const next = request();
    if (next.problem) {
      const box = notice("error", "Not sent", h("p", { text: next.problem }));
      box.setAttribute("role", "alert");
      replace(outcome, box);
      if (next.focus) next.focus.focus();
      return;
    }
    if (!key) key = newIdempotencyKey();
    submit.disabled = true;
    replace(outcome, h("p", { class: "muted", text: "Sending…" }));
    let definitive = true;
    try {
      const { status, data } = await call("POST", "/api/messages", {
        body: sendBody(next),
        headers: { "Idempotency-Key": key },
        signal,
      });
      const sent = (data && data.message) || {};
      if (next.file && sent.messageId) files.set(sent.messageId, next.file);
      replace(outcome, outcomeSent(status, data));
      announce(status === 202 ? "Accepted, still sending." : "Sent.");
      body.input.value = "";
      emailText.input.value = "";
      emailHtml.input.value = "";
      for (const { input } of variableInputs) input.value = "";
      updatePreview();
      if (file) {
        file = null;
        fileInput.value = "";
        showAttachment();
      }
      sync();
    } catch (err) {
      if (isAbort(err) || (err && err.status === 401)) return;
      // Only a lost answer, a rate limit or a server fault may be retried with the same key.
      definitive = !(err.status === 0 || err.status === 429 || err.status >= 500);
      // The typed text stays: the person fixes what the reasons say and sends again.
      replace(outcome, err.code === "POLICY_DENIED" ? outcomeRefused(err) : outcomeFailed(err));
      announce(err.code === "POLICY_DENIED" ? "Not sent: refused by policy." : "Not sent.");
    } finally {
      if (definitive) key = null;
      submit.disabled = false;
      onSent();
    }
  });

  // The countdown moves every 30 s; the window closing turns the composer to templates by itself.
  const ticker = setInterval(() => {
    if (signal.aborted) clearInterval(ticker);
    else sync();
  }, COUNTDOWN_MS);
  signal.addEventListener("abort", () => clearInterval(ticker), { once: true });

  if (picker) renderVariables();
  sync();
  const element = h("section", { class: "panel composer", "aria-labelledby": "compose-title" },
    h("h2", { id: "compose-title", text: "New message" }), form, outcome);
  return {
    element,
    /** A fresher contact (a new inbound message reopened the window). */
    setContact(next) {
      contact = next;
      sync();
    },
  };
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
        await call("POST", "/api/ai/suggestions", { body: { contactId: contact.contactId }, signal });
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
  return {
    element: section,
    load,
    /** A new inbound message: look again, unless a card is on screen (it may be half edited). */
    async update(next) {
      contact = next;
      if (!body.querySelector("article")) await load();
    },
  };
}

function contactStrip(initial) {
  const element = h("div", { class: "panel stack" });
  function render(contact) {
    const win = windowState(contact);
    replace(element,
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
  render(initial);
  return { element, update: render };
}

/**
 * An Operator or Admin opening the thread has seen it: the list's unread marker clears. Not tied to
 * the page's signal: leaving the thread at once must not undo having opened it.
 */
async function markRead(contactId) {
  try {
    await call("POST", `/api/conversations/${seg(contactId)}/read`);
  } catch (err) {
    // Not worth interrupting the reader for: the marker stays until the next open.
    if (!isAbort(err) && err.status !== 401) console.warn("could not mark the conversation read", err);
  }
}

export async function dmConversationPage(ctx) {
  const id = ctx.params[0];
  const signal = ctx.signal;
  const [contact, bundle] = await Promise.all([
    get(`/api/contacts/${seg(id)}`, { signal }),
    can.send() ? get("/api/policies", { signal }).catch((err) => {
      if (isAbort(err)) throw err;
      return null; // the sender and template lists are a convenience; the default sender still works
    }) : Promise.resolve(null),
  ]);
  const writer = can.send();
  const files = new Map(); // messageId → File, for "Retry" on a media message sent from this page
  const strip = contactStrip(contact);
  let compose = null;
  let suggestion = null;

  async function onInbound() {
    if (writer) markRead(contact.contactId);
    let fresh;
    try {
      fresh = await get(`/api/contacts/${seg(contact.contactId)}`, { signal });
    } catch {
      return; // the window shown stays as it was until the next message
    }
    strip.update(fresh);
    if (compose) compose.setContact(fresh);
    if (suggestion) await suggestion.update(fresh);
  }

  const view = conversation(contact, signal, {
    canRetry: writer,
    files,
    signal,
    onSent: () => view.refresh({ follow: true }),
    onInbound,
  });
  suggestion = contact.phone ? suggestionPanel(contact, signal, () => view.refresh({ follow: true })) : null;
  await Promise.all([view.load(), suggestion ? suggestion.load() : null]);
  if (writer) {
    compose = composer(contact, bundle, { signal, files, onSent: () => view.refresh({ follow: true }) });
    markRead(contact.contactId);
  }
  poll(THREAD_POLL_MS, signal, () => view.refresh());
  // The page is on screen after this returns: start at the newest message.
  setTimeout(() => view.toBottom(), 0);
  return h("section", { class: "dm-page" },
    pageHead(contactLabel(contact), "Direct messages over WhatsApp, SMS and e-mail.",
      h("a", { class: "button", href: "#/dm", text: "All conversations" }),
      h("a", { class: "button", href: `#/contacts/${seg(contact.contactId)}`, text: "Contact details" })),
    strip.element,
    suggestion ? suggestion.element : null,
    view.element,
    compose
      ? compose.element
      : notice("", null, h("p", { text: "Your role can read conversations but not send messages." })));
}
