// Sign-in, the way the server says (GET /api/auth/config):
// * local (the embedded default): e-mail and password, POST /api/auth/login → accessToken;
// * cognito (AWS): the Cognito Hosted UI, OAuth 2.0 authorization code with PKCE (S256). The browser goes
//   to authorizeUrl with a random state and the challenge of a random code_verifier (both kept in this
//   tab's sessionStorage), comes back to the UI's own address with ?code&state, checks the state and
//   exchanges the code at tokenUrl itself: a public client, so no secret, only the verifier proves it
//   is the same browser. The access token it gets is kept like the local one and checked by the same
//   server verifier on every call.

import { h, replace } from "../dom.js";
import { ApiError, call, get, isAbort } from "../api.js";
import { errorNotice, field, loading, notice } from "../components.js";
import {
  appAddress, clearSession, readStored, rememberSignOut, session, setToken, takeStored, writeStored,
} from "../session.js";

const PENDING_KEY = "wecare.signIn.pending"; // {state, verifier, redirectUri, returnTo} of one redirect

export async function signInPage(ctx) {
  const result = h("div", { "aria-live": "polite" });
  if (session.flash) {
    result.append(notice("", null, h("p", { text: session.flash })));
    session.flash = "";
  }
  const body = h("div");
  const page = h("section", { class: "signin panel" },
    h("h1", { id: "signin-title", tabindex: "-1", "data-page-title": true, text: "Sign in" }),
    h("p", { class: "muted", text: "Sign in to the WECARE.DIGITAL admin platform." }),
    result, body);
  const callback = takeCallback();

  let config;
  try {
    config = await get("/api/auth/config", { auth: false, signal: ctx.signal });
  } catch (err) {
    if (isAbort(err)) throw err;
    replace(result, errorNotice(err, "Could not find out how to sign in"));
    body.append(h("div", { class: "actions" },
      h("button", { type: "button", text: "Try again", on: { click: () => ctx.render() } })));
    return page;
  }

  if (config.mode === "local") {
    if (callback) writeStored(PENDING_KEY, "");
    body.append(localForm(ctx, result));
  } else if (config.mode === "cognito") {
    body.append(hostedUiStart(config, result));
    if (callback) {
      const waiting = loading("Finishing signing in…");
      result.replaceChildren(waiting);
      finishHostedSignIn(ctx, config, callback, result);
    }
  } else {
    replace(result, errorNotice(
      new ApiError(0, "SIGN_IN_UNAVAILABLE", String(config.message || "No sign-in is configured on this server."), {}),
      "Signing in is not possible here"));
  }
  return page;
}

// ---- the embedded identity: e-mail and password -----------------------------------------------------

function localForm(ctx, result) {
  const email = field({ label: "E-mail", name: "email", type: "email", required: true, autocomplete: "username" });
  const password = field({
    label: "Password", name: "password", type: "password", required: true, autocomplete: "current-password",
  });
  const submit = h("button", { type: "submit", text: "Sign in" });
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
      const back = returnAddress(session.returnTo);
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
  return form;
}

function returnAddress(hash) {
  return hash && hash.startsWith("#/") && !hash.startsWith("#/signin") ? hash : "#/contacts";
}

// ---- Cognito's Hosted UI: authorization code with PKCE ---------------------------------------------

function hostedUiStart(config, result) {
  const button = h("button", { type: "button", text: "Sign in with your organisation account" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(result);
    try {
      await startHostedSignIn(config);
    } catch (err) {
      replace(result, errorNotice(err, "Could not sign in"));
      button.disabled = false;
    }
  });
  return h("div", null,
    h("p", { text: "You will sign in on your organisation's sign-in page and come back here." }),
    h("div", { class: "actions" }, button));
}

