// Bulk Messaging (#/bulk, #/bulk?job=<id>): compose a job (Operator+) with a live preflight, confirm it
// above the threshold, follow one job's progress without reloading, pause / resume / cancel it,
// download its report, and the job history. A Viewer sees the jobs and their progress only.

import { announce, h, nextId, replace } from "../dom.js";
import { ApiError, call, get, isAbort, newIdempotencyKey, post, seg, withQuery } from "../api.js";
import {
  badge, checkbox, dataTable, errorNotice, field, morePager, notice, pageHead, radios, statusBadge,
} from "../components.js";
import { channelName, formatTime, isNumber, localInputToEpoch, plural } from "../format.js";
import { can, session } from "../session.js";

const TERMINAL = new Set(["completed", "cancelled", "failed"]);
// Which controls a job's status allows (the server's state machine; it stays the real guard).
const ALLOWED = {
  pause: new Set(["pending", "running"]),
  resume: new Set(["paused"]),
  cancel: new Set(["scheduled", "pending", "running", "paused"]),
};
const JOB_STATUSES = ["scheduled", "pending", "running", "paused", "cancelling", "cancelled", "completed", "failed"];
const JOB_KIND = {
  completed: "ok", running: "ink", pending: "warn", scheduled: "", paused: "warn", cancelling: "warn",
  cancelled: "", failed: "bad",
};
const RECIPIENT_STATUSES = ["pending", "sending", "sent", "failed", "rejected", "deferred", "cancelled", "unknown"];
// The bars always shown, then the other counters when they are not zero.
const MAIN_COUNTS = [["sent", "Sent"], ["failed", "Failed"], ["rejected", "Rejected"], ["pending", "Pending"]];
const MORE_COUNTS = [["sending", "Sending"], ["deferred", "Deferred"], ["cancelled", "Cancelled"], ["unknown", "Unknown"]];
const LIMITS = { whatsapp: 4096, sms: 1600 };
const POLL_MS = 1500;
const POLL_SCHEDULED_MS = 5000;
const PREFLIGHT_DELAY_MS = 400;
const RESOLVE_DELAY_MS = 500;
const RESOLVE_PARALLEL = 4;
const HISTORY_PAGE = 20;
const RECIPIENT_PAGE = 100;
const PHONE_LIKE = /^\+?[\d\s\-./()]+$/;

function jobBadge(status) {
  return badge(status || "—", JOB_KIND[status] || "");
}

function jobTitle(job) {
  return (job && typeof job.name === "string" && job.name.trim()) || (job && job.jobId) || "Bulk job";
}

function count(job, key) {
  const counts = (job && job.counts) || {};
  return Number(counts[key]) || 0;
}

function duration(seconds) {
  if (!isNumber(seconds) || seconds < 0) return "";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `about ${hours} h${rest ? ` ${rest} min` : ""}`;
}

function rateText(rate) {
  if (isNumber(rate)) return `${Math.round(rate * 10) / 10} messages/s`;
  if (rate && typeof rate === "object") {
    return Object.entries(rate)
      .filter(([, v]) => v !== null && v !== undefined && typeof v !== "object")
      .map(([k, v]) => `${k}: ${v}`).join(", ");
  }
  return rate ? String(rate) : "";
}

/** A definition list whose values carry data-testid, so a test can read one number. */
function figures(rows) {
  return h("dl", { class: "facts" }, rows
    .filter(([, value]) => value !== undefined && value !== null && value !== "")
    .map(([label, value, testid]) => [h("dt", { text: label }), h("dd", { "data-testid": testid }, value)]));
}

// ------------------------------------------------------------------------------------- recipients

/** Split one CSV line into cells (commas, semicolons or tabs; "quoted, cells" and "" escapes). */
function csvCells(line, delimiter) {
  const cells = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === "\"" && line[i + 1] === "\"") {
        cell += "\"";
        i += 1;
      } else if (c === "\"") quoted = false;
      else cell += c;
    } else if (c === "\"") quoted = true;
    else if (c === delimiter) {
      cells.push(cell.trim());
      cell = "";
    } else cell += c;
  }
  cells.push(cell.trim());
  return cells;
}

const HEADERS = {
  contactid: "contactId", contact_id: "contactId", "contact id": "contactId",
  phone: "phone", phonenumber: "phone", phone_number: "phone", "phone number": "phone", mobile: "phone",
  email: "email", "e-mail": "email",
};

/**
 * The recipients a pasted or uploaded list names: one contact id, phone number or e-mail per line, or a
 * CSV whose header has a contactId, phone (or email) column. Returns [{line, kind, value}].
 */
export function parseRecipientList(text) {
  const lines = String(text || "").replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  const first = lines.findIndex((l) => l.trim() !== "");
  if (first < 0) return [];
  const delimiter = [",", ";", "\t"].find((d) => lines[first].includes(d)) || ",";
  const header = csvCells(lines[first], delimiter).map((c) => HEADERS[c.toLowerCase()] || "");
  const hasHeader = header.some(Boolean);
  const column = (name) => header.indexOf(name);
  const out = [];
  lines.forEach((raw, index) => {
    if ((hasHeader && index <= first) || !raw.trim() || raw.trim().startsWith("#")) return;
    const cells = csvCells(raw, delimiter);
    let value = "";
    let kind = "";
    if (hasHeader) {
      for (const name of ["contactId", "phone", "email"]) {
        const at = column(name);
        if (at >= 0 && cells[at]) {
          value = cells[at];
          kind = name;
          break;
        }
      }
    } else {
      value = cells.find(Boolean) || "";
    }
    if (!value) return;
    if (!kind) {
      if (value.includes("@")) kind = "email";
      else if (PHONE_LIKE.test(value) && value.replace(/\D/g, "").length >= 6) kind = "phone";
      else kind = "contactId";
    }
    out.push({ line: index + 1, kind, value });
  });
  return out;
}

function digits(text) {
  return String(text || "").replace(/\D/g, "");
}

