// The signed-in session: the access token lives in sessionStorage (one tab, gone when it closes);
// the role comes from GET /api/me and only decides what the UI offers — the API is the real guard.
// Signed in through Cognito's Hosted UI, the tab also remembers that Hosted UI's sign-out address.

const TOKEN_KEY = "wecare.accessToken";
const LOGOUT_KEY = "wecare.logoutUrl"; // the Hosted UI's logout endpoint, when signed in through Cognito
const FLASH_KEY = "wecare.flash"; // a message for the sign-in page that outlives a trip to the Hosted UI
const RANK = { Viewer: 1, Operator: 2, Admin: 3 };

export const session = {
  token: readToken(),
  /** @type {{userId: string, email: string, role: string, issuer?: string} | null} */
  me: null,
  /** A message for the sign-in page (e.g. after the session ended). */
  flash: takeStored(FLASH_KEY),
  /** Where to go back to after signing in. */
  returnTo: "",
};

function readToken() {
  return readStored(TOKEN_KEY);
}

/** A value of this tab's sessionStorage ("" when there is none, or no storage at all). */
export function readStored(key) {
  try {
    return sessionStorage.getItem(key) || "";
  } catch {
    return "";
  }
}

/** Keep (or, with "", forget) a value in this tab's sessionStorage; false when there is no storage. */
export function writeStored(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
    return true;
  } catch {
    return false;
  }
}

/** Read a value once: it is gone from storage afterwards. */
export function takeStored(key) {
  const value = readStored(key);
  if (value) writeStored(key, "");
  return value;
}

export function setToken(token) {
  session.token = token;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be unavailable (private mode); the token then lives for this page only.
  }
}

export function clearSession() {
  setToken("");
  writeStored(LOGOUT_KEY, "");
  session.me = null;
}

/** The UI's own address, without route or query: Cognito's redirect (and sign-out) URI for this UI. */
export function appAddress() {
  return new URL("./", location.href).href;
}

/** Signed in through Cognito: signing out goes through this Hosted UI logout endpoint. */
export function rememberSignOut(logoutUrl) {
  writeStored(LOGOUT_KEY, logoutUrl || "");
}

/**
 * Where signing out must go to end the Cognito session as well (its logout endpoint, which comes back
 * to this UI), or "" when the session is the embedded identity's. Read before clearSession().
 */
export function signOutAddress() {
  const url = readStored(LOGOUT_KEY);
  if (!url) return "";
  return `${url}${url.includes("?") ? "&" : "?"}logout_uri=${encodeURIComponent(appAddress())}`;
}

/** A message for the sign-in page after the page has been left and loaded again. */
export function flashAfterReload(text) {
  writeStored(FLASH_KEY, text);
}

export function roleAtLeast(role) {
  const mine = session.me ? RANK[session.me.role] || 0 : 0;
  return mine >= (RANK[role] || 99);
}

export const can = {
  manageContacts: () => roleAtLeast("Operator"),
  send: () => roleAtLeast("Operator"),
  deadLetters: () => roleAtLeast("Operator"),
  manageUsers: () => roleAtLeast("Admin"),
};
