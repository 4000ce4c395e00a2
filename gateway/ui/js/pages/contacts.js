// Contacts: search and create (#/contacts); one contact with its consent, window and history
// (#/contacts/<id>): edit (only changed fields are sent), soft delete.

import { announce, h, replace } from "../dom.js";
import { del, get, patch, post, seg } from "../api.js";
import {
  badge, checkbox, dataTable, errorNotice, facts, field, notice, pageHead,
} from "../components.js";
import { contactHref, contactSearch, firstContactsPage } from "../contact-search.js";
import { setFlash, takeFlash } from "../flash.js";
import { channelName, contactLabel, formatTime, windowState } from "../format.js";
import { can, session } from "../session.js";

const OPT_INS = [
  ["optInWhatsApp", "WhatsApp opt-in"],
  ["optInSms", "SMS opt-in"],
  ["optInEmail", "Email opt-in"],
];

function flashNotice() {
  const flash = takeFlash();
  return flash ? notice(flash.kind, null, h("p", { text: flash.text })) : null;
}

function contactFields(contact = {}) {
  const name = field({ label: "Name", name: "name", value: contact.name || "", autocomplete: "off" });
  const phone = field({
    label: "Phone", name: "phone", type: "tel", value: contact.phone || "", autocomplete: "off",
    hint: "With the country code, e.g. +447812345678.",
  });
  const email = field({ label: "E-mail", name: "email", type: "email", value: contact.email || "", autocomplete: "off" });
  const boxes = OPT_INS.map(([attr, label]) => checkbox(label, { name: attr, checked: contact[attr] === true }));
  const evidence = field({
    label: "Consent evidence (optional)", name: "consentEvidence", autocomplete: "off",
    hint: "How and when the contact agreed; kept in the consent history.",
  });
  const consent = h("fieldset", null, h("legend", { text: "Consent" }), boxes, evidence);
  return { name, phone, email, boxes, evidence, element: [h("div", { class: "grid-3" }, name, phone, email), consent] };
}

function createPanel(ctx) {
  const f = contactFields();
  const submit = h("button", { type: "submit", text: "Create contact" });
  const cancel = h("button", { type: "button", text: "Cancel" });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { "aria-labelledby": "new-contact-title" }, f.element, result,
    h("div", { class: "actions" }, submit, cancel));
  const panel = h("section", { class: "panel", id: "new-contact", hidden: true },
    h("h2", { id: "new-contact-title", text: "New contact" }),
    h("p", { class: "muted", text: "Give a phone number, an e-mail address or both. Consent is off unless you tick it." }),
    form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(result);
    const body = { source: "ui" };
    const name = f.name.input.value.trim();
    const phone = f.phone.input.value.trim();
    const email = f.email.input.value.trim();
    if (!phone && !email) {
      replace(result, errorNotice({ message: "Give a phone number or an e-mail address (or both)." }));
      f.phone.input.focus();
      return;
    }
    if (name) body.name = name;
    if (phone) body.phone = phone;
    if (email) body.email = email;
    // Consent is always explicit: every flag is sent as a real boolean.
    OPT_INS.forEach(([attr], i) => { body[attr] = f.boxes[i].input.checked; });
    const evidence = f.evidence.input.value.trim();
    if (evidence && OPT_INS.some((_, i) => f.boxes[i].input.checked)) body.consentEvidence = evidence;
    submit.disabled = true;
    try {
      const created = await post("/api/contacts", body);
      setFlash("ok", `Contact “${contactLabel(created)}” created.`);
      ctx.navigate(`/contacts/${seg(created.contactId)}`);
    } catch (err) {
      replace(result, errorNotice(err, "The contact was not created"));
    } finally {
      submit.disabled = false;
    }
  });
  return { panel, cancel, focus: () => f.name.input.focus() };
}

export async function contactsPage(ctx) {
  const initial = await firstContactsPage(ctx.signal);
  const search = contactSearch({ signal: ctx.signal, hrefFor: contactHref, initial });
  let toggle = null;
  let creator = null;
  if (can.manageContacts()) {
    creator = createPanel(ctx);
    toggle = h("button", { type: "button", text: "New contact", "aria-expanded": "false", "aria-controls": "new-contact" });
    const setOpen = (open) => {
      creator.panel.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (open) creator.focus();
      else toggle.focus();
    };
    toggle.addEventListener("click", () => setOpen(creator.panel.hidden));
    creator.cancel.addEventListener("click", () => setOpen(false));
  }
  return h("section", null,
    pageHead("Contacts", "Search, create and manage contacts and their consent.", toggle),
    flashNotice(),
    creator ? creator.panel : null,
    search);
}

// ------------------------------------------------------------------------------------------ detail

function windowPanel(contact) {
  const win = windowState(contact);
  return h("section", { class: "panel", "aria-labelledby": "window-title" },
    h("h2", { id: "window-title", text: "WhatsApp 24-hour window" }),
    h("p", { class: "window", id: "window-state", dataset: { open: String(win.open) } },
      badge(win.open ? "open" : "closed", win.open ? "ok" : "warn"),
      h("span", { text: win.text })),
    h("p", { class: "muted", text: win.detail.charAt(0).toUpperCase() + win.detail.slice(1) + "." }),
    win.open ? null : h("p", { class: "muted", text: "Outside the window only approved WhatsApp templates can be sent." }));
}

