// Compliance: the stored decisions with filters (#/compliance) and the policy bundle in force
// (#/compliance/policies): name, version, digest and every rule.

import { h, replace } from "../dom.js";
import { get, isAbort, seg, withQuery } from "../api.js";
import {
  badge, dataTable, decisionBadge, errorNotice, facts, field, morePager, pageHead,
} from "../components.js";
import { channelName, formatTime, localInputToEpoch, plural } from "../format.js";

const PAGE_SIZE = 50;

function tabs(active) {
  const item = (href, text) => h("li", null,
    h("a", { href, text, "aria-current": href === active ? "page" : undefined }));
  return h("ul", { class: "tabs", "aria-label": "Compliance views" },
    item("#/compliance", "Decisions"), item("#/compliance/policies", "Policy bundle"));
}

export async function decisionsPage(ctx) {
  const [first, bundle] = await Promise.all([
    get(withQuery("/api/decisions", { limit: PAGE_SIZE }), { signal: ctx.signal }),
    get("/api/policies", { signal: ctx.signal }).catch((err) => {
      if (isAbort(err)) throw err;
      return null; // the reason list is a convenience
    }),
  ]);
  const reasons = bundle && Array.isArray(bundle.reasons) ? bundle.reasons : [];
  const reason = field({ label: "Reason", name: "reason", options: [["", "Any reason"], ...reasons.map((r) => [r, r])] });
  const channel = field({
    label: "Channel", name: "channel",
    options: [["", "Any channel"], ["whatsapp", "WhatsApp"], ["sms", "SMS"], ["email", "Email"]],
  });
  const allowed = field({ label: "Outcome", name: "allowed", options: [["", "Allowed or refused"], ["true", "Allowed"], ["false", "Refused"]] });
  const since = field({ label: "From", name: "since", type: "datetime-local" });
  const until = field({ label: "Until", name: "until", type: "datetime-local" });
  const submit = h("button", { type: "submit", text: "Filter" });
  const form = h("form", { class: "panel", "aria-label": "Filter decisions" },
    h("div", { class: "grid-3" }, reason, channel, allowed, since, until),
    h("div", { class: "actions" }, submit));
  const status = h("p", { class: "muted", role: "status" });
  const problems = h("div");
  const results = h("div");
  let rows = [];
  let filters = {};

  const pager = morePager("Load more decisions", (cursor) => load(cursor));

  function draw(page, more) {
    rows = more ? rows.concat(page.items || []) : page.items || [];
    pager.set(page.cursor);
    status.textContent = rows.length ? `Showing ${plural(rows.length, "decision")}${page.cursor ? "; more available." : "."}` : "No decisions match.";
    replace(results, rows.length ? dataTable([
      { label: "Time", cell: (d) => formatTime(d.timestamp) },
      { label: "Channel", cell: (d) => channelName(d.channel) },
      { label: "Outcome", cell: (d) => decisionBadge(d.decision) || "—" },
      {
        label: "Reasons",
        cell: (d) => {
          const codes = (d.decision && d.decision.reasons) || [];
          return codes.length ? h("div", { class: "badges" }, codes.map((c) => badge(c, "bad"))) : "—";
        },
      },
      { label: "Origin", cell: (d) => d.origin || "—" },
      { label: "Message", cell: (d) => h("a", { href: `#/messages/${seg(d.messageId)}`, text: "Open", "aria-label": `Open message ${d.messageId}` }) },
    ], rows, "Decisions, newest first") : null);
  }

  async function load(cursor) {
    replace(problems);
    try {
      draw(await get(withQuery("/api/decisions", { ...filters, limit: PAGE_SIZE, cursor })), Boolean(cursor));
    } catch (err) {
      if (err.status !== 401) replace(problems, errorNotice(err, "Could not load decisions"));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    filters = {
      reason: reason.input.value,
      channel: channel.input.value,
      allowed: allowed.input.value,
      since: localInputToEpoch(since.input.value),
      until: localInputToEpoch(until.input.value),
    };
    submit.disabled = true;
    await load(null);
    submit.disabled = false;
  });

  draw(first, false);
  return h("section", null,
    pageHead("Compliance", "Every send decision, with the rules that made it."),
    tabs("#/compliance"), form, problems, status, results, pager.element);
}

export async function policiesPage(ctx) {
  const bundle = await get("/api/policies", { signal: ctx.signal });
  const policies = Array.isArray(bundle.policies) ? bundle.policies : [];
  const changelog = Array.isArray(bundle.changelog) ? bundle.changelog : [];
  return h("section", null,
    pageHead("Compliance", "The policy bundle every outbound message is decided by."),
    tabs("#/compliance/policies"),
    h("section", { class: "panel", "aria-labelledby": "bundle-title" },
      h("h2", { id: "bundle-title", text: "Bundle" }),
      facts([
        ["Name", bundle.name],
        ["Version", bundle.version],
        ["Digest", h("span", { class: "code id", text: bundle.digest || "—" })],
        ["Description", bundle.description],
        ["Engine", bundle.engine],
        ["Files", Array.isArray(bundle.files) ? bundle.files.join(", ") : null],
      ])),
    changelog.length
      ? h("section", { "aria-labelledby": "changelog-title" },
        h("h2", { id: "changelog-title", text: "Changelog" }),
        h("ul", null, changelog.map((entry) => h("li", null,
          h("span", { text: `${entry.version || "?"}${entry.date ? ` (${entry.date})` : ""}: ` }),
          h("span", { text: (entry.changes || []).join(" ") })))))
      : null,
    bundle.params
      ? h("details", null, h("summary", { text: "Parameters (allowlist, rate limits, tier, content limits)" }),
        h("pre", { text: JSON.stringify(bundle.params, null, 2) }))
      : null,
    h("h2", { text: `Policies (${policies.length})` }),
    policies.map((policy) => h("section", { class: "panel", "aria-label": `Policy ${policy.name}` },
      h("h3", { text: policy.name }),
      policy.description ? h("p", { text: policy.description }) : null,
      facts([
        ["File", policy.file],
        ["Requirements", Array.isArray(policy.requirements) && policy.requirements.length ? policy.requirements.join(", ") : null],
        ["Applies when", policy.match ? h("code", { text: policy.match }) : "always"],
      ]),
      dataTable([
        { label: "Rule", cell: (r) => r.name },
        { label: "Action", cell: (r) => badge(r.action, r.action === "deny" ? "bad" : r.action === "warn" ? "warn" : "") },
        { label: "Reason", cell: (r) => h("span", { class: "code", text: r.reason }) },
        { label: "Message", cell: (r) => r.message || "" },
        {
          label: "Expression",
          cell: (r) => [h("code", { text: r.expression }), r.match ? h("div", { class: "muted" }, "when ", h("code", { text: r.match })) : null],
        },
      ], Array.isArray(policy.rules) ? policy.rules : [], `Rules of policy ${policy.name}`))));
}