/** The one contact a phone number or e-mail names, from GET /api/contacts?q= (exact match first). */
async function lookUp(entry, signal) {
  const page = await get(withQuery("/api/contacts", { q: entry.value, limit: 10 }), { signal });
  const items = Array.isArray(page && page.items) ? page.items : [];
  if (entry.kind === "email") {
    const wanted = entry.value.trim().toLowerCase();
    const found = items.filter((c) => String(c.email || "").toLowerCase() === wanted);
    return found.length === 1 ? { contactId: found[0].contactId } : { problem: found.length ? "more than one contact" : "no contact" };
  }
  let wanted = digits(entry.value);
  const international = /^\s*(\+|00)/.test(entry.value);
  if (/^\s*00/.test(entry.value)) wanted = wanted.slice(2);
  const phones = items.filter((c) => c.phone);
  const exact = phones.filter((c) => digits(c.phone) === wanted);
  if (exact.length === 1) return { contactId: exact[0].contactId };
  if (exact.length > 1) return { problem: "more than one contact" };
  if (!international) {
    // A national number (07812 345678, 7812 345678): accepted only when exactly one contact ends with it.
    const national = wanted.replace(/^0+/, "");
    const ends = phones.filter((c) => national.length >= 6 && digits(c.phone).endsWith(national));
    if (ends.length === 1) return { contactId: ends[0].contactId };
    if (ends.length > 1) return { problem: "more than one contact" };
  }
  return { problem: "no contact" };
}

/** The pasted / uploaded recipient list, resolved to contact ids (phone and e-mail looked up). */
function recipientList(signal, onChange) {
  const input = field({
    label: "Contact ids or phone numbers", name: "recipientList", multiline: true,
    hint: "One contact id, phone number or e-mail per line, or a CSV with a contactId, phone or email column. Phone numbers with the country code, e.g. +447812345678.",
    attrs: { spellcheck: "false", autocomplete: "off", "data-testid": "bulk-recipient-list" },
  });
  const file = field({
    label: "Upload a CSV file", name: "recipientFile", type: "file",
    hint: "Its contents replace the list above.",
    attrs: { accept: ".csv,.txt,text/csv,text/plain", "data-testid": "bulk-recipient-file" },
  });
  const status = h("p", { class: "muted", role: "status", "data-testid": "bulk-resolved" });
  const unmatched = h("div");
  const cache = new Map(); // "phone:+44…" → {contactId} | {problem}
  let ids = [];
  let timer = null;
  let round = 0;
  let busy = false; // the list changed and is not resolved yet

  async function resolve() {
    const mine = ++round;
    busy = true;
    const entries = parseRecipientList(input.input.value);
    replace(unmatched);
    if (!entries.length) {
      ids = [];
      busy = false;
      status.textContent = "No recipients listed yet.";
      onChange();
      return;
    }
    const lookups = entries.filter((e) => e.kind !== "contactId" && !cache.has(`${e.kind}:${e.value}`));
    let done = 0;
    let failure = null;
    const queue = [...lookups];
    async function next() {
      while (queue.length && !failure && mine === round) {
        const entry = queue.shift();
        status.textContent = `Looking up ${plural(lookups.length, "phone number or e-mail", "phone numbers or e-mails")}: ${done} of ${lookups.length} done…`;
        try {
          cache.set(`${entry.kind}:${entry.value}`, await lookUp(entry, signal));
        } catch (err) {
          failure = err;
        }
        done += 1;
      }
    }
    await Promise.all(Array.from({ length: Math.min(RESOLVE_PARALLEL, lookups.length) }, next));
    if (mine !== round) return; // the list changed meanwhile; the newer round reports
    busy = false;
    if (failure) {
      if (isAbort(failure) || failure.status === 401) return;
      ids = [];
      status.textContent = "The list could not be resolved.";
      replace(unmatched, errorNotice(failure, "Could not look up the phone numbers"));
      onChange();
      return;
    }
    const seen = new Set();
    const missing = [];
    let looked = 0;
    for (const entry of entries) {
      const found = entry.kind === "contactId" ? { contactId: entry.value } : cache.get(`${entry.kind}:${entry.value}`);
      if (!found || !found.contactId) {
        missing.push({ ...entry, problem: (found && found.problem) || "no contact" });
        continue;
      }
      if (entry.kind !== "contactId") looked += 1;
      seen.add(found.contactId);
    }
    ids = [...seen];
    const parts = [`${plural(ids.length, "recipient")}`];
    if (looked) parts.push(`${plural(looked, "line")} matched by phone or e-mail`);
    if (entries.length - missing.length > ids.length) parts.push("repeats counted once");
    status.textContent = `${parts.join("; ")}.`;
    if (missing.length) {
      replace(unmatched, notice("warn", `${plural(missing.length, "line")} not matched to a contact (left out)`,
        h("ul", { "data-testid": "bulk-unmatched" }, missing.slice(0, 50).map((m) =>
          h("li", { text: `Line ${m.line}: ${m.value} — ${m.problem}` }))),
        missing.length > 50 ? h("p", { text: `…and ${missing.length - 50} more.` }) : null));
    }
    onChange();
  }

  function later() {
    clearTimeout(timer);
    busy = true;
    round += 1; // an answer to an older list is ignored
    status.textContent = "Reading the list…";
    timer = setTimeout(resolve, RESOLVE_DELAY_MS);
  }
  input.input.addEventListener("input", later);
  file.input.addEventListener("change", async () => {
    const chosen = file.input.files && file.input.files[0];
    if (!chosen) return;
    busy = true;
    round += 1;
    try {
      input.input.value = await chosen.text();
    } catch {
      busy = false;
      replace(unmatched, errorNotice({ message: `The file ${chosen.name} could not be read.` }));
      onChange();
      return;
    }
    clearTimeout(timer);
    resolve();
  });
  signal.addEventListener("abort", () => clearTimeout(timer));
  status.textContent = "No recipients listed yet.";

  return {
    element: h("div", null, input, file, status, unmatched),
    ids: () => ids,
    busy: () => busy,
  };
}

