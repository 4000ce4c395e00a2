// Settings (#/settings, Admin): the run-time switches in SystemConfig — every key with its value,
// its description and a control that fits its kind, saved one key at a time (PUT /api/config/{key}).
// The server checks every value (422 with its message, shown by the field) and audits every change.

import { announce, h, nextId, replace } from "../dom.js";
import { call, get, isAbort, seg } from "../api.js";
import { errorNotice, notice, pageHead } from "../components.js";

// Friendlier names for the keys known today; any other key is shown by its name.
const LABELS = {
  "ai.enabled": "AI-suggested replies",
  "bulk.autoPause.failureRate": "Bulk auto-pause failure rate",
  "whatsapp.tier.limit": "WhatsApp tier limit",
  "sending.paused": "Kill switch: pause sending",
};

const SWITCH_CHANNELS = [["all", "All channels"], ["whatsapp", "WhatsApp"], ["sms", "SMS"], ["email", "Email"]];

function switchText(value) {
  if (!value || typeof value !== "object") return "Sending runs";
  const names = (value.channels || []).map((c) => (SWITCH_CHANNELS.find(([k]) => k === c) || [c, c])[1]);
  return `Paused: ${names.join(", ")} — ${value.reason || ""}`;
}

// The kill switch (sending.paused): which channels, and why (shown to everyone in the banner). Pausing
// needs a reason; "Release" sends false. The server checks the value and audits both.
function switchPanel(item, signal) {
  const titleId = nextId("setting");
  const errorId = `${titleId}-error`;
  let saved = item.value;
  const current = h("p", { class: "setting-current", "data-testid": "setting-current" });
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const outcome = h("div", { class: "setting-outcome", "aria-live": "polite" });
  const boxes = SWITCH_CHANNELS.map(([key, name]) => {
    const box = h("input", { type: "checkbox", id: `${titleId}-${key}`, value: key });
    return { key, box, element: h("label", { class: "check", for: box.id }, box, h("span", { text: name })) };
  });
  const reasonId = `${titleId}-reason`;
  const reason = h("input", {
    type: "text", id: reasonId, maxlength: "500", autocomplete: "off", "aria-describedby": errorId,
  });
  const pause = h("button", { type: "submit", text: "Pause sending" });
  const release = h("button", { type: "button", text: "Release" });

  function showCurrent() {
    replace(current, h("span", { class: "muted", text: "Now: " }),
      h("strong", { "data-testid": "setting-value", text: switchText(saved) }));
    release.disabled = !saved;
  }

  async function save(value) {
    error.hidden = true;
    replace(outcome, h("p", { class: "muted", text: "Saving…" }));
    try {
      const { data } = await call("PUT", `/api/config/${seg(item.key)}`, { body: { value }, signal });
      saved = data && "value" in data ? data.value : value;
      showCurrent();
      const text = saved ? "Sending is paused. Everyone sees the banner; bulk jobs pause themselves." : "Sending runs again.";
      replace(outcome, notice("ok", null, h("p", { text })));
      announce(text);
      document.dispatchEvent(new CustomEvent("wecare:sending-changed"));
    } catch (err) {
      if (isAbort(err) || (err && err.status === 401)) return;
      replace(outcome);
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  const form = h("form", { class: "setting-form", novalidate: true },
    h("fieldset", null, h("legend", { text: "Channels to pause" }), boxes.map((b) => b.element)),
    h("div", { class: "field" }, h("label", { class: "label", for: reasonId, text: "Reason (shown to everyone)" }), reason),
    error, h("div", { class: "actions" }, pause, release), outcome);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = boxes.filter((b) => b.box.checked).map((b) => b.key);
    const channels = picked.includes("all") ? ["all"] : picked;
    if (!channels.length) {
      error.textContent = "Tick the channels to pause, or All channels.";
      error.hidden = false;
      return;
    }
    save({ channels, reason: reason.value });
  });
  release.addEventListener("click", () => save(false));
  showCurrent();
  return h("section", { class: "panel setting", "aria-labelledby": titleId, dataset: { key: item.key, kind: "switch" } },
    h("h2", { id: titleId, text: LABELS[item.key] }),
    h("p", { class: "setting-key" }, h("span", { class: "code id", text: item.key })),
    item.description ? h("p", { class: "muted setting-description", text: item.description }) : null,
    current, form);
}

/** "boolean", "ratio" (a share from 0 to 1) or "integer": from the item's declared kind, else its value. */
function kindOf(item) {
  const declared = String(item.kind || item.type || "").toLowerCase();
  if (["boolean", "bool", "switch"].includes(declared)) return "boolean";
  if (["ratio", "fraction", "rate", "share"].includes(declared)) return "ratio";
  if (["integer", "int", "count", "whole"].includes(declared)) return "integer";
  const sample = item.value ?? item.default;
  if (typeof sample === "boolean") return "boolean";
  if (/rate|ratio|share/i.test(item.key)) return "ratio";
  if (typeof sample === "number" && !Number.isInteger(sample)) return "ratio";
  return "integer";
}

function percent(value) {
  const share = Number(value);
  if (!Number.isFinite(share)) return "";
  return `${Math.round(share * 10_000) / 100} %`;
}

