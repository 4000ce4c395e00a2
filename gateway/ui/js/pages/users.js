// Users (Admin): list, create (a generated password is shown once), change role, disable / enable.

import { announce, h, replace } from "../dom.js";
import { get, patch, post, seg, withQuery } from "../api.js";
import { badge, dataTable, errorNotice, field, morePager, notice, pageHead } from "../components.js";
import { formatTime } from "../format.js";
import { session } from "../session.js";

const ROLES = ["Viewer", "Operator", "Admin"];

export async function usersPage(ctx) {
  const first = await get(withQuery("/api/users", { limit: 50 }), { signal: ctx.signal });
  const listStatus = h("div", { "aria-live": "polite" });
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

  function draw(page, more, keepPager = false) {
    rows = more ? rows.concat(page.items || []) : page.items || [];
    if (!keepPager) pager.set(page.cursor);
    replace(results, dataTable([
      { label: "E-mail", cell: (u) => u.email },
      { label: "Role", cell: roleCell },
      { label: "Status", cell: (u) => (u.disabled ? badge("disabled", "bad") : badge("active", "ok")) },
      { label: "Access", cell: accessCell },
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
    h("h2", { text: "Accounts" }), listStatus, results, pager.element);
}
