// Users (Admin): list, create (a generated password is shown once), change role, disable / enable,
// reset a password (after a confirm step; the one-time password is shown once and the account's
// sessions end).

import { announce, h, replace } from "../dom.js";
import { get, patch, post, seg, withQuery } from "../api.js";
import { badge, dataTable, errorNotice, field, link, morePager, notice, pageHead } from "../components.js";
import { formatTime } from "../format.js";
import { session } from "../session.js";

const ROLES = ["Viewer", "Operator", "Admin"];

export async function usersPage(ctx) {
  const first = await get(withQuery("/api/users", { limit: 50 }), { signal: ctx.signal });
  const listStatus = h("div", { "aria-live": "polite" });
  const resetBox = h("div", { class: "reset-box", "aria-live": "polite", "data-testid": "reset-outcome" });
  const results = h("div");
  let rows = [];
  const pager = morePager("Load more users", async (cursor) => {
    const page = await get(withQuery("/api/users", { limit: 50, cursor })).catch((err) => {
      replace(listStatus, errorNotice(err));
      return null;
    });
    if (page) draw(page, true);
  });

  function roleCell(user) {
    // Your own role is not changed from here: one click must not lock the last Admin out.
    const self = Boolean(session.me && user.userId === session.me.userId);
    const select = h("select", { "aria-label": `Role of ${user.email}`, value: user.role, disabled: self },
      ROLES.map((r) => h("option", { value: r, text: r })));
    select.addEventListener("change", async () => {
      select.disabled = true;
      try {
        const updated = await patch(`/api/users/${seg(user.userId)}`, { role: select.value });
        Object.assign(user, updated);
        replace(listStatus, notice("ok", null, h("p", { text: `${user.email} is now ${updated.role}.` })));
      } catch (err) {
        select.value = user.role;
        replace(listStatus, errorNotice(err, "The role was not changed"));
      } finally {
        select.disabled = false;
      }
    });
    return select;
  }

  function accessCell(user) {
    if (session.me && user.userId === session.me.userId) return h("span", { class: "muted", text: "(you)" });
    const button = h("button", { type: "button", class: "small", text: user.disabled ? "Enable" : "Disable",
      "aria-label": `${user.disabled ? "Enable" : "Disable"} ${user.email}` });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const updated = await patch(`/api/users/${seg(user.userId)}`, { disabled: !user.disabled });
        Object.assign(user, updated);
        const text = `${user.email} is ${updated.disabled ? "disabled" : "enabled"}.`;
        draw({ items: rows, cursor: null }, false, true);
        replace(listStatus, notice("ok", null, h("p", { text })));
        announce(text);
      } catch (err) {
        replace(listStatus, errorNotice(err, "The account was not changed"));
        button.disabled = false;
      }
    });
    return button;
  }

  function resetCell(user) {
    // Your own password is changed on your account page, with the current one.
    if (session.me && user.userId === session.me.userId) return link("#/account", "Change yours");
    const button = h("button", { type: "button", class: "small", text: "Reset password",
      "aria-label": `Reset password of ${user.email}` });
    button.addEventListener("click", () => confirmReset(user, button));
    return button;
  }

  function confirmReset(user, opener) {
    const yes = h("button", { type: "button", text: "Yes, reset the password" });
    const no = h("button", { type: "button", text: "Cancel" });
    const box = notice("warn", `Reset the password of ${user.email}?`,
      h("p", { text: "A new password is generated and shown once. Every session of this account ends now." }),
      h("div", { class: "actions" }, yes, no));
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", `Reset the password of ${user.email}`);
    no.addEventListener("click", () => {
      replace(resetBox);
      if (opener.isConnected) opener.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        const out = await post(`/api/users/${seg(user.userId)}/password`);
        const who = (out && out.user && out.user.email) || user.email;
        showOneTime(who, String((out && out.password) || ""));
      } catch (err) {
        replace(resetBox, errorNotice(err, "The password was not reset"));
      }
    });
    replace(resetBox, box);
    yes.focus();
  }

  function showOneTime(email, password) {
    const code = h("code", { class: "secret", "data-testid": "one-time-password", text: password });
    const copied = h("span", { class: "muted", "aria-live": "polite" });
    const copy = h("button", { type: "button", class: "small", text: "Copy" });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(password);
        copied.textContent = "Copied.";
      } catch {
        // No clipboard (not a secure context, or refused): select it for the person to copy.
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        copied.textContent = "Selected: copy it with your keyboard.";
      }
    });
    const done = h("button", { type: "button", class: "small", text: "Done, hide it" });
    done.addEventListener("click", () => replace(resetBox));
    const box = notice("ok", `New password for ${email}`,
      h("p", { class: "one-time" }, "One-time password: ", code),
      h("p", { class: "warning", text: "It is shown only once: copy it now and pass it on securely. Their sessions have ended." }),
      h("div", { class: "actions" }, copy, done, copied));
    replace(resetBox, box);
    announce(`A new password for ${email} is shown once.`);
    copy.focus();
  }

  function draw(page, more, keepPager = false) {
    rows = more ? rows.concat(page.items || []) : page.items || [];
    if (!keepPager) pager.set(page.cursor);
    replace(results, dataTable([
      { label: "E-mail", cell: (u) => u.email },
      { label: "Role", cell: roleCell },
      { label: "Status", cell: (u) => (u.disabled ? badge("disabled", "bad") : badge("active", "ok")) },
      { label: "Access", cell: accessCell },
      { label: "Password", cell: resetCell },
      { label: "Last sign-in", cell: (u) => (u.lastLoginAt ? formatTime(u.lastLoginAt) : "never") },
      { label: "Source", cell: (u) => u.source || "—" },
    ], rows, "Users"));
  }

  const email = field({ label: "E-mail", name: "email", type: "email", required: true, autocomplete: "off" });
  const role = field({ label: "Role", name: "role", options: ROLES.map((r) => [r, r]), value: "Viewer" });
  const password = field({
    label: "Password (optional)", name: "password", type: "password", autocomplete: "new-password",
    hint: "Leave empty to generate one; a generated password is shown once.",
  });
  const submit = h("button", { type: "submit", text: "Create user" });
  const created = h("div", { "aria-live": "polite" });
  const form = h("form", { "aria-labelledby": "new-user-title" },
    h("div", { class: "grid-3" }, email, role, password), h("div", { class: "actions" }, submit), created);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(created);
    const body = { email: email.input.value.trim(), role: role.input.value };
    if (password.input.value) body.password = password.input.value;
    try {
      const out = await post("/api/users", body);
      replace(created, notice("ok", `Account created for ${out.user.email} (${out.user.role})`,
        out.password
          ? [h("p", null, "Password, shown only now: ", h("span", { class: "secret", text: out.password })),
            h("p", { class: "muted", text: "Copy it and pass it on securely; it cannot be shown again." })]
          : h("p", { text: "They can sign in with the password you chose." })));
      email.input.value = "";
      password.input.value = "";
      draw(await get(withQuery("/api/users", { limit: 50 })), false);
    } catch (err) {
      replace(created, errorNotice(err, "The account was not created"));
    } finally {
      submit.disabled = false;
    }
  });

  draw(first, false);
  return h("section", null,
    pageHead("Users", "Accounts and roles: Viewer reads, Operator manages contacts and sends, Admin manages users."),
    h("section", { class: "panel", "aria-labelledby": "new-user-title" }, h("h2", { id: "new-user-title", text: "New user" }), form),
    h("h2", { text: "Accounts" }), listStatus, resetBox, results, pager.element);
}