function shown(kind, value) {
  if (value === null || value === undefined || value === "") return "not set";
  if (kind === "boolean") return value === true ? "On" : "Off";
  if (kind === "ratio") return `${value} (${percent(value)})`;
  return typeof value === "number" ? value.toLocaleString("en") : String(value);
}

function settingPanel(item, signal) {
  const kind = kindOf(item);
  const titleId = nextId("setting");
  const inputId = `${titleId}-input`;
  const hintId = `${titleId}-hint`;
  const errorId = `${titleId}-error`;
  const label = LABELS[item.key] || item.key;
  let saved = item.value;

  const current = h("p", { class: "setting-current", "data-testid": "setting-current" });
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const outcome = h("div", { class: "setting-outcome", "aria-live": "polite" });
  const hint = h("span", { class: "hint", id: hintId });

  let input;
  let control;
  if (kind === "boolean") {
    input = h("input", {
      type: "checkbox", id: inputId, role: "switch", checked: saved === true, "aria-describedby": `${hintId} ${errorId}`,
    });
    control = h("div", { class: "field" },
      h("label", { class: "check", for: inputId }, input, h("span", { text: label })),
      hint);
    hint.textContent = "Ticked is on. Save to apply.";
  } else {
    const ratio = kind === "ratio";
    input = h("input", {
      type: "number",
      id: inputId,
      name: item.key,
      inputmode: ratio ? "decimal" : "numeric",
      step: ratio ? "0.01" : "1",
      min: ratio ? "0" : "1",
      max: ratio ? "1" : undefined,
      value: saved === null || saved === undefined ? "" : String(saved),
      "aria-describedby": `${hintId} ${errorId}`,
    });
    control = h("div", { class: "field" }, h("label", { class: "label", for: inputId, text: label }), input, hint);
    const describe = () => {
      if (!ratio) {
        hint.textContent = "A whole number.";
        return;
      }
      const typed = input.value.trim();
      hint.textContent = typed && Number.isFinite(Number(typed))
        ? `A share above 0 and at most 1: ${typed} is ${percent(typed)}.`
        : "A share above 0 and at most 1 (0.2 is 20 %).";
    };
    input.addEventListener("input", describe);
    describe();
  }

  function showCurrent() {
    replace(current,
      h("span", { class: "muted", text: "Current value: " }),
      h("strong", { "data-testid": "setting-value", text: shown(kind, saved) }),
      item.default !== undefined && item.default !== saved
        ? h("span", { class: "muted", text: ` (default: ${shown(kind, item.default)})` })
        : null);
  }

  function setError(text) {
    error.textContent = text || "";
    error.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  const submit = h("button", { type: "submit", text: "Save", "aria-label": `Save ${label}` });
  const form = h("form", { class: "setting-form", novalidate: true },
    control, error, h("div", { class: "actions" }, submit), outcome);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setError("");
    replace(outcome);
    let value;
    if (kind === "boolean") {
      value = input.checked;
    } else {
      const typed = input.value.trim();
      if (!typed || !Number.isFinite(Number(typed))) {
        setError("Enter a number.");
        input.focus();
        return;
      }
      value = Number(typed);
    }
    submit.disabled = true;
    replace(outcome, h("p", { class: "muted", text: "Saving…" }));
    try {
      const { data } = await call("PUT", `/api/config/${seg(item.key)}`, { body: { value }, signal });
      saved = data && "value" in data ? data.value : value;
      if (kind !== "boolean") input.value = saved === null || saved === undefined ? "" : String(saved);
      else input.checked = saved === true;
      input.dispatchEvent(new Event("input"));
      showCurrent();
      const text = `${label} saved: ${shown(kind, saved)}.`;
      replace(outcome, notice("ok", null, h("p", { text })));
      announce(text);
    } catch (err) {
      if (isAbort(err) || (err && err.status === 401)) return;
      replace(outcome);
      if (err && err.status === 422) {
        // The typed value stays in the field, with the server's reason next to it.
        setError(err.message);
        announce(`${label} was not saved: ${err.message}`);
        input.focus();
      } else {
        replace(outcome, errorNotice(err, `${label} was not saved`));
      }
    } finally {
      submit.disabled = false;
    }
  });

  showCurrent();
  return h("section", { class: "panel setting", "aria-labelledby": titleId, dataset: { key: item.key, kind } },
    h("h2", { id: titleId, text: label }),
    h("p", { class: "setting-key" }, h("span", { class: "code id", text: item.key })),
    item.description ? h("p", { class: "muted setting-description", text: item.description }) : null,
    current, form);
}

export async function settingsPage(ctx) {
  const config = await get("/api/config", { signal: ctx.signal });
  const items = Array.isArray(config && config.items) ? config.items : [];
  return h("section", { class: "settings" },
    pageHead("Settings", "Run-time switches of the gateway. Each is checked by the server and every change is audited."),
    items.length
      ? items.map((item) => (item.key === "sending.paused" ? switchPanel(item, ctx.signal) : settingPanel(item, ctx.signal)))
      : h("p", { class: "muted", text: "There are no settings to change." }));
}