function summary(contact) {
  const yesNo = (value) => (value ? badge("yes", "ok") : badge("no"));
  return h("section", { class: "panel", "aria-labelledby": "details-title" },
    h("h2", { id: "details-title", text: "Details" }),
    facts([
      ["Name", contact.name || "—"],
      ["Phone", contact.phone || "—"],
      ["E-mail", contact.email || "—"],
      ["WhatsApp opt-in", yesNo(contact.optInWhatsApp)],
      ["SMS opt-in", yesNo(contact.optInSms)],
      ["Email opt-in", yesNo(contact.optInEmail)],
      ["Last message from contact", contact.lastInboundMessageAt ? formatTime(contact.lastInboundMessageAt) : "never"],
      ["Created", formatTime(contact.createdAt)],
      ["Updated", formatTime(contact.updatedAt)],
      ["Contact id", h("span", { class: "code id", text: contact.contactId })],
    ]));
}

function historyPanel(contact) {
  const history = Array.isArray(contact.consentHistory) ? [...contact.consentHistory].reverse() : [];
  return h("section", { "aria-labelledby": "history-title" },
    h("h2", { id: "history-title", text: "Consent history" }),
    history.length
      ? dataTable([
        { label: "When", cell: (r) => formatTime(r.at) },
        { label: "Channel", cell: (r) => channelName(r.channel) },
        { label: "Change", cell: (r) => `${r.old ? "opted in" : "not opted in"} → ${r.new ? "opted in" : "not opted in"}` },
        { label: "By", cell: (r) => (session.me && r.actor === session.me.userId ? "you" : r.actor || "—") },
        { label: "Source", cell: (r) => r.source || "—" },
        { label: "Evidence", cell: (r) => (r.evidence ? (typeof r.evidence === "string" ? r.evidence : JSON.stringify(r.evidence)) : "—") },
      ], history, "Consent changes, newest first")
      : h("p", { class: "muted", text: "No consent changes recorded." }));
}

function editPanel(contact, onSaved) {
  const f = contactFields(contact);
  const submit = h("button", { type: "submit", text: "Save changes" });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { "aria-labelledby": "edit-title" }, f.element, result, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(result);
    const changes = {};
    const text = [["name", f.name], ["phone", f.phone], ["email", f.email]];
    for (const [attr, input] of text) {
      const value = input.input.value.trim();
      if (value === (contact[attr] || "")) continue;
      // An emptied phone or e-mail is removed (null); a name may be emptied.
      changes[attr] = value || (attr === "name" ? "" : null);
    }
    OPT_INS.forEach(([attr], i) => {
      const checked = f.boxes[i].input.checked;
      if (checked !== (contact[attr] === true)) changes[attr] = checked; // explicit boolean
    });
    if (!Object.keys(changes).length) {
      replace(result, notice("", null, h("p", { text: "Nothing to save: no field was changed." })));
      return;
    }
    const evidence = f.evidence.input.value.trim();
    if (evidence && OPT_INS.some(([attr]) => attr in changes)) changes.consentEvidence = evidence;
    submit.disabled = true;
    try {
      const updated = await patch(`/api/contacts/${seg(contact.contactId)}`, { ...changes, source: "ui" });
      onSaved(updated, "Changes saved.");
    } catch (err) {
      replace(result, errorNotice(err, "The changes were not saved"));
      submit.disabled = false;
    }
  });
  return h("section", { class: "panel", "aria-labelledby": "edit-title" },
    h("h2", { id: "edit-title", text: "Edit contact" }), form);
}

function deletePanel(contact, ctx) {
  const result = h("div", { "aria-live": "polite" });
  const start = h("button", { type: "button", text: "Delete contact" });
  const confirm = h("button", { type: "button", text: "Yes, delete this contact" });
  const cancel = h("button", { type: "button", text: "Keep it" });
  const question = h("div", { class: "notice warn", hidden: true, role: "group", "aria-label": "Confirm deletion" },
    h("p", { text: `Delete “${contactLabel(contact)}”? It will no longer be found or messaged.` }),
    h("div", { class: "actions" }, confirm, cancel));
  start.addEventListener("click", () => {
    question.hidden = false;
    start.hidden = true;
    cancel.focus();
  });
  cancel.addEventListener("click", () => {
    question.hidden = true;
    start.hidden = false;
    start.focus();
  });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      await del(`/api/contacts/${seg(contact.contactId)}`);
      setFlash("ok", `Contact “${contactLabel(contact)}” deleted.`);
      ctx.navigate("/contacts");
    } catch (err) {
      replace(result, errorNotice(err, "The contact was not deleted"));
      confirm.disabled = false;
    }
  });
  return h("section", { class: "panel", "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title", text: "Delete" }),
    h("p", { class: "muted", text: "A soft delete: the record and its history are kept, but the contact is hidden and never messaged again." }),
    result, question, start);
}

export async function contactPage(ctx) {
  const contact = await get(`/api/contacts/${seg(ctx.params[0])}`, { signal: ctx.signal });
  const root = h("section");

  function show(current, message) {
    const messageLink = h("a", { class: "button", href: `#/dm/${seg(current.contactId)}`, text: can.send() ? "Send a message" : "Conversation" });
    replace(root,
      pageHead(contactLabel(current), "Contact", messageLink),
      message ? notice("ok", null, h("p", { text: message })) : flashNotice(),
      h("div", { class: "two-col" }, summary(current), windowPanel(current)),
      can.manageContacts() ? editPanel(current, (updated, text) => {
        show(updated, text);
        announce(text);
      }) : null,
      historyPanel(current),
      can.manageContacts() ? deletePanel(current, ctx) : null);
  }

  show(contact, "");
  return root;
}