// ---------------------------------------------------------------------------------------- preflight

function preflightFigures(result, prefix) {
  const refused = result && result.refused && typeof result.refused === "object" ? result.refused : {};
  const codes = Object.entries(refused).filter(([, n]) => Number(n) > 0);
  // A recipient refused for several reasons counts once here and under each of its reasons below.
  const total = Number(result && result.total) || 0;
  const refusedTotal = Math.max(0, total - (Number(result && result.wouldSend) || 0));
  const tier = result && result.tier && typeof result.tier === "object" ? result.tier : null;
  const opens = Number(result && result.opensConversations) || 0;
  const over = tier && isNumber(tier.remaining) && opens > tier.remaining;
  return [
    figures([
      ["Recipients", String(total), `${prefix}-total`],
      ["Would send", String(Number(result && result.wouldSend) || 0), `${prefix}-would-send`],
      ["Refused", String(refusedTotal), `${prefix}-refused-total`],
      ["Opens conversations", String(opens), `${prefix}-opens`],
      ["WhatsApp tier", tier
        ? `${tier.remaining ?? "?"} of ${tier.limit ?? "?"} conversations left (${tier.used24h ?? "?"} used in the last 24 h)`
        : null, `${prefix}-tier`],
    ]),
    codes.length
      ? h("div", null,
        h("h3", { text: "Refused, by reason" }),
        h("p", { class: "muted", text: "A recipient refused for several reasons is counted under each." }),
        h("ul", { class: "reasons", "data-testid": `${prefix}-refused` }, codes.map(([code, n]) =>
          h("li", { "data-reason": code },
            h("span", { class: "code badge bad", text: code }),
            h("span", { text: ` ${plural(Number(n), "recipient")}`, "data-count": String(n) })))))
      : null,
    over
      ? notice("warn", "Over the WhatsApp tier",
        h("p", { text: `This job would open ${plural(opens, "conversation")} but only ${tier.remaining} are left in the tier; creating it will be refused (TIER_LIMIT).` }))
      : null,
  ];
}

// ---------------------------------------------------------------------------------------- compose

function allowlistFrom(bundle) {
  const list = bundle && bundle.params && bundle.params.whatsapp && bundle.params.whatsapp.allowlist;
  return Array.isArray(list) ? list.filter((id) => typeof id === "string") : [];
}

function createError(err) {
  const box = errorNotice(err, "The job was not created");
  const d = err.details || {};
  if (err.code === "TIER_LIMIT") {
    box.append(h("p", { text: `Needed: ${d.needed ?? "?"} conversations; remaining: ${d.remaining ?? "?"} of ${d.limit ?? "?"}.` }));
  }
  return box;
}

