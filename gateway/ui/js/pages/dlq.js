// Dead letters (Operator+): what failed, per queue, and a batch replay through the original handler.

import { announce, h, replace } from "../dom.js";
import { get, post, withQuery } from "../api.js";
import {
  dataTable, errorNotice, facts, field, morePager, notice, pageHead, statusBadge,
} from "../components.js";
import { formatTime, plural } from "../format.js";

const QUEUES = ["inbound-dlq", "bulk-dlq", "outbound-dlq"];
const PAGE_SIZE = 50;

function shorten(text, max = 240) {
  const value = String(text || "");
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

export async function deadLettersPage(ctx) {
  const first = await get(withQuery("/api/dlq", { limit: PAGE_SIZE }), { signal: ctx.signal });

  const depth = h("div");
  const status = h("p", { class: "muted", role: "status" });
  const problems = h("div");
  const results = h("div");
  let rows = [];
  let filters = {};
  const pager = morePager("Load more dead letters", (cursor) => load(cursor));

  function draw(page, more) {
    rows = more ? rows.concat(page.items || []) : page.items || [];
    pager.set(page.cursor);
    const counts = page.depth || {};
    replace(depth, facts(Object.keys(counts).map((q) => [q, plural(Number(counts[q]) || 0, "message")])));
    status.textContent = rows.length ? `Showing ${plural(rows.length, "dead letter")}.` : "No dead letters match.";
    replace(results, rows.length ? dataTable([
      { label: "Queue", cell: (d) => d.queueName },
      { label: "Status", cell: (d) => statusBadge(d.status) },
      { label: "Retries", cell: (d) => String(d.retryCount ?? 0) },
      { label: "Last attempt", cell: (d) => formatTime(d.lastAttemptAt) },
      { label: "Error", cell: (d) => shorten(d.error) || "—" },
      { label: "Dead letter id", cell: (d) => h("span", { class: "code id", text: d.dlqMessageId }) },
    ], rows, "Dead letters") : null);
  }

  async function load(cursor) {
    replace(problems);
    try {
      draw(await get(withQuery("/api/dlq", { ...filters, limit: PAGE_SIZE, cursor })), Boolean(cursor));
    } catch (err) {
      if (err.status !== 401) replace(problems, errorNotice(err, "Could not load dead letters"));
    }
  }

  const queueFilter = field({ label: "Queue", name: "queue", options: [["", "All queues"], ...QUEUES.map((q) => [q, q])] });
  const statusFilter = field({
    label: "Status", name: "status",
    options: [["", "Any status"], ["pending", "pending"], ["parked", "parked"], ["replayed", "replayed"]],
  });
  const filterButton = h("button", { type: "submit", text: "Filter" });
  const filterForm = h("form", { class: "inline-form", "aria-label": "Filter dead letters" }, queueFilter, statusFilter, filterButton);
  filterForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    filters = { queue: queueFilter.input.value, status: statusFilter.input.value };
    filterButton.disabled = true;
    await load(null);
    filterButton.disabled = false;
  });

  const replayQueue = field({ label: "Queue to replay", name: "replayQueue", options: QUEUES.map((q) => [q, q]), required: true });
  const replayMax = field({
    label: "At most", name: "max", type: "number", value: "10", required: true,
    attrs: { min: "1", max: "100", step: "1", inputmode: "numeric" }, hint: "1 to 100 messages.",
  });
  const replayButton = h("button", { type: "submit", text: "Replay" });
  const replayResult = h("div", { "aria-live": "polite" });
  const replayForm = h("form", { "aria-labelledby": "replay-title" },
    h("div", { class: "grid-2" }, replayQueue, replayMax), h("div", { class: "actions" }, replayButton), replayResult);
  replayForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const max = Number.parseInt(replayMax.input.value, 10);
    if (!Number.isInteger(max) || max < 1 || max > 100) {
      replace(replayResult, errorNotice({ message: "Give a number from 1 to 100." }));
      replayMax.input.focus();
      return;
    }
    replayButton.disabled = true;
    replace(replayResult, h("p", { class: "muted", text: "Replaying…" }));
    try {
      const report = await post("/api/dlq/replay", { queue: replayQueue.input.value, max });
      const summary = `Replayed ${report.replayed} of ${plural(report.received, "message")} received from ${report.queue}` +
        ` (failed ${report.failed}, parked ${report.parked}, skipped ${report.skipped}, busy ${report.busy}).`;
      replace(replayResult, notice(report.failed || report.parked ? "warn" : "ok", "Replay finished",
        h("p", { text: summary }),
        (report.results || []).length ? dataTable([
          { label: "Dead letter id", cell: (r) => h("span", { class: "code id", text: r.dlqMessageId }) },
          { label: "Outcome", cell: (r) => r.outcome },
          { label: "Detail", cell: (r) => shorten(r.detail) || "—" },
        ], report.results, "Replay results") : null));
      announce(summary);
      await load(null);
    } catch (err) {
      replace(replayResult, errorNotice(err, "Replay failed"));
    } finally {
      replayButton.disabled = false;
    }
  });

  draw(first, false);
  return h("section", null,
    pageHead("Dead letters", "Messages that failed processing, kept for 7 days. A replay runs them through their original handler again."),
    h("section", { class: "panel", "aria-labelledby": "depth-title" }, h("h2", { id: "depth-title", text: "Waiting per queue" }), depth),
    h("section", { class: "panel", "aria-labelledby": "replay-title" }, h("h2", { id: "replay-title", text: "Replay" }), replayForm),
    h("h2", { text: "Dead letters" }),
    filterForm, problems, status, results, pager.element);
}
