// Agent (#/agent, #/agent?status=approved): AI-suggested replies waiting for an operator, newest
// first — each with the inbound message it answers, the reply, its citations and the WhatsApp window
// — approve as is, edit and approve, reject, rate; the automation switch (Admin) and the quality
// figures. A Viewer reads everything and acts on nothing. Nothing is sent without an approval, and an
// approval is an ordinary send through the gateway: every policy applies.

import { announce, h, replace } from "../dom.js";
import { call, get, isAbort, seg, withQuery } from "../api.js";
import { dataTable, errorNotice, field, morePager, notice, pageHead } from "../components.js";
import { plural } from "../format.js";
import { roleAtLeast } from "../session.js";
import { SUGGESTION_STATUSES, canActOnSuggestions, suggestionCard } from "../suggestion.js";

const PAGE_SIZE = 20;
const WATCH_MS = 15_000; // how often the page looks for new pending suggestions
const FILTERS = [["pending", "Pending"], ["approved", "Approved"], ["rejected", "Rejected"], ["failed", "Failed"], ["all", "All"]];
const STAT_LABELS = [
  ["suggested", "Made"],
  ["approvedAsIs", "Approved as is"],
  ["edited", "Edited, then approved"],
  ["rejected", "Rejected"],
  ["failed", "Failed"],
  ["pending", "Pending"],
  ["ratedGood", "Rated good"],
  ["ratedBad", "Rated bad"],
];
const AI_KEY = "ai.enabled";

function number(value) {
  return Number.isFinite(Number(value)) ? String(Number(value)) : "0";
}

// ------------------------------------------------------------------------------------- automation

function automationPanel(signal, initial, stats) {
  const admin = roleAtLeast("Admin");
  const state = h("p", { class: "ai-state", id: "ai-state", "data-testid": "ai-enabled" });
  const outcome = h("div", { "aria-live": "polite" });
  const toggle = h("button", { type: "button", "data-testid": "ai-toggle", hidden: true });
  let enabled = null;

  function show(value) {
    enabled = value === true;
    state.dataset.enabled = String(enabled);
    replace(state,
      h("span", { class: "muted", text: "Automatic suggestions:" }), " ",
      h("strong", { class: `badge ${enabled ? "ok" : ""}`.trim(), text: enabled ? "On" : "Off" }), " ",
      h("span", {
        text: enabled
          ? "Every inbound WhatsApp text message gets a suggested reply; nothing is sent until someone approves it."
          : "No suggestion is made by itself; an operator can still ask for one from a conversation.",
      }));
    toggle.hidden = !admin;
    toggle.textContent = enabled ? "Turn automatic suggestions off" : "Turn automatic suggestions on";
  }

  toggle.addEventListener("click", async () => {
    const next = !enabled;
    toggle.disabled = true;
    replace(outcome, h("p", { class: "muted", text: "Saving…" }));
    try {
      const saved = (await call("PUT", `/api/config/${seg(AI_KEY)}`, { body: { value: next }, signal })).data;
      show(saved && saved.value === true);
      replace(outcome, notice("ok", null, h("p", { text: `Automatic suggestions are now ${enabled ? "on" : "off"}.` })));
      announce(`Automatic suggestions are now ${enabled ? "on" : "off"}.`);
    } catch (err) {
      if (isAbort(err) || err.status === 401) return;
      replace(outcome, errorNotice(err, "The switch was not changed"));
    } finally {
      toggle.disabled = false;
    }
  });

  const body = [];
  const readOnly = !admin && stats && stats.automation && typeof stats.automation.enabled === "boolean";
  if (readOnly) {
    show(stats.automation.enabled);
    body.push(h("p", { class: "muted", text: "Only an Admin can switch this." }));
  } else if (!admin) {
    body.push(h("p", { class: "muted", text: "Whether suggestions are made automatically is an Admin setting." }));
  } else if (initial && initial.error) {
    body.push(errorNotice(initial.error, "Could not read the automation switch"));
  } else {
    const item = ((initial && initial.items) || []).find((i) => i.key === AI_KEY);
    show(item ? item.value : false);
  }
  return h("section", { class: "panel", "aria-labelledby": "ai-automation-title", "data-testid": "ai-automation" },
    h("h2", { id: "ai-automation-title", text: "Automation" }),
    admin && !(initial && initial.error) ? [state, h("div", { class: "actions" }, toggle)] : readOnly ? state : null,
    body, outcome);
}

// ---------------------------------------------------------------------------------------- quality