function composer(ctx, bundle, onCreated) {
  const channel = field({
    label: "Channel", name: "channel", options: [["whatsapp", "WhatsApp"], ["sms", "SMS"], ["email", "Email"]],
    value: "whatsapp", attrs: { "data-testid": "bulk-channel" },
  });
  const kind = radios("WhatsApp message type", "bulkKind", [["text", "Text"], ["template", "Template"]], "text");
  const senders = allowlistFrom(bundle);
  const from = field({
    label: "From WhatsApp number", name: "phoneNumberId",
    options: [
      ["", "Default sender"],
      ...senders.map((id) => [id, id]),
      // Several numbers: recipients alternate between them, for up to twice the throughput.
      ...(senders.length > 1 ? [["*all*", `All ${senders.length} numbers (recipients alternate)`]] : []),
    ],
    hint: "Only allowlisted phone-number ids can send.",
  });
  const body = field({ label: "Message", name: "body", multiline: true });
  const counter = h("p", { class: "counter", "aria-live": "off" });
  const templateName = field({
    label: "Template name", name: "templateName", autocomplete: "off", placeholder: "e.g. order_update",
    hint: "An approved WhatsApp template; outside the 24-hour window only templates are delivered.",
  });
  const templateLanguage = field({ label: "Template language", name: "templateLanguage", value: "en_US", autocomplete: "off" });
  const templateComponents = field({
    label: "Template components (optional)", name: "templateComponents", multiline: true,
    hint: "A JSON array of components (header, body parameters), as the WhatsApp API takes them.",
    attrs: { spellcheck: "false" },
  });
  const subject = field({ label: "Subject", name: "subject", autocomplete: "off" });
  const emailText = field({ label: "Text body", name: "emailText", multiline: true });
  const emailHtml = field({
    label: "HTML body (optional)", name: "emailHtml", multiline: true,
    hint: "Sent as the HTML part of the e-mail; this page never renders it.",
  });
  const name = field({ label: "Job name (optional)", name: "jobName", autocomplete: "off", attrs: { maxlength: "200" } });
  const sendAt = field({
    label: "Send at (optional)", name: "sendAt", type: "datetime-local",
    hint: "Your local time, at most 35 days ahead. Empty: send now.",
  });

  const mode = radios("Recipients", "recipientMode",
    [["list", "Paste or upload a list"], ["filter", "Contacts matching a search"]], "list");
  const list = recipientList(ctx.signal, () => changed(false));
  const filterText = field({
    label: "Search text", name: "filterQ", type: "search", autocomplete: "off",
    hint: "Name, phone or e-mail, as in the Contacts search. Empty, with the box below ticked: every contact opted in to the channel.",
  });
  const optedIn = checkbox("Only contacts opted in to this channel", { name: "filterOptedIn", checked: true });
  const filterGroup = h("div", null, filterText, optedIn);

  const whatsappGroup = h("div", null, kind, from);
  const textGroup = h("div", null, body, counter);
  const templateGroup = h("div", null, h("div", { class: "grid-2" }, templateName, templateLanguage), templateComponents);
  const emailGroup = h("div", null, subject, emailText, emailHtml);

  const preflightBody = h("div", { "aria-live": "polite" });
  const preflightPanel = h("section", { class: "panel bulk-preflight", "aria-labelledby": "preflight-title", "data-testid": "bulk-preflight" },
    h("h2", { id: "preflight-title", text: "Preflight" }),
    h("p", { class: "muted", text: "What every recipient would get now, decided by the same policy as a real send. Nothing is sent or stored." }),
    preflightBody);

  const confirmTitle = h("h2", { id: "confirm-title", tabindex: "-1", text: "Confirm this job" });
  const confirmBody = h("div");
  const confirmButton = h("button", { type: "button", text: "Confirm and create job", "data-testid": "bulk-confirm-create" });
  const backButton = h("button", { type: "button", text: "Go back" });
  const confirmPanel = h("section", {
    class: "notice warn bulk-confirm", hidden: true, "aria-labelledby": "confirm-title", "data-testid": "bulk-confirm",
  }, confirmTitle, confirmBody, h("div", { class: "actions" }, confirmButton, backButton));

  const submit = h("button", { type: "submit", text: "Create job", "data-testid": "bulk-create" });
  const outcome = h("div", { class: "outcome", "aria-live": "polite", "data-testid": "bulk-create-outcome" });
  const form = h("form", { "aria-labelledby": "compose-title", novalidate: true },
    h("div", { class: "grid-2" }, channel, name),
    whatsappGroup, textGroup, templateGroup, emailGroup,
    sendAt,
    mode, list.element, filterGroup,
    preflightPanel,
    h("div", { class: "actions" }, submit));

  let key = null; // one Idempotency-Key per compose attempt, reused to confirm it
  let pendingBody = null; // the body a confirmation token was issued for
  let timer = null;
  let round = 0;

  function sync() {
    const ch = channel.input.value;
    const isTemplate = ch === "whatsapp" && kind.value() === "template";
    whatsappGroup.hidden = ch !== "whatsapp";
    textGroup.hidden = ch === "email" || isTemplate;
    templateGroup.hidden = !isTemplate;
    emailGroup.hidden = ch !== "email";
    const byFilter = mode.value() === "filter";
    list.element.hidden = byFilter;
    filterGroup.hidden = !byFilter;
    optedIn.querySelector("span").textContent = `Only contacts opted in to ${channelName(ch)}`;
    const limit = LIMITS[ch];
    counter.textContent = limit ? `${[...body.input.value].length} / ${limit} characters` : "";
  }

  /** The request body, or {problem} saying what is missing (shown instead of asking the server). */
  function build() {
    const ch = channel.input.value;
    const out = { channel: ch };
    if (ch === "email") {
      if (!subject.input.value.trim()) return { problem: "Give the e-mail a subject." };
      if (!emailText.input.value && !emailHtml.input.value) return { problem: "Give the e-mail a text or an HTML body." };
      out.email = { subject: subject.input.value };
      if (emailText.input.value) out.email.text = emailText.input.value;
      if (emailHtml.input.value) out.email.html = emailHtml.input.value;
    } else if (ch === "whatsapp" && kind.value() === "template") {
      const tname = templateName.input.value.trim();
      const language = templateLanguage.input.value.trim();
      if (!tname) return { problem: "Give the template name." };
      if (language.length < 2) return { problem: "Give the template language, e.g. en_US." };
      out.template = { name: tname, language };
      const raw = templateComponents.input.value.trim();
      if (raw) {
        let parsed;
        try {
          parsed = JSON.parse(raw);
        } catch {
          return { problem: "Template components must be valid JSON (an array)." };
        }
        if (!Array.isArray(parsed)) return { problem: "Template components must be a JSON array." };
        out.template.components = parsed;
      }
    } else {
      out.text = { body: body.input.value };
    }
    if (ch === "whatsapp" && from.input.value === "*all*") out.phoneNumberIds = senders.slice();
    else if (ch === "whatsapp" && from.input.value) out.phoneNumberId = from.input.value;
    if (mode.value() === "filter") {
      const filter = {};
      const q = filterText.input.value.trim();
      if (q) filter.q = q;
      if (optedIn.input.checked) filter.optedIn = true;
      out.recipients = { filter };
    } else {
      if (list.busy()) return { problem: "Reading the recipient list…" };
      const ids = list.ids();
      if (!ids.length) return { problem: "List the recipients: contact ids or phone numbers, or upload a CSV file." };
      out.recipients = { contactIds: ids };
    }
    const jobName = name.input.value.trim();
    if (jobName) out.name = jobName;
    if (sendAt.input.value) {
      const at = localInputToEpoch(sendAt.input.value);
      if (at === "") return { problem: "The send time is not a valid date and time." };
      out.sendAt = at;
    }
    return { body: out };
  }

  function hideConfirmation() {
    confirmPanel.hidden = true;
    pendingBody = null;
  }

  /** Something in the form changed: a new compose attempt, a fresh preflight soon. */
  function changed(fromForm = true) {
    if (fromForm) key = null;
    if (!confirmPanel.hidden) {
      hideConfirmation();
      key = null;
    }
    sync();
    clearTimeout(timer);
    round += 1;
    timer = setTimeout(runPreflight, PREFLIGHT_DELAY_MS);
  }

  async function runPreflight() {
    const mine = ++round;
    const { body: payload, problem } = build();
    if (problem) {
      replace(preflightBody, h("p", { class: "muted", "data-testid": "bulk-preflight-hint", text: problem }));
      return;
    }
    replace(preflightBody, h("p", { class: "muted", role: "status", text: "Checking every recipient…" }));
    try {
      const data = await post("/api/bulk-jobs/preflight", payload, { signal: ctx.signal });
      if (mine !== round) return;
      replace(preflightBody, preflightFigures((data && data.preflight) || {}, "bulk-preflight"));
    } catch (err) {
      if (isAbort(err) || err.status === 401 || mine !== round) return;
      replace(preflightBody, errorNotice(err, "The preflight failed"));
    }
  }

  async function create(payload, token) {
    submit.disabled = true;
    confirmButton.disabled = true;
    replace(outcome, h("p", { class: "muted", text: token ? "Creating the confirmed job…" : "Creating the job…" }));
    if (!key) key = newIdempotencyKey();
    let definitive = true;
    try {
      const { data } = await call("POST", "/api/bulk-jobs", {
        body: token ? { ...payload, confirmationToken: token } : payload,
        headers: { "Idempotency-Key": key },
        signal: ctx.signal,
      });
      const job = (data && data.job) || {};
      hideConfirmation();
      replace(outcome, notice("ok", job.status === "scheduled" ? "Job scheduled" : "Job created",
        h("p", null, `“${jobTitle(job)}”: ${plural(Number(job.totalRecipients) || 0, "recipient")}. Job id: `,
          h("span", { class: "code id", "data-testid": "bulk-created-job-id", text: job.jobId || "" })),
        h("p", { class: "muted", text: "Its progress is shown below." })));
      announce(job.status === "scheduled" ? "Job scheduled." : "Job created.");
      onCreated(job);
    } catch (err) {
      if (isAbort(err) || (err && err.status === 401)) return;
      if (err.code === "CONFIRMATION_REQUIRED" && err.details && err.details.confirmationToken) {
        definitive = false; // the confirmation repeats this attempt under the same key
        replace(outcome);
        askConfirmation(payload, err.details);
        return;
      }
      definitive = !(err.status === 0 || err.status === 429 || err.status >= 500);
      hideConfirmation();
      replace(outcome, createError(err));
      announce("The job was not created.");
    } finally {
      if (definitive) key = null;
      submit.disabled = false;
      confirmButton.disabled = false;
    }
  }

  function askConfirmation(payload, details) {
    pendingBody = { payload, token: details.confirmationToken };
    const result = details.preflight || {};
    const minutes = isNumber(details.expiresInSeconds) ? Math.max(1, Math.round(details.expiresInSeconds / 60)) : null;
    replace(confirmBody,
      h("p", { text: `This job has ${plural(Number(result.total) || 0, "recipient")}, more than ${details.threshold ?? 20}: check what it would do, then confirm.` }),
      preflightFigures(result, "bulk-confirm"),
      minutes ? h("p", { class: "muted", text: `The confirmation is valid for ${plural(minutes, "minute")}; changing the form cancels it.` }) : null);
    confirmPanel.hidden = false;
    confirmTitle.focus();
    announce("Confirmation needed before the job is created.");
  }

  form.addEventListener("input", () => changed(true));
  form.addEventListener("change", (event) => {
    // Text inputs already reported "input"; selects, radios, checkboxes and date pickers report here.
    if (event.target instanceof HTMLInputElement && ["text", "search"].includes(event.target.type)) return;
    if (event.target instanceof HTMLTextAreaElement) return;
    changed(true);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { body: payload, problem } = build();
    if (problem) {
      replace(outcome, errorNotice({ message: problem }, "The job was not created"));
      return;
    }
    create(payload, null);
  });
  confirmButton.addEventListener("click", () => {
    if (pendingBody) create(pendingBody.payload, pendingBody.token);
  });
  backButton.addEventListener("click", () => {
    hideConfirmation();
    key = null;
    replace(outcome, notice("", null, h("p", { text: "Not created. Change the job or create it again." })));
    submit.focus();
  });
  ctx.signal.addEventListener("abort", () => clearTimeout(timer));

  sync();
  runPreflight();
  return h("section", { class: "panel bulk-compose", "aria-labelledby": "compose-title", "data-testid": "bulk-compose" },
    h("h2", { id: "compose-title", text: "New bulk job" }),
    h("p", { class: "muted", text: "Every recipient is decided by policy on its own, as a single send would be: consent, window, tier and content limits all apply." }),
    form, confirmPanel, outcome);
}

