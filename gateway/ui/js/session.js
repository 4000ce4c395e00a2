// The signed-in session: the access token lives in sessionStorage (one tab, gone when it closes);
// the role comes from GET /api/me and only decides what the UI offers — the API is the real guard.

const TOKEN_KEY = "wecare.accessToken";
const RANK = { Viewer: 1, Operator: 2, Admin: 3 };

export const session = {
  token: readToken(),
  /** @type {{userId: string, email: string, role: string, issuer?: string} | null} */
  me: null,
  /** A message for the sign-in page (e.g. after the session ended). */
  flash: "",
  /** Where to go back to after signing in. */
  returnTo: "",
};

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
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
  session.me = null;
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
