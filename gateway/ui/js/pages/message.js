// One message with its stored decision: "why was this sent?" — every rule evaluated, the reasons,
// the bundle version and digest, and the exact policy input the decision was made on.

import { h } from "../dom.js";
import { get, seg } from "../api.js";
import {
  badge, dataTable, decisionBadge, facts, notice, pageHead, reasonList, statusBadge,
} from "../components.js";
import { channelName, contentText, formatTime } from "../format.js";

function json(value) {
  return h("pre", { text: JSON.stringify(value, null, 2) });
}

function contentSection(message) {
  const content = message.content || {};
  if (content.type === "email") {
    return h("section", { "aria-labelledby": "content-title" },
      h("h2", { id: "content-title", text: "Content" }),
      facts([["Subject", content.subject || "—"]]),
      content.text ? [h("h3", { text: "Text body" }), h("pre", { text: content.text })] : null,
      content.html ? [h("h3", { text: "HTML body (source, not rendered)" }), h("pre", { text: content.html })] : null);
  }
  return h("section", { "aria-labelledby": "content-title" },
    h("h2", { id: "content-title", text: "Content" }),
    h("div", { class: "panel" }, h("p", { class: "message-text", text: contentText(message) || "(no content)" })),
    content.type === "template" && Array.isArray(content.components) && content.components.length
      ? [h("h3", { text: "Template components" }), json(content.components)]
      : null);
}

function ruleOutcome(rule, decision) {
  const key = `${rule.policy}/${rule.rule}`;
  const violation = (decision.violations || []).find((v) => `${v.policy}/${v.rule}` === key);
  const noticeFor = (decision.notices || []).find((n) => `${n.policy}/${n.rule}` === key);
  if (rule.outcome === "pass") return { badge: badge("pass", "ok"), reason: "" };
  if (violation) return { badge: badge("deny", "bad"), reason: violation.reason, message: violation.message };
  if (noticeFor) {
    // A warn or audit rule that "fails" does not refuse: it records a note on the decision.
    const label = noticeFor.action === "warn" ? "warning" : "audit note";
    return { badge: badge(label, noticeFor.action === "warn" ? "warn" : ""), reason: noticeFor.reason, message: noticeFor.message };
  }
  return { badge: badge(String(rule.outcome || "—"), rule.outcome === "fail" ? "bad" : ""), reason: "" };
}

export function decisionSection(decision, policyInput, direction) {
  if (direction === "inbound") {
    return h("section", { "aria-labelledby": "decision-title" },
      h("h2", { id: "decision-title", text: "Decision" }),
      h("p", { class: "muted", text: "Inbound messages are stored as received; no policy decides them." }));
  }
  if (!decision || typeof decision.allowed !== "boolean") {
    return h("section", { "aria-labelledby": "decision-title" },
      h("h2", { id: "decision-title", text: "Decision" }),
      h("p", { class: "muted", text: "No decision is stored with this message." }));
  }
  const allowed = decision.allowed;
  const violations = Array.isArray(decision.violations) ? decision.violations : [];
  const notices = Array.isArray(decision.notices) ? decision.notices : [];
  const reasons = violations.length
    ? violations.map((v) => ({ code: v.reason, message: v.message }))
    : (decision.reasons || []).map((code) => ({ code, message: "" }));
  const evaluated = Array.isArray(decision.evaluated) ? decision.evaluated : [];
  // Rules whose match did not hold are listed apart: the table shows what decided this message.
  const applied = evaluated.filter((r) => r.outcome !== "skipped");
  const skipped = evaluated.filter((r) => r.outcome === "skipped");
  const bundle = decision.bundle || {};
  return h("section", { "aria-labelledby": "decision-title", id: "decision" },
    h("h2", { id: "decision-title", text: allowed ? "Why was this sent?" : "Why was this refused?" }),
    allowed
      ? notice("ok", "Allowed by policy",
        h("p", { text: `Every deny rule of bundle ${bundle.name || "?"} ${bundle.version || ""} passed.`.replace(/\s+\./, ".") }))
      : notice("error", "Refused by policy", reasonList(reasons)),
    notices.length
      ? [h("h3", { text: "Warnings and audit notes" }),
        h("ul", { class: "reasons" }, notices.map((n) => h("li", null,
          badge(n.reason, n.action === "warn" ? "warn" : ""), h("span", { text: ` ${n.message || ""}` }))))]
      : null,
    h("h3", { text: "Rules evaluated" }),
    applied.length
      ? dataTable([
        { label: "Rule", cell: (r) => `${r.policy} / ${r.rule}` },
        { label: "Outcome", cell: (r) => ruleOutcome(r, decision).badge },
        {
          label: "Reason",
          cell: (r) => {
            const out = ruleOutcome(r, decision);
            return out.reason ? [h("span", { class: "code", text: out.reason }), out.message ? h("div", { class: "muted", text: out.message }) : null] : "";
          },
        },
      ], applied, "Every rule that applied to this message, in evaluation order", { compact: true })
      : h("p", { class: "muted", text: "The stored decision lists no rules." }),
    skipped.length
      ? h("details", null,
        h("summary", { text: `${skipped.length} ${skipped.length === 1 ? "rule did" : "rules did"} not apply to this message` }),
        h("ul", { class: "skipped-rules" }, skipped.map((r) => h("li", { text: `${r.policy} / ${r.rule}` }))))
      : null,
    h("h3", { text: "Policy bundle" }),
    facts([
      ["Name", bundle.name || "—"],
      ["Version", bundle.version || "—"],
      ["Digest", h("span", { class: "code id", text: bundle.digest || "—" })],
    ]),
    policyInput
      ? h("details", null, h("summary", { text: "Policy input (what the rules saw)" }), json(policyInput))
      : null);
}