function statsPanel(signal) {
  const body = h("div", { "aria-live": "off" });
  const element = h("section", { class: "panel ai-quality", "aria-labelledby": "ai-quality-title", "data-testid": "ai-stats" },
    h("h2", { id: "ai-quality-title", text: "Quality" }), body);

  function draw(stats) {
    const overall = stats.overall || {};
    const documents = Object.entries(stats.byDocument || {});
    replace(body,
      h("dl", { class: "ai-figures" }, STAT_LABELS.map(([key, label]) =>
        h("div", { class: "ai-figure" },
          h("dt", { text: label }),
          h("dd", { "data-testid": `ai-stat-${key}`, text: number(overall[key]) })))),
      documents.length
        ? h("details", { class: "ai-by-document" },
          h("summary", { text: `Per document (${documents.length})` }),
          h("p", { class: "muted", text: "A suggestion counts for every document it cited." }),
          dataTable([
            { label: "Document", cell: ([name]) => h("span", { class: "code", text: name }) },
            ...STAT_LABELS.filter(([key]) => key !== "failed").map(([key, label]) => ({ label, cell: ([, c]) => number(c[key]) })),
          ], documents, "Quality figures per knowledge-base document"))
        : h("p", { class: "muted", text: "No suggestion has cited a document yet." }));
  }

  async function load() {
    try {
      const stats = await get("/api/ai/stats", { signal });
      draw(stats);
      return stats;
    } catch (err) {
      if (!isAbort(err) && err.status !== 401) replace(body, errorNotice(err, "Could not load the quality figures"));
      return null;
    }
  }
  return { element, load };
}

// ------------------------------------------------------------------------------------ suggestions

