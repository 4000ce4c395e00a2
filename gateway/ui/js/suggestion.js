// One AI-suggested reply as a card, shared by the Agent page (#/agent) and the DM conversation
// (#/dm/<id>): the inbound message it answers, the suggested reply, its citations, the WhatsApp
// window, whether the conversation has moved on (stale), and — for Operators — approve as is, edit
// and approve, reject, rate. An approval is an ordinary send through the gateway: the card shows the
// gateway's outcome (sent, or the refusal's reason codes). Every API string is a text node.

import { announce, h, nextId, replace } from "./dom.js";
import { get, isAbort, post, seg } from "./api.js";
import { badge, errorNotice, field, notice, radios, reasonList, statusBadge } from "./components.js";
import { contactLabel, formatTime, isNumber, windowState } from "./format.js";
import { roleAtLeast, session } from "./session.js";

export const SUGGESTION_STATUSES = ["pending", "approved", "rejected", "failed"];
const STATUS_KIND = { pending: "warn", approved: "ok", rejected: "bad", failed: "bad" };
const MAX_REPLY = 4096; // WhatsApp's text limit, as the API enforces it
const PASSAGE_MAX = 420;
const SENT_LIKE = new Set(["sent", "delivered", "read"]);

/** Operators and Admins act on suggestions; a Viewer only reads them (the API is the real guard). */
export function canActOnSuggestions() {
  return roleAtLeast("Operator");
}

export function suggestionBadge(status) {
  return badge(status || "—", STATUS_KIND[status] || "");
}