function signInError(code, message) {
  return new ApiError(0, code, message, {});
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function startHostedSignIn(config) {
  if (!globalThis.crypto || !crypto.subtle) {
    throw signInError("INSECURE_CONTEXT",
      "Signing in with your organisation account needs this page to be opened over https.");
  }
  const verifier = randomText(32); // 43 characters of [A-Za-z0-9_-]: a valid PKCE code_verifier
  const state = randomText(16);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const redirectUri = appAddress();
  const pending = { state, verifier, redirectUri, returnTo: returnAddress(session.returnTo) };
  if (!writeStored(PENDING_KEY, JSON.stringify(pending)) || !readStored(PENDING_KEY)) {
    throw signInError("NO_SESSION_STORAGE",
      "Signing in with your organisation account needs this browser to allow session storage for this site.");
  }
  const query = new URLSearchParams({
    response_type: "code",
    client_id: String(config.clientId),
    redirect_uri: redirectUri,
    scope: (config.scopes || ["openid"]).join(" "),
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  });
  location.assign(`${config.authorizeUrl}?${query}`);
}

/** The answer of the Hosted UI in the address (?code&state or ?error), taken out of the address. */
function takeCallback() {
  const query = new URLSearchParams(location.search);
  if (!["code", "state", "error"].some((name) => query.has(name))) return null;
  // The code is single-use and short-lived, but it still has no business in the history or a bookmark.
  history.replaceState(history.state, "", `${appAddress()}${location.hash}`);
  return {
    code: query.get("code") || "",
    state: query.get("state") || "",
    error: query.get("error") || "",
    description: query.get("error_description") || "",
  };
}

function takePending() {
  const raw = takeStored(PENDING_KEY); // one use: a second answer for the same sign-in is refused
  if (!raw) return null;
  try {
    const pending = JSON.parse(raw);
    return pending && typeof pending.state === "string" && typeof pending.verifier === "string" ? pending : null;
  } catch {
    return null;
  }
}

async function finishHostedSignIn(ctx, config, callback, result) {
  try {
    const { token, returnTo } = await exchangeCode(config, callback);
    setToken(token);
    rememberSignOut(config.logoutUrl);
    session.me = await get("/api/me");
    session.returnTo = "";
    ctx.navigate(returnTo.replace(/^#/, ""));
  } catch (err) {
    if (isAbort(err)) return;
    clearSession();
    replace(result, errorNotice(err, "Could not sign in"));
  }
}

async function exchangeCode(config, callback) {
  const pending = takePending();
  if (!pending) {
    throw signInError("NO_SIGN_IN_STARTED",
      "This sign-in was not started in this browser tab, or its answer was already used. Please sign in again.");
  }
  // The state first: until it matches, nothing in the answer (not even its error text) is this tab's.
  if (!callback.state || callback.state !== pending.state) {
    throw signInError("STATE_MISMATCH",
      "The answer from the sign-in page does not belong to the sign-in started here (its state does not match), "
      + "so it was not used. Please sign in again.");
  }
  if (callback.error) {
    const why = callback.description ? `${callback.description} (${callback.error})` : callback.error;
    throw signInError("HOSTED_UI_ERROR", `The organisation sign-in page did not sign you in: ${why}.`);
  }
  if (!callback.code) {
    throw signInError("NO_CODE", "The sign-in page came back without a sign-in code. Please sign in again.");
  }
  let response;
  try {
    response = await fetch(config.tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: String(config.clientId),
        code: callback.code,
        redirect_uri: pending.redirectUri,
        code_verifier: pending.verifier,
      }),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw signInError("TOKEN_ENDPOINT_UNREACHABLE",
      "The sign-in service could not be reached to finish signing in. Check the connection, then sign in again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || !data || typeof data.access_token !== "string" || !data.access_token) {
    const why = data && data.error
      ? `${data.error}${data.error_description ? `: ${data.error_description}` : ""}`
      : `it answered ${response.status}`;
    throw signInError("TOKEN_EXCHANGE_FAILED",
      `The sign-in service refused to finish signing in (${why}). Please sign in again.`);
  }
  return { token: data.access_token, returnTo: returnAddress(pending.returnTo) };
}