export async function agentPage(ctx) {
  const { signal } = ctx;
  const wanted = ctx.query.get("status") || "pending";
  let filter = FILTERS.some(([value]) => value === wanted) ? wanted : "pending";

  const stats = statsPanel(signal);
  const [config, statsNow] = await Promise.all([
    roleAtLeast("Admin")
      ? get("/api/config", { signal }).catch((err) => {
        if (isAbort(err)) throw err;
        return { error: err };
      })
      : Promise.resolve(null),
    stats.load(),
  ]);

  const contacts = new Map(); // contactId → Promise<contact | null>
  const cards = new Map(); // interactionId → its card, kept while more pages load (an open edit survives)
  let items = [];
  let cursors = {};
  const list = h("ol", { class: "suggestion-list", "aria-label": "Suggestions, newest first", "data-testid": "ai-suggestion-list" });
  const status = h("p", { class: "muted", role: "status", "data-testid": "ai-list-status" });
  const problems = h("div");
  const waiting = h("div", { "aria-live": "polite" });
  const handledList = h("ol", { class: "suggestion-list", "data-testid": "ai-handled-list" });
  const handled = h("section", { "aria-labelledby": "ai-handled-title", hidden: true, "data-testid": "ai-handled" },
    h("h2", { id: "ai-handled-title", text: "Handled just now" }),
    h("p", { class: "muted", text: "Approved or rejected on this page; they have left the pending list." }),
    handledList);
  const pager = morePager("Load more suggestions", () => load(true));

  function contactOf(id) {
    if (!contacts.has(id)) {
      contacts.set(id, get(`/api/contacts/${seg(id)}`, { signal }).catch((err) => {
        if (isAbort(err)) throw err;
        return null; // deleted or unreadable: the card falls back on the suggestion's own figures
      }));
    }
    return contacts.get(id);
  }

  function summary() {
    const what = filter === "all" ? "suggestion" : `${filter} suggestion`;
    status.textContent = items.length
      ? `${plural(items.length, what)}, newest first${Object.values(cursors).some(Boolean) ? "; more available" : ""}.`
      : filter === "pending" ? "No suggestion is waiting for approval." : `No ${filter === "all" ? "" : `${filter} `}suggestions.`;
  }

  function resolved(card, item) {
    stats.load();
    if (filter !== "pending") return;
    items = items.filter((i) => i.interactionId !== item.interactionId);
    cards.delete(item.interactionId);
    const li = card.closest("li");
    handledList.prepend(li || h("li", null, card));
    handled.hidden = false;
    summary();
  }

  function madeAnother(made) {
    stats.load();
    if (filter !== "all" && made.status !== filter) {
      announce(`The new suggestion is ${made.status}; it is listed under ${made.status}.`);
      return;
    }
    items = [made, ...items.filter((i) => i.interactionId !== made.interactionId)];
    draw();
  }

  async function cardFor(item) {
    const id = item.interactionId;
    if (!cards.has(id)) {
      const contact = await contactOf(item.contactId);
      cards.set(id, suggestionCard(item, {
        contact, signal, level: 3, onResolved: resolved, onAsked: madeAnother, onChange: () => stats.load(),
      }));
    }
    return cards.get(id);
  }

  async function draw() {
    const nodes = await Promise.all(items.map(cardFor));
    if (signal.aborted) return;
    replace(list, nodes.map((card) => card.closest("li") || h("li", null, card)));
    summary();
  }

  async function load(more) {
    replace(problems);
    const statuses = filter === "all" ? SUGGESTION_STATUSES : [filter];
    const wanted = more ? statuses.filter((s) => cursors[s]) : statuses;
    try {
      const pages = await Promise.all(wanted.map((s) => get(withQuery("/api/ai/suggestions", {
        status: s, limit: PAGE_SIZE, cursor: more ? cursors[s] : undefined,
      }), { signal })));
      const next = more ? { ...cursors } : {};
      wanted.forEach((s, i) => { next[s] = pages[i].cursor || null; });
      cursors = next;
      const fresh = pages.flatMap((p) => p.items || []);
      const byId = new Map((more ? items : []).map((i) => [i.interactionId, i]));
      for (const item of fresh) byId.set(item.interactionId, item);
      if (!more) cards.clear(); // a reload starts from what the server says now (stale flags move on)
      items = [...byId.values()].sort((a, b) => (Number(b.timestamp) || 0) - (Number(a.timestamp) || 0));
      pager.set(Object.values(cursors).some(Boolean) ? "more" : null);
      replace(waiting);
      await draw();
    } catch (err) {
      if (!isAbort(err) && err.status !== 401) replace(problems, errorNotice(err, "Could not load the suggestions"));
    }
  }

  const filterField = field({ label: "Status", name: "status", options: FILTERS, value: filter });
  const filterButton = h("button", { type: "submit", text: "Show" });
  const filterForm = h("form", { class: "inline-form ai-filter", "aria-label": "Filter suggestions" }, filterField, filterButton);
  filterForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    filter = filterField.input.value;
    history.replaceState(null, "", filter === "pending" ? "#/agent" : `#/agent?status=${filter}`);
    replace(handledList);
    handled.hidden = true;
    filterButton.disabled = true;
    cards.clear();
    await load(false);
    filterButton.disabled = false;
    announce(status.textContent || "");
  });

  const refresh = h("button", { type: "button", class: "small", text: "Refresh" });
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    await Promise.all([load(false), stats.load()]);
    refresh.disabled = false;
    announce("Suggestions refreshed.");
  });

  // New pending suggestions are announced, not pushed into the list under the operator's hands.
  const watch = setInterval(async () => {
    if (document.hidden || (filter !== "pending" && filter !== "all")) return;
    try {
      const page = await get(withQuery("/api/ai/suggestions", { status: "pending", limit: PAGE_SIZE }), { signal });
      const known = new Set(items.map((i) => i.interactionId));
      for (const li of handledList.children) {
        const card = li.querySelector("[data-interaction-id]");
        if (card) known.add(card.dataset.interactionId);
      }
      const count = (page.items || []).filter((i) => !known.has(i.interactionId)).length;
      if (!count) return;
      const show = h("button", { type: "button", class: "small", text: "Show them" });
      show.addEventListener("click", () => load(false).then(() => stats.load()));
      replace(waiting, notice("", null,
        h("p", { "data-testid": "ai-new-waiting", text: `${plural(count, "new suggestion")} waiting. ` }), show));
    } catch (err) {
      if (isAbort(err) || err.status === 401) clearInterval(watch);
    }
  }, WATCH_MS);
  signal.addEventListener("abort", () => clearInterval(watch));

  await load(false);

  return h("section", { class: "agent" },
    pageHead("Agent",
      "AI-suggested replies to inbound WhatsApp messages. Nothing is sent until someone approves it, and every approval goes through the gateway's policies.",
      refresh),
    canActOnSuggestions()
      ? null
      : notice("", null, h("p", { text: "Your role can read suggestions but not approve, edit, reject or rate them." })),
    automationPanel(signal, config, statsNow),
    stats.element,
    handled,
    h("section", { "aria-labelledby": "ai-suggestions-title" },
      h("h2", { id: "ai-suggestions-title", text: "Suggestions" }),
      filterForm, problems, waiting, status, list, pager.element));
}