function shorten(text, max) {
  const value = String(text || "").trim();
  return value.length > max ? `${value.slice(0, max).trimEnd()}…` : value;
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

/**
 * The WhatsApp window the reply would be sent in: the contact's own windowExpiresAt (the policy's
 * window length) when the contact could be read, else the suggestion's lastInboundMessageAt + 24 h.
 */
export function suggestionWindow(item, contact) {
  if (contact) return windowState(contact);
  const last = item.lastInboundMessageAt;
  return windowState({ lastInboundMessageAt: last, windowExpiresAt: isNumber(last) ? last + 86400 : null });
}

/** An account as a person reads it: "you" for the signed-in user, else its e-mail (the id when unknown). */
function who(actor, email) {
  const id = String(actor || "");
  const me = session.me || {};
  if (id && (id === me.userId || id === me.email)) return "you";
  return email || id || "?";
}

function requestedByText(item) {
  const by = String(item.requestedBy || "");
  if (!by) return "";
  return by === "system:inbound" ? "made automatically when the message arrived" : `asked for by ${who(by, item.requestedByEmail)}`;
}

function citationItem(citation) {
  const meta = citation && typeof citation.metadata === "object" && citation.metadata ? citation.metadata : {};
  const documentName = String(citation.document || "unknown document");
  const where = [meta.title, meta.section].filter((part) => typeof part === "string" && part.trim()).join(" › ");
  return h("li", { class: "citation", "data-testid": "suggestion-citation" },
    h("p", { class: "citation-source" },
      h("span", { class: "code citation-document", text: documentName }),
      where ? h("span", { class: "muted", text: ` — ${where}` }) : null),
    h("blockquote", { class: "citation-passage message-text", text: shorten(citation.text, PASSAGE_MAX) || "(no passage text)" }));
}

/** The reason codes of a refusal, as a list; the human messages are added once the stored decision is read. */
function refusalReasons(send, signal) {
  const holder = h("div", { "data-testid": "suggestion-reasons" },
    reasonList(list(send.reasons).map((code) => ({ code: String(code), message: "" }))));
  if (send.messageId) {
    get(`/api/messages/${seg(send.messageId)}`, { signal })
      .then((message) => {
        const violations = list(message && message.decision && message.decision.violations);
        if (violations.length) {
          replace(holder, reasonList(violations.map((v) => ({ code: String(v.reason || ""), message: String(v.message || "") }))));
        }
      })
      .catch(() => {}); // the codes are already on screen; the messages are a convenience
  }
  return holder;
}

/** The gateway's outcome of an approval ({messageId, status, reasons, error, sendMode}). */
export function sendOutcome(send, signal) {
  if (!send || typeof send !== "object") {
    return notice("warn", "Approved — the gateway's outcome was not recorded",
      h("p", { text: "Check the conversation to see whether the reply went out before approving anything again." }));
  }
  const id = String(send.messageId || "");
  const idLine = id
    ? h("p", null, "Message id: ", h("span", { class: "code id", "data-message-id": id, text: id }))
    : null;
  const statusLine = h("p", null, "Status: ", h("span", { "data-testid": "suggestion-send-status" }, statusBadge(send.status)));
  const detailsLink = id ? h("p", null, h("a", { href: `#/messages/${seg(id)}`, text: "Open the message and its decision" })) : null;
  if (SENT_LIKE.has(send.status) || send.status === "sending") {
    return notice("ok", send.status === "sending" ? "Approved — still sending" : "Sent",
      idLine, statusLine,
      send.sendMode === "DRY_RUN"
        ? h("p", { text: "DRY_RUN: recorded in the outbox, not delivered — this server does not send to real recipients." })
        : null,
      detailsLink);
  }
  if (send.status === "rejected") {
    const box = notice("error", "Not sent — refused by policy",
      h("p", { text: "The gateway refused the approved reply; nothing was sent." }),
      refusalReasons(send, signal), idLine, statusLine, detailsLink);
    box.setAttribute("role", "alert");
    return box;
  }
  const error = send.error && typeof send.error === "object" ? send.error : {};
  const box = notice("error", "Not sent — the send failed",
    error.message ? h("p", { text: String(error.message) }) : null,
    error.code ? h("p", { class: "muted" }, "Code: ", h("span", { class: "code", text: String(error.code) })) : null,
    idLine, statusLine, detailsLink);
  box.setAttribute("role", "alert");
  return box;
}

function feedbackText(feedback) {
  const rating = feedback.rating === "good" ? "Good" : feedback.rating === "bad" ? "Bad" : String(feedback.rating || "—");
  const by = feedback.by ? ` by ${who(feedback.by, feedback.byEmail)}` : "";
  const at = isNumber(feedback.at) ? ` on ${formatTime(feedback.at)}` : "";
  return `Rated ${rating}${by}${at}`;
}

/**
 * A suggestion card.
 * @param {any} initial the API's suggestion (GET /api/ai/suggestions items)
 * @param {{contact?: any, signal?: AbortSignal, level?: number, title?: string | ((item: any) => string),
 *   onResolved?: (card: HTMLElement, item: any) => void, onChange?: (item: any) => void,
 *   onAsked?: (item: any, card: HTMLElement) => void}} [options]
 *   onResolved: after an approval or a rejection (the page may move the card out of its pending list);
 *   onChange: after any action that changed a suggestion (e.g. to refresh the quality figures);
 *   onAsked: a new suggestion was made from this card (default: the card shows the new one).
 */
export function suggestionCard(initial, options = {}) {
  const { contact = null, signal, level = 3 } = options;
  let item = initial;
  const card = h("article", { class: "suggestion panel" });
  const heading = `h${Math.min(Math.max(level, 2), 5)}`;
  const sub = `h${Math.min(Math.max(level, 2), 5) + 1}`;
  let lastOutcome = null; // a node to keep on screen across a re-render (an error, a refusal)

  function sectionTitle(text) {
    return h(sub, { class: "suggestion-section", text });
  }

  function draw() {
    const id = String(item.interactionId || "");
    const titleId = nextId("suggestion");
    const status = String(item.status || "");
    card.dataset.interactionId = id;
    card.dataset.status = status;
    card.setAttribute("aria-labelledby", titleId);
    const win = suggestionWindow(item, contact);
    const actor = canActOnSuggestions();
    const citations = list(item.citations);
    const stale = status === "pending" && Boolean(item.stale); // only a reply still to approve can be out of date
    const given = typeof options.title === "function" ? options.title(item) : options.title;
    const title = given || (contact ? contactLabel(contact) : `Contact ${item.contactId || "?"}`);

    const outcome = h("div", { class: "outcome", "aria-live": "polite", "data-testid": "suggestion-outcome", tabindex: "-1" });
    if (status === "approved") outcome.append(sendOutcome(item.send, signal));
    if (lastOutcome) outcome.append(lastOutcome);

    replace(card,
      h("div", { class: "suggestion-head" },
        h(heading, { id: titleId, class: "suggestion-title", text: title }),
        h("div", { class: "badges", "data-testid": "suggestion-badges" },
          h("span", { "data-testid": "suggestion-status" }, suggestionBadge(status)),
          stale ? badge("stale", "warn") : null,
          status === "approved" && item.edited ? badge("edited", "ink") : null,
          item.feedback && item.feedback.rating ? badge(`rated ${item.feedback.rating}`, item.feedback.rating === "good" ? "ok" : "bad") : null)),
      h("p", { class: "row-meta" },
        h("span", { text: `Suggested ${formatTime(item.timestamp)}` }),
        requestedByText(item) ? h("span", { text: requestedByText(item) }) : null,
        options.title ? null : h("a", { href: `#/dm/${seg(item.contactId)}`, text: "Open the conversation" })),
      h("p", { class: "window", "data-testid": "suggestion-window", dataset: { open: String(win.open) } },
        h("span", { class: "muted", text: "WhatsApp window:" }), h("span", { text: win.text }),
        h("span", { class: "muted window-detail", text: `(${win.detail})` })),
      stale
        ? notice("warn", "Stale — the contact has written again",
          h("p", { "data-testid": "suggestion-stale", text: `This suggestion answers an earlier message; the newest inbound message arrived ${formatTime(item.lastInboundMessageAt)}. Read the conversation before approving, or ask for a new suggestion.` }))
        : null,
      status === "pending" && !win.open
        ? notice("warn", "Outside the 24-hour window",
          h("p", { text: "A free-form reply will be refused (TEMPLATE_REQUIRED). Send an approved template from the DM page instead." }))
        : null,
      h("section", { class: "suggestion-part" },
        sectionTitle("Message from the contact"),
        h("blockquote", { class: "suggestion-inbound message-text", "data-testid": "suggestion-inbound", text: String(item.inboundText || item.query || "(no text)") }),
        h("p", { class: "row-meta" },
          h("span", { text: `Received ${formatTime(item.inboundAt)}` }),
          item.messageId ? h("a", { href: `#/messages/${seg(item.messageId)}`, text: "Message details" }) : null)),
      status === "failed"
        ? errorNotice({
          message: (item.error && item.error.message) || "No suggestion could be made.",
          code: item.error && item.error.code,
        }, "No suggestion could be made")
        : h("section", { class: "suggestion-part" },
          sectionTitle(status === "approved" && item.edited ? "Suggested reply (before the edit)" : "Suggested reply"),
          h("p", { class: "suggestion-reply message-text", "data-testid": "suggestion-reply", text: String(item.response || "") })),
      status === "approved" && item.edited
        ? h("section", { class: "suggestion-part" },
          sectionTitle("The edited reply that was approved"),
          h("p", { class: "suggestion-reply message-text", "data-testid": "suggestion-sent-text", text: String(item.sentText || "") }))
        : null,
      status === "failed"
        ? null
        : h("section", { class: "suggestion-part" },
          sectionTitle(citations.length ? `Citations (${citations.length})` : "Citations"),
          citations.length
            ? h("ol", { class: "citations" }, citations.map(citationItem))
            : h("p", { class: "muted", text: "No passage of the knowledge base was cited: this is a holding reply." })),
      resolution(),
      item.feedback && item.feedback.rating
        ? h("p", { class: "muted", "data-testid": "suggestion-feedback" },
          feedbackText(item.feedback), item.feedback.comment ? `: “${item.feedback.comment}”` : "")
        : null,
      actor ? controls(titleId, outcome) : null,
      outcome);
  }

  function resolution() {
    if (item.status === "approved") {
      return h("p", { class: "muted", text: `Approved by ${who(item.approvedBy, item.approvedByEmail)} on ${formatTime(item.approvedAt)}.` });
    }
    if (item.status === "rejected") {
      return h("p", { class: "muted", "data-testid": "suggestion-rejection" },
        `Rejected by ${who(item.rejectedBy, item.rejectedByEmail)} on ${formatTime(item.rejectedAt)}`,
        item.rejectReason ? `: “${item.rejectReason}”` : ".");
    }
    return null;
  }

  function controls(titleId, outcome) {
    const described = { "aria-describedby": titleId };
    const parts = [];

    if (item.status === "pending") {
      const editId = nextId("suggestion-edit");
      const rejectId = nextId("suggestion-reject");
      const approveButton = h("button", { type: "button", text: "Approve and send", ...described });
      const editButton = h("button", {
        type: "button", text: "Edit and approve", "aria-expanded": "false", "aria-controls": editId, ...described,
      });
      const rejectButton = h("button", {
        type: "button", text: "Reject", "aria-expanded": "false", "aria-controls": rejectId, ...described,
      });
      const main = [approveButton, editButton, rejectButton];

      const editor = field({ label: "Reply to send", name: "reply", multiline: true, value: String(item.response || ""),
        hint: "Your edit is what the contact receives; the original suggestion is kept for the quality figures." });
      const counter = h("p", { class: "counter", "aria-live": "off" });
      const sync = () => { counter.textContent = `${[...editor.input.value].length} / ${MAX_REPLY} characters`; };
      editor.input.addEventListener("input", sync);
      sync();
      const sendEdited = h("button", { type: "submit", text: "Approve and send edited reply" });
      const cancelEdit = h("button", { type: "button", text: "Cancel edit" });
      const editForm = h("form", { class: "suggestion-edit", id: editId, hidden: true, "aria-label": "Edit the reply before approving" },
        editor, counter, h("div", { class: "actions" }, sendEdited, cancelEdit));

      const reason = field({ label: "Why reject it? (optional)", name: "rejectReason", attrs: { maxlength: "500", autocomplete: "off" } });
      const confirmReject = h("button", { type: "submit", text: "Reject suggestion" });
      const cancelReject = h("button", { type: "button", text: "Keep it" });
      const rejectForm = h("form", { class: "suggestion-reject", id: rejectId, hidden: true, "aria-label": "Reject the suggestion" },
        reason, h("div", { class: "actions" }, confirmReject, cancelReject));

      const all = [...main, sendEdited, cancelEdit, confirmReject, cancelReject];
      const open = (which) => {
        editForm.hidden = which !== "edit";
        rejectForm.hidden = which !== "reject";
        editButton.setAttribute("aria-expanded", String(which === "edit"));
        rejectButton.setAttribute("aria-expanded", String(which === "reject"));
      };
      editButton.addEventListener("click", () => {
        open(editForm.hidden ? "edit" : "");
        if (!editForm.hidden) editor.input.focus();
      });
      rejectButton.addEventListener("click", () => {
        open(rejectForm.hidden ? "reject" : "");
        if (!rejectForm.hidden) reason.input.focus();
      });
      cancelEdit.addEventListener("click", () => { open(""); editButton.focus(); });
      cancelReject.addEventListener("click", () => { open(""); rejectButton.focus(); });

      approveButton.addEventListener("click", () => act("approve", undefined, all, outcome));
      editForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = editor.input.value.trim();
        if (!text) {
          replace(outcome, errorNotice({ message: "The reply to send is empty." }));
          editor.input.focus();
          return;
        }
        if ([...text].length > MAX_REPLY) {
          replace(outcome, errorNotice({ message: `The reply is longer than ${MAX_REPLY} characters.` }));
          editor.input.focus();
          return;
        }
        // Unchanged: approved as is, so the quality figures do not count it as an edit.
        act("approve", text === String(item.response || "").trim() ? undefined : { text }, all, outcome);
      });
      rejectForm.addEventListener("submit", (event) => {
        event.preventDefault();
        act("reject", { reason: reason.input.value.trim() }, all, outcome);
      });
      parts.push(h("div", { class: "actions suggestion-actions" }, main), editForm, rejectForm);
      if (item.stale) parts.push(askButton("Ask for a suggestion for the newest message", { contactId: item.contactId }, outcome, described));
    } else if (item.status === "failed") {
      parts.push(askButton("Ask again", { messageId: item.messageId }, outcome, described));
    }

    if (item.status !== "failed") {
      const group = `rating-${nextId("r")}`;
      const current = item.feedback && item.feedback.rating;
      const rating = radios("Rating", group, [["good", "Good"], ["bad", "Bad"]], current || "");
      const comment = field({ label: "Comment (optional)", name: "comment", multiline: true,
        value: (item.feedback && item.feedback.comment) || "", attrs: { maxlength: "2000", rows: "2" } });
      const submit = h("button", { type: "submit", text: current ? "Update feedback" : "Send feedback", ...described });
      const form = h("form", { class: "suggestion-feedback-form" }, rating, comment, h("div", { class: "actions" }, submit));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const value = rating.value();
        if (!value) {
          replace(outcome, errorNotice({ message: "Choose Good or Bad first." }));
          rating.controls[0].focus();
          return;
        }
        await act("feedback", { rating: value, comment: comment.input.value.trim() }, [submit], outcome);
      });
      parts.push(h("details", { class: "suggestion-rate" },
        h("summary", { text: current ? "Change your rating" : "Rate this suggestion" }), form));
    }
    return h("div", { class: "suggestion-controls" }, parts);
  }

  function askButton(label, body, outcome, described) {
    const button = h("button", { type: "button", text: label, ...described });
    button.addEventListener("click", async () => {
      button.disabled = true;
      replace(outcome, h("p", { class: "muted", text: "Asking for a suggestion…" }));
      try {
        const data = await post("/api/ai/suggestions", body, { signal });
        const made = data.suggestion;
        announce(made.status === "failed" ? "No suggestion could be made." : "A new suggestion is ready.");
        if (options.onAsked) {
          replace(outcome);
          options.onAsked(made, card);
        } else {
          item = made;
          lastOutcome = null;
          draw();
          focusFirst();
        }
      } catch (err) {
        if (isAbort(err) || err.status === 401) return;
        replace(outcome, errorNotice(err, "Could not ask for a suggestion"));
        button.disabled = false;
      }
    });
    return h("div", { class: "actions" }, button);
  }

  function focusFirst() {
    const title = card.querySelector(".suggestion-title");
    if (title) {
      title.setAttribute("tabindex", "-1");
      title.focus();
    }
  }

  async function act(action, body, buttons, outcome) {
    const id = String(item.interactionId || "");
    for (const b of buttons) b.disabled = true;
    const pendingText = { approve: "Sending through the gateway…", reject: "Rejecting…", feedback: "Saving your feedback…" }[action];
    replace(outcome, h("p", { class: "muted", text: pendingText }));
    try {
      const data = await post(`/api/ai/suggestions/${seg(id)}/${action}`, body, { signal });
      item = data.suggestion;
      lastOutcome = action === "reject"
        ? notice("ok", "Rejected", h("p", { text: "Nothing was sent. The suggestion counts as rejected in the quality figures." }))
        : action === "feedback"
          ? notice("ok", "Feedback saved", h("p", { text: feedbackText(item.feedback || {}) }))
          : null;
      draw();
      lastOutcome = null;
      if (action === "approve") {
        const send = item.send || {};
        announce(SENT_LIKE.has(send.status) ? "Approved and sent." : send.status === "rejected"
          ? `Not sent: refused by policy (${list(send.reasons).join(", ")}).` : `Approved; the send ended ${send.status || "unknown"}.`);
      } else {
        announce(action === "reject" ? "Suggestion rejected." : "Feedback saved.");
      }
      if ((action === "approve" || action === "reject") && options.onResolved) options.onResolved(card, item);
      else if (options.onChange) options.onChange(item);
      const shown = card.querySelector("[data-testid='suggestion-outcome']");
      if (shown) shown.focus({ preventScroll: false });
    } catch (err) {
      if (isAbort(err) || err.status === 401) return;
      const box = errorNotice(err, action === "approve" ? "Not approved" : action === "reject" ? "Not rejected" : "Feedback not saved");
      if (err.status === 409 || err.status >= 500 || err.status === 0) {
        // Someone else acted first, or the answer was lost: show what the suggestion is now.
        try {
          item = (await get(`/api/ai/suggestions/${seg(id)}`, { signal })).suggestion;
          lastOutcome = box;
          draw();
          lastOutcome = null;
          if (item.status !== "pending" && options.onResolved) options.onResolved(card, item);
          return;
        } catch {
          // fall through: show the first error
        }
      }
      replace(outcome, box);
      for (const b of buttons) b.disabled = false;
    }
  }

  draw();
  return card;
}