export async function messagePage(ctx) {
  const message = await get(`/api/messages/${seg(ctx.params[0])}`, { signal: ctx.signal });
  const inbound = message.direction === "inbound";
  const timeline = Object.entries(message.statusTimestamps || {}).sort((a, b) => a[1] - b[1]);
  return h("section", null,
    pageHead("Message", `${inbound ? "Inbound" : "Outbound"} ${channelName(message.channel)} message`,
      message.contactId ? h("a", { class: "button", href: `#/dm/${seg(message.contactId)}`, text: "Conversation" }) : null),
    h("section", { class: "panel", "aria-label": "Summary" },
      facts([
        ["Message id", h("span", { class: "code id", text: message.messageId })],
        ["Status", statusBadge(message.status)],
        ["Decision", inbound ? null : decisionBadge(message.decision)],
        ["Channel", channelName(message.channel)],
        ["Direction", message.direction],
        ["Time", formatTime(message.timestamp, { seconds: true })],
        ["Contact", message.contactId
          ? h("a", { href: `#/contacts/${seg(message.contactId)}`, "data-testid": "message-contact", text: message.contactName || message.contactId })
          : null],
        ["To", message.to],
        ["From", message.from],
        ["Sender number id", message.phoneNumberId],
        ["Send mode", message.sendMode],
        ["Origin", message.origin],
        ["Category", message.category],
        ["Created by", message.createdByEmail || message.createdBy],
        ["Provider message id", message.providerMessageId],
        ["WhatsApp message id", message.whatsappMessageId],
      ]),
      message.sendMode === "DRY_RUN" && !inbound
        ? h("p", { class: "muted", text: "DRY_RUN: the message was recorded, not delivered." })
        : null),
    contentSection(message),
    decisionSection(message.decision, message.policyInput, message.direction),
    timeline.length
      ? h("section", { "aria-labelledby": "timeline-title" },
        h("h2", { id: "timeline-title", text: "Status history" }),
        dataTable([
          { label: "Status", cell: ([status]) => statusBadge(status) },
          { label: "When", cell: ([, at]) => formatTime(at, { seconds: true }) },
        ], timeline, "Status changes"))
      : null,
    message.errorDetails || message.error
      ? h("section", null, h("h2", { text: "Error" }), json(message.errorDetails || message.error))
      : null,
    message.outbox
      ? h("details", null, h("summary", { text: "Outbox record (the provider call that would be made)" }), json(message.outbox))
      : null);
}