// ------------------------------------------------------------------------------------------ report

function filenameFrom(disposition) {
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition || "");
  if (!match) return "";
  try {
    return decodeURIComponent(match[1]).replace(/[/\\]/g, "_");
  } catch {
    return match[1];
  }
}

/** GET the report with the bearer token (a plain link cannot send it) and save it as a file. */
async function downloadReport(jobId, format) {
  const headers = { Accept: format === "csv" ? "text/csv, application/json" : "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(withQuery(`/api/bulk-jobs/${seg(jobId)}/report`, { format }), {
      headers, cache: "no-store", credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "NETWORK", "The server could not be reached. Check that it is running, then try again.", {});
  }
  if (!response.ok) {
    let error = {};
    try {
      const data = await response.json();
      error = (data && typeof data === "object" && data.error) || {};
    } catch {
      error = {};
    }
    if (response.status === 401) {
      // Let the app end the session the usual way (api.js handles a 401 on its own requests).
      get("/api/me").catch(() => {});
    }
    throw new ApiError(response.status, String(error.code || `HTTP_${response.status}`),
      String(error.message || `The server answered ${response.status} ${response.statusText}.`.trim()),
      error.details && typeof error.details === "object" ? error.details : {});
  }
  const blob = await response.blob();
  const name = filenameFrom(response.headers.get("Content-Disposition")) || `bulk-report-${jobId}.${format}`;
  const url = URL.createObjectURL(blob);
  const anchor = h("a", { href: url, download: name, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

// ---------------------------------------------------------------------------------------- progress

function recipientsPanel(signal) {
  const statusFilter = field({
    label: "Recipient status", name: "recipientStatus",
    options: [["", "Any status"], ...RECIPIENT_STATUSES.map((s) => [s, s])],
  });
  const show = h("button", { type: "submit", class: "small", text: "Show recipients" });
  const form = h("form", { class: "inline-form", "aria-label": "Filter recipients" }, statusFilter, show);
  const problems = h("div");
  const status = h("p", { class: "muted", role: "status" });
  const results = h("div", { "data-testid": "bulk-recipients" });
  let jobId = null;
  let rows = [];
  const pager = morePager("Load more recipients", (cursor) => load(cursor));

  function reason(r) {
    const e = r.errorDetails;
    if (!e || typeof e !== "object") return "—";
    const codes = Array.isArray(e.reasons) ? e.reasons : [];
    if (codes.length) return h("div", { class: "badges" }, codes.map((c) => badge(String(c), "bad")));
    return [e.code ? h("span", { class: "code", text: String(e.code) }) : null,
      e.message ? h("div", { class: "muted", text: String(e.message) }) : null];
  }

  let requests = 0; // only the newest request draws: an older answer arriving late is dropped

  async function load(cursor) {
    if (!jobId) return;
    const mine = jobId;
    const request = ++requests;
    replace(problems);
    try {
      const page = await get(withQuery(`/api/bulk-jobs/${seg(mine)}/recipients`,
        { status: statusFilter.input.value, limit: RECIPIENT_PAGE, cursor }), { signal });
      if (mine !== jobId || request !== requests) return;
      rows = cursor ? rows.concat(page.items || []) : page.items || [];
      pager.set(page.cursor);
      status.textContent = rows.length ? `Showing ${plural(rows.length, "recipient")}${page.cursor ? "; more available." : "."}` : "No recipients match.";
      replace(results, rows.length ? dataTable([
        { label: "Contact", cell: (r) => (r.contactId ? h("a", { href: `#/contacts/${seg(r.contactId)}`, class: "code id", text: r.contactId }) : "—") },
        { label: "Status", cell: (r) => statusBadge(r.status) },
        { label: "Reason", cell: reason },
        { label: "Message", cell: (r) => (r.messageId ? h("a", { href: `#/messages/${seg(r.messageId)}`, text: "Details and decision" }) : "—") },
        { label: "Sent", cell: (r) => (r.sentAt ? formatTime(r.sentAt, { seconds: true }) : "—") },
      ], rows, "Recipients of this job") : null);
    } catch (err) {
      if (!isAbort(err) && err.status !== 401 && mine === jobId && request === requests) {
        replace(problems, errorNotice(err, "Could not load the recipients"));
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show.disabled = true;
    await load(null);
    show.disabled = false;
  });
  const details = h("details", { class: "bulk-recipients" }, h("summary", { text: "Recipients" }),
    form, problems, status, results, pager.element);
  details.addEventListener("toggle", () => {
    if (details.open && !rows.length) load(null);
  });
  return {
    element: details,
    setJob(id) {
      jobId = id;
      rows = [];
      details.open = false;
      replace(results);
      replace(problems);
      status.textContent = "";
      pager.set(null);
    },
    refresh() {
      if (details.open) load(null);
    },
  };
}

function progressView(ctx, onUpdate) {
  const operator = can.send();
  const heading = h("h2", { id: "progress-title", tabindex: "-1", text: "Job progress" });
  const body = h("div");
  const problems = h("div", { "aria-live": "polite" });
  const summary = h("div");
  const overall = h("div");
  const bars = h("div", { class: "bulk-bars", "data-testid": "bulk-bars" });
  const controlResult = h("div", { "aria-live": "polite" });
  const downloadResult = h("div", { "aria-live": "polite" });
  const recipients = recipientsPanel(ctx.signal);
  const section = h("section", { class: "panel bulk-progress", "aria-labelledby": "progress-title", "data-testid": "bulk-progress" },
    heading, body);

  const pause = h("button", { type: "button", text: "Pause", "data-testid": "bulk-pause", hidden: true });
  const resume = h("button", { type: "button", text: "Resume", "data-testid": "bulk-resume", hidden: true });
  const cancel = h("button", { type: "button", text: "Cancel job", "data-testid": "bulk-cancel", hidden: true });
  const cancelYes = h("button", { type: "button", text: "Yes, cancel this job", "data-testid": "bulk-cancel-confirm" });
  const cancelNo = h("button", { type: "button", text: "Keep it running" });
  const cancelQuestion = h("div", { class: "notice warn", hidden: true, role: "group", "aria-label": "Confirm cancelling" },
    h("p", { text: "Cancel this job? Recipients not sent yet will not be sent; messages already sent stay sent." }),
    h("div", { class: "actions" }, cancelYes, cancelNo));
  const csv = h("button", { type: "button", class: "small", text: "Download CSV report", "data-testid": "bulk-report-csv" });
  const json = h("button", { type: "button", class: "small", text: "Download JSON report", "data-testid": "bulk-report-json" });

  let job = null;
  let timer = null;
  let barRows = {};
  let version = 0; // bumped by every update: a poll answer older than a control's answer is dropped

  function stop() {
    clearTimeout(timer);
    timer = null;
  }

  function schedule() {
    stop();
    if (!job || TERMINAL.has(job.status) || ctx.signal.aborted) return;
    timer = setTimeout(poll, job.status === "scheduled" ? POLL_SCHEDULED_MS : POLL_MS);
  }

  async function poll() {
    const id = job && job.jobId;
    if (!id) return;
    const seen = version;
    try {
      const data = await get(`/api/bulk-jobs/${seg(id)}`, { signal: ctx.signal });
      if (!job || job.jobId !== id) return;
      replace(problems);
      if (seen === version) update(data.job);
    } catch (err) {
      if (isAbort(err) || err.status === 401 || !job || job.jobId !== id) return;
      replace(problems, errorNotice(err, "Could not refresh the progress"));
      if (err.status === 404) return;
    }
    schedule();
  }

  function bar(key, label) {
    const id = nextId("bar");
    const meter = h("progress", { id, max: "1", value: "0", "data-testid": `bulk-bar-${key}` });
    const value = h("span", { class: "bulk-bar-count", "data-testid": `bulk-count-${key}`, text: "0" });
    const share = h("span", { class: "muted" });
    const row = h("div", { class: `bulk-bar bulk-bar-${key}`, dataset: { status: key } },
      h("label", { for: id, text: label }), meter, h("span", { class: "bulk-bar-figures" }, value, " ", share));
    return { row, meter, value, share };
  }

  function drawSummary() {
    const total = Number(job.totalRecipients) || 0;
    const pauseReason = job.pauseReason && job.status === "paused" ? String(job.pauseReason) : "";
    replace(summary, figures([
      ["Status", h("span", null, jobBadge(job.status)), "bulk-job-status"],
      ["Paused because", pauseReason ? h("span", { class: "code", text: pauseReason }) : null, "bulk-pause-reason"],
      ["Channel", channelName(job.channel), "bulk-job-channel"],
      ["Recipients", String(total), "bulk-job-total"],
      ["Rate", rateText(job.ratePerSecond ?? job.rate), "bulk-job-rate"],
      ["Time left", TERMINAL.has(job.status) ? null : duration(job.etaSeconds), "bulk-job-eta"],
      ["Scheduled for", job.sendAt ? formatTime(job.sendAt) : null, "bulk-job-send-at"],
      ["Created", formatTime(job.createdAt), "bulk-job-created"],
      ["Finished", job.completedAt || job.cancelledAt || job.failedAt
        ? formatTime(job.completedAt || job.cancelledAt || job.failedAt) : null, "bulk-job-finished"],
      ["Job id", h("span", { class: "code id", text: job.jobId }), "bulk-job-id"],
    ]));
    section.dataset.status = job.status || "";
  }

  function drawBars() {
    const total = Number(job.totalRecipients) || 0;
    const done = ["sent", "failed", "rejected", "cancelled", "unknown"].reduce((s, k) => s + count(job, k), 0);
    replace(overall, h("p", { "data-testid": "bulk-overall", text: `${done} of ${plural(total, "recipient")} done${TERMINAL.has(job.status) ? "" : " so far"}.` }));
    for (const [key, label] of [...MAIN_COUNTS, ...MORE_COUNTS]) {
      const n = count(job, key);
      let row = barRows[key];
      if (!row) {
        if (!MAIN_COUNTS.some(([k]) => k === key) && n === 0) continue;
        row = bar(key, label);
        barRows[key] = row;
        bars.append(row.row);
      }
      row.meter.max = Math.max(total, 1);
      row.meter.value = n;
      row.value.textContent = String(n);
      row.share.textContent = total ? `(${Math.round((n / total) * 100)} %)` : "";
    }
  }

  function drawControls() {
    const status = job.status;
    pause.hidden = !ALLOWED.pause.has(status);
    resume.hidden = !ALLOWED.resume.has(status);
    cancel.hidden = !ALLOWED.cancel.has(status) || !cancelQuestion.hidden;
    if (!ALLOWED.cancel.has(status)) cancelQuestion.hidden = true;
  }

  function update(next) {
    const before = job ? job.status : "";
    version += 1;
    job = next;
    drawSummary();
    drawBars();
    if (operator) drawControls();
    if (before && before !== job.status) {
      announce(`Job ${job.status}.`);
      recipients.refresh();
    }
    onUpdate(job);
  }

  async function control(action, button) {
    button.disabled = true;
    replace(controlResult);
    try {
      const data = await post(`/api/bulk-jobs/${seg(job.jobId)}/${action}`, undefined, { signal: ctx.signal });
      update(data.job);
      replace(controlResult, notice("ok", null, h("p", { text: `Job ${data.job.status}.` })));
      schedule();
    } catch (err) {
      if (isAbort(err) || err.status === 401) return;
      const now = err.details && err.details.status;
      replace(controlResult, errorNotice(err, now ? `Not possible while the job is ${now}` : `The job was not changed`));
      poll(); // show the status the server has
    } finally {
      button.disabled = false;
      cancelQuestion.hidden = true;
      if (operator && job) drawControls();
      // Focus stays on the controls: the first one still offered, else the heading.
      const next = [pause, resume, cancel].find((b) => !b.hidden);
      (next || heading).focus();
    }
  }

  pause.addEventListener("click", () => control("pause", pause));
  resume.addEventListener("click", () => control("resume", resume));
  cancel.addEventListener("click", () => {
    cancelQuestion.hidden = false;
    cancel.hidden = true;
    cancelNo.focus();
  });
  cancelNo.addEventListener("click", () => {
    cancelQuestion.hidden = true;
    if (job) drawControls();
    cancel.focus();
  });
  cancelYes.addEventListener("click", () => control("cancel", cancelYes));

  async function download(format, button) {
    button.disabled = true;
    replace(downloadResult, h("p", { class: "muted", text: "Preparing the report…" }));
    try {
      const name = await downloadReport(job.jobId, format);
      replace(downloadResult, notice("ok", null, h("p", { text: `Report saved as ${name}.` })));
    } catch (err) {
      replace(downloadResult, errorNotice(err, "The report could not be downloaded"));
    } finally {
      button.disabled = false;
    }
  }
  csv.addEventListener("click", () => download("csv", csv));
  json.addEventListener("click", () => download("json", json));
  ctx.signal.addEventListener("abort", stop);

  replace(body, h("p", { class: "muted", "data-testid": "bulk-progress-empty",
    text: operator ? "Create a job above, or choose one from the history." : "Choose a job from the history." }));

  return {
    element: section,
    /** Show this job (a job document, already fetched) and follow it until it ends. */
    show(next, { focus = false } = {}) {
      stop();
      job = null;
      barRows = {};
      replace(bars);
      replace(problems);
      replace(controlResult);
      replace(downloadResult);
      cancelQuestion.hidden = true;
      recipients.setJob(next.jobId);
      heading.textContent = `Job progress: ${jobTitle(next)}`;
      replace(body, problems, summary, overall, bars,
        operator ? h("div", { class: "actions bulk-controls", "aria-label": "Job controls", role: "group" }, pause, resume, cancel) : null,
        operator ? cancelQuestion : null,
        controlResult,
        h("div", { class: "actions bulk-downloads" }, csv, json),
        downloadResult,
        recipients.element);
      update(next);
      schedule();
      if (focus) {
        heading.focus();
        announce(heading.textContent);
      }
    },
    async open(jobId, options) {
      stop();
      replace(body, h("p", { class: "muted", role: "status", text: "Loading the job…" }));
      try {
        const data = await get(`/api/bulk-jobs/${seg(jobId)}`, { signal: ctx.signal });
        this.show(data.job, options);
      } catch (err) {
        if (isAbort(err) || err.status === 401) return;
        job = null;
        replace(body, errorNotice(err, "Could not load the job"));
      }
    },
    current: () => job,
  };
}

// ----------------------------------------------------------------------------------------- history

function jobHistory(ctx, first, onPick) {
  const statusFilter = field({
    label: "Job status", name: "jobStatus", options: [["", "Any status"], ...JOB_STATUSES.map((s) => [s, s])],
  });
  const filterButton = h("button", { type: "submit", text: "Filter" });
  const refresh = h("button", { type: "button", text: "Refresh" });
  const form = h("form", { class: "inline-form", "aria-label": "Filter jobs" }, statusFilter, filterButton, refresh);
  const status = h("p", { class: "muted", role: "status" });
  const problems = h("div");
  const results = h("div", { "data-testid": "bulk-history" });
  let rows = [];
  let wantedStatus = "";
  const pager = morePager("Load more jobs", (cursor) => load(cursor));

  const columns = [
    {
      label: "Job",
      cell: (j) => h("a", {
        href: `#/bulk?job=${seg(j.jobId)}`, text: jobTitle(j), class: "wrap-anywhere",
        on: {
          click: (event) => {
            // A plain click shows the job here; a modified click (new tab, new window) is left alone.
            if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
            event.preventDefault();
            onPick(j.jobId);
          },
        },
      }),
    },
    { label: "Channel", cell: (j) => channelName(j.channel) },
    { label: "Status", cell: (j) => jobBadge(j.status) },
    { label: "Recipients", cell: (j) => String(Number(j.totalRecipients) || 0) },
    { label: "Sent", cell: (j) => String(count(j, "sent")) },
    { label: "Failed / rejected", cell: (j) => `${count(j, "failed")} / ${count(j, "rejected")}` },
    { label: "Created", cell: (j) => formatTime(j.createdAt) },
  ];

  function draw(page, more) {
    rows = more ? rows.concat(page.items || []) : page.items || [];
    pager.set(page.cursor);
    status.textContent = rows.length ? `Showing ${plural(rows.length, "job")}, newest first${page.cursor ? "; more available." : "."}` : "No bulk jobs yet.";
    replace(results, rows.length ? dataTable(columns, rows, "Bulk jobs, newest first") : null);
    results.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.dataset.jobId = rows[i].jobId;
    });
  }

  let requests = 0; // only the newest request draws

  async function load(cursor) {
    const request = ++requests;
    replace(problems);
    try {
      const page = await get(withQuery("/api/bulk-jobs", { status: wantedStatus, limit: HISTORY_PAGE, cursor }), { signal: ctx.signal });
      if (request === requests) draw(page, Boolean(cursor));
    } catch (err) {
      if (!isAbort(err) && err.status !== 401 && request === requests) replace(problems, errorNotice(err, "Could not load the jobs"));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    wantedStatus = statusFilter.input.value;
    filterButton.disabled = true;
    await load(null);
    filterButton.disabled = false;
  });
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    await load(null);
    refresh.disabled = false;
    announce("Jobs refreshed.");
  });

  draw(first, false);
  return {
    element: h("section", { "aria-labelledby": "history-title" },
      h("h2", { id: "history-title", text: "Job history" }),
      form, problems, status, results, pager.element),
    /** A job changed (polled or controlled): update its row in place, so focus stays where it is. */
    update(job) {
      const at = rows.findIndex((r) => r.jobId === job.jobId);
      if (at < 0) return;
      rows[at] = job;
      const tr = results.querySelectorAll("tbody tr")[at];
      if (!tr) return;
      tr.querySelectorAll("td").forEach((td, i) => {
        if (i > 0 && td.firstChild) replace(td.firstChild, columns[i].cell(job));
      });
    },
    /** A job just created: first in the list (unless a status filter leaves it out). */
    add(job) {
      if (wantedStatus && job.status !== wantedStatus) return;
      rows = [job, ...rows.filter((r) => r.jobId !== job.jobId)];
      draw({ items: rows, cursor: null }, false);
    },
  };
}

