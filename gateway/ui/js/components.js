// Small building blocks shared by the pages: headings, form fields, notices, badges, tables.

import { h, nextId } from "./dom.js";

/** The page heading; focused after navigation so screen readers hear where they are. */
export function pageHead(title, lead, ...actions) {
  return h("div", { class: "page-head" },
    h("div", null,
      h("h1", { tabindex: "-1", "data-page-title": true, text: title }),
      lead ? h("p", { class: "lead", text: lead }) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

/**
 * A labelled input. Returns the wrapper; the control is wrapper.input.
 * @param {{label: string, name?: string, type?: string, value?: any, required?: boolean, hint?: string,
 *   autocomplete?: string, placeholder?: string, multiline?: boolean, options?: Array<[string, string]>,
 *   attrs?: Record<string, any>}} spec
 */
export function field(spec) {
  const id = nextId("field");
  const hintId = spec.hint ? `${id}-hint` : undefined;
  const common = {
    id,
    name: spec.name,
    required: spec.required,
    autocomplete: spec.autocomplete,
    placeholder: spec.placeholder,
    "aria-describedby": hintId,
    ...(spec.attrs || {}),
  };
  let control;
  if (spec.options) {
    // No value given: the first option stays selected.
    control = h("select", { ...common, value: spec.value },
      spec.options.map(([value, label]) => h("option", { value, text: label })));
  } else if (spec.multiline) {
    control = h("textarea", { ...common, value: spec.value ?? "" });
  } else {
    control = h("input", { ...common, type: spec.type || "text", value: spec.value ?? "" });
  }
  const wrapper = h("div", { class: "field" },
    h("label", { for: id, class: "label", text: spec.label }),
    control,
    spec.hint ? h("span", { class: "hint", id: hintId, text: spec.hint }) : null);
  wrapper.input = control;
  return wrapper;
}

/** A labelled checkbox (label wraps the box, so the whole line is clickable). */
export function checkbox(label, { name, checked = false, disabled = false } = {}) {
  const input = h("input", { type: "checkbox", name, checked, disabled });
  const wrapper = h("label", { class: "check" }, input, h("span", { text: label }));
  wrapper.input = input;
  return wrapper;
}

/** A radio group inside a fieldset; returns the fieldset with .value() and .controls. */
export function radios(legend, name, choices, selected) {
  const controls = [];
  const set = h("fieldset", null, h("legend", { text: legend }),
    h("div", { class: "choices" }, choices.map(([value, label]) => {
      const input = h("input", { type: "radio", name, value, checked: value === selected });
      controls.push(input);
      return h("label", { class: "check" }, input, h("span", { text: label }));
    })));
  set.controls = controls;
  set.value = () => (controls.find((c) => c.checked) || {}).value || "";
  return set;
}

export function notice(kind, title, ...body) {
  return h("div", { class: `notice ${kind}` },
    title ? h("strong", { class: "title", text: title }) : null, body);
}

/** An API error, as the person should see it: the server's message, plus field problems. */
export function errorNotice(err, title = "") {
  const details = (err && err.details) || {};
  const fields = Array.isArray(details.fields) ? details.fields : [];
  const reasons = Array.isArray(details.reasons) ? details.reasons : [];
  const box = notice("error", title || null,
    h("p", { text: (err && err.message) || "Something went wrong." }),
    fields.length
      ? h("ul", null, fields.map((f) => h("li", { text: `${f.field}: ${f.problem}` })))
      : null,
    reasons.length ? reasonList(reasons) : null,
    err && err.code && err.code !== "NETWORK"
      ? h("p", { class: "muted" }, "Code: ", h("span", { class: "code", text: err.code }))
      : null);
  box.setAttribute("role", "alert");
  return box;
}

/** Reason codes with their human messages: [{code, message}]. */
export function reasonList(reasons) {
  return h("ul", { class: "reasons" }, reasons.map((r) =>
    h("li", { "data-reason": r.code },
      h("span", { class: "code badge bad", text: r.code }),
      r.message ? h("span", { text: ` ${r.message}` }) : null)));
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim(), text });
}

const STATUS_KIND = {
  sent: "ok", delivered: "ok", read: "ok", received: "ink", rejected: "bad", failed: "bad",
  unknown: "warn", sending: "warn", pending: "warn", parked: "bad", replayed: "ok",
};

export function statusBadge(status) {
  return badge(status || "—", STATUS_KIND[status] || "");
}

export function decisionBadge(decision) {
  if (!decision || typeof decision.allowed !== "boolean") return null;
  return decision.allowed ? badge("allowed", "ok") : badge("refused", "bad");
}

/** A definition list of [label, value] pairs; values may be nodes or text; empty values are skipped. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs
    .filter(([, value]) => value !== undefined && value !== null && value !== "")
    .map(([label, value]) => [h("dt", { text: label }), h("dd", null, value)]));
}

/**
 * A data table that turns into labelled cards on narrow screens.
 * @param {Array<{label: string, cell: (row: any) => any}>} columns
 * @param {Array<any>} rows
 */
export function dataTable(columns, rows, caption = "", { compact = false } = {}) {
  return h("div", { class: "table-wrap" },
    h("table", { class: compact ? "data compact" : "data" },
      caption ? h("caption", { class: "visually-hidden", text: caption }) : null,
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", text: c.label })))),
      h("tbody", null, rows.map((row) => h("tr", null, columns.map((c) =>
        // One wrapper per cell: the narrow layout puts the label and this wrapper side by side.
        h("td", { "data-label": c.label }, h("div", null, c.cell(row)))))))));
}

export function loading(text = "Loading…") {
  return h("p", { class: "muted", role: "status", text });
}

/** A "Load more" button for cursor paging: calls load(cursor) and hides itself at the end. */
export function morePager(label, onMore) {
  const button = h("button", { type: "button", text: label, hidden: true });
  let cursor = null;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await onMore(cursor);
    } finally {
      button.disabled = false;
    }
  });
  return {
    element: h("div", { class: "actions" }, button),
    set(next) {
      cursor = next || null;
      button.hidden = !cursor;
    },
  };
}

export function link(href, text, props = {}) {
  return h("a", { href, ...props, text });
}
