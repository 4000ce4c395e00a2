// Sign-in with the embedded identity: POST /api/auth/login → accessToken (kept in sessionStorage).

import { h, replace } from "../dom.js";
import { call, get } from "../api.js";
import { errorNotice, field, notice } from "../components.js";
import { clearSession, session, setToken } from "../session.js";

export function signInPage(ctx) {
  const email = field({ label: "E-mail", name: "email", type: "email", required: true, autocomplete: "username" });
  const password = field({
    label: "Password", name: "password", type: "password", required: true, autocomplete: "current-password",
  });
  const submit = h("button", { type: "submit", text: "Sign in" });
  const result = h("div", { "aria-live": "polite" });
  if (session.flash) {
    result.append(notice("", null, h("p", { text: session.flash })));
    session.flash = "";
  }

  const form = h("form", { novalidate: false, "aria-labelledby": "signin-title" }, email, password,
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(result);
    try {
      const { data } = await call("POST", "/api/auth/login", {
        auth: false,
        body: { email: email.input.value.trim(), password: password.input.value },
      });
      setToken(data.accessToken);
      session.me = await get("/api/me");
      const back = session.returnTo && !session.returnTo.startsWith("#/signin") ? session.returnTo : "#/contacts";
      session.returnTo = "";
      password.input.value = "";
      ctx.navigate(back.replace(/^#/, ""));
    } catch (err) {
      clearSession();
      replace(result, errorNotice(err, "Could not sign in"));
      password.input.focus();
    } finally {
      submit.disabled = false;
    }
  });

  return h("section", { class: "signin panel" },
    h("h1", { id: "signin-title", tabindex: "-1", "data-page-title": true, text: "Sign in" }),
    h("p", { class: "muted", text: "Sign in to the WECARE.DIGITAL admin platform." }),
    result, form);
}
