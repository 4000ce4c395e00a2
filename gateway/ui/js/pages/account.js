// Your account (#/account, every role): who you are signed in as, and changing your own password
// (POST /api/me/password). A change ends every other session of the account; this tab gets a fresh
// token from the answer and stays signed in.

import { announce, h, nextId, replace } from "../dom.js";
import { call } from "../api.js";
import { errorNotice, facts, notice, pageHead } from "../components.js";
import { session, setToken } from "../session.js";

/** A password field with its own error line (aria-describedby), for messages from the check or the server. */
function passwordField(label, autocomplete, hint) {
  const id = nextId("field");
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h("input", {
    id, type: "password", required: true, autocomplete, "aria-describedby": [hintId, errorId].filter(Boolean).join(" "),
  });
  const error = h("span", { class: "field-error", id: errorId, hidden: true });
  const wrapper = h("div", { class: "field" },
    h("label", { for: id, class: "label", text: label }), input,
    hint ? h("span", { class: "hint", id: hintId, text: hint }) : null, error);
  wrapper.input = input;
  wrapper.setError = (text) => {
    error.textContent = text || "";
    error.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  };
  return wrapper;
}

/** The field a server error names: details.field, or the first of details.fields. */
function errorField(err) {
  const details = (err && err.details) || {};
  if (typeof details.field === "string") return details.field;
  const fields = Array.isArray(details.fields) ? details.fields : [];
  return fields.length && fields[0] && typeof fields[0].field === "string" ? fields[0].field : "";
}

function passwordForm() {
  const current = passwordField("Current password", "current-password");
  const next = passwordField("New password", "new-password", "At least 10 characters; a few unrelated words work well.");
  const again = passwordField("Repeat new password", "new-password");
  const fields = [current, next, again];
  const submit = h("button", { type: "submit", text: "Change password" });
  const outcome = h("div", { class: "password-outcome", "aria-live": "polite", "data-testid": "password-outcome" });

  const form = h("form", { novalidate: true, "aria-labelledby": "password-title" },
    current, next, again, h("div", { class: "actions" }, submit), outcome);

  function fail(wrapper, text) {
    wrapper.setError(text);
    wrapper.input.focus();
    announce(text);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const f of fields) f.setError("");
    replace(outcome);
    if (!current.input.value) return fail(current, "Enter your current password.");
    if (!next.input.value) return fail(next, "Enter a new password.");
    if (next.input.value !== again.input.value) return fail(again, "The two new passwords do not match.");

    submit.disabled = true;
    replace(outcome, h("p", { class: "muted", text: "Changing your password…" }));
    try {
      const { data } = await call("POST", "/api/me/password", {
        // No abort signal: once the server has ended the old token, its replacement must be kept
        // even if the person has moved on to another page meanwhile.
        body: { currentPassword: current.input.value, newPassword: next.input.value },
      });
      // This tab's token was ended with every other session; the answer carries its replacement.
      if (data && data.accessToken) setToken(data.accessToken);
      for (const f of fields) f.input.value = "";
      const text = "Password changed. Other sessions have been signed out.";
      replace(outcome, notice("ok", null, h("p", { text })));
      announce(text);
    } catch (err) {
      if (err && err.status === 401) return; // the session ended: the app is back at sign-in
      replace(outcome);
      const named = errorField(err);
      if (err && err.code === "WRONG_PASSWORD") {
        fail(current, err.message);
      } else if (err && err.status === 422 && named === "newPassword") {
        fail(next, err.message);
      } else if (err && err.status === 422 && named === "currentPassword") {
        fail(current, err.message);
      } else {
        replace(outcome, errorNotice(err, "The password was not changed"));
      }
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function accountPage() {
  const me = session.me || {};
  return h("section", { class: "account-page" },
    pageHead("Your account"),
    h("section", { class: "panel", "aria-labelledby": "account-title" },
      h("h2", { id: "account-title", text: "Signed in as" }),
      facts([
        ["E-mail", h("span", { class: "wrap-anywhere", "data-testid": "account-page-email", text: me.email || "—" })],
        ["Role", h("span", { "data-testid": "account-page-role", text: me.role || "—" })],
      ])),
    h("section", { class: "panel", "aria-labelledby": "password-title" },
      h("h2", { id: "password-title", text: "Change password" }),
      h("p", { class: "muted", text: "Changing it signs you out everywhere else; this tab stays signed in." }),
      passwordForm()));
}