// -------------------------------------------------------------------------------------------- page

export async function bulkPage(ctx) {
  const operator = can.send();
  const wanted = ctx.query.get("job");
  const [first, bundle] = await Promise.all([
    get(withQuery("/api/bulk-jobs", { limit: HISTORY_PAGE }), { signal: ctx.signal }),
    operator ? get("/api/policies", { signal: ctx.signal }).catch((err) => {
      if (isAbort(err)) throw err;
      return null; // the sender list is a convenience; the default sender still works
    }) : Promise.resolve(null),
  ]);

  let jobs = null;
  const progress = progressView(ctx, (job) => {
    if (jobs) jobs.update(job);
  });
  // The chosen job is kept in the address (without a new render), so a reload shows it again.
  const remember = (jobId) => window.history.replaceState(window.history.state, "", `#/bulk?job=${seg(jobId)}`);
  jobs = jobHistory(ctx, first, (jobId) => {
    remember(jobId);
    progress.open(jobId, { focus: true });
  });
  const compose = operator
    ? composer(ctx, bundle, (job) => {
      jobs.add(job);
      remember(job.jobId);
      progress.show(job);
    })
    : null;
  if (wanted) progress.open(wanted);

  return h("section", { class: "bulk" },
    pageHead("Bulk Messaging", "One message to many contacts, each decided by policy; follow and control the jobs."),
    compose || notice("", null, h("p", { text: "Your role can follow bulk jobs but not create or control them." })),
    progress.element,
    jobs.element);
}

