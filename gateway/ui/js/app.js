// WECARE.DIGITAL web UI: shell, hash routing (#/contacts, #/dm …) and the session. Navigation only
// swaps the contents of <main>; the page is never reloaded.

import { announce, h, replace } from "./dom.js";
import { get, isAbort, setUnauthorizedHandler } from "./api.js";
import { clearSession, flashAfterReload, roleAtLeast, session, signOutAddress } from "./session.js";
import { errorNotice, loading, pageHead } from "./components.js";
import { signInPage } from "./pages/signin.js";
import { contactPage, contactsPage } from "./pages/contacts.js";
import { dmConversationPage, dmPickPage } from "./pages/dm.js";
import { messagePage } from "./pages/message.js";
import { decisionsPage, policiesPage } from "./pages/compliance.js";
import { deadLettersPage } from "./pages/dlq.js";
import { usersPage } from "./pages/users.js";
import { bulkPage } from "./pages/bulk.js";
import { agentPage } from "./pages/agent.js";
import { settingsPage } from "./pages/settings.js";
import { accountPage } from "./pages/account.js";
import { unavailablePage } from "./pages/unavailable.js";

const HOME = "/contacts";

const ROUTES = [
  { pattern: /^\/signin$/, page: signInPage, public: true },
  { pattern: /^\/contacts$/, page: contactsPage, nav: "/contacts" },
  { pattern: /^\/contacts\/([^/]+)$/, page: contactPage, nav: "/contacts" },
  { pattern: /^\/dm$/, page: dmPickPage, nav: "/dm" },
  { pattern: /^\/dm\/([^/]+)$/, page: dmConversationPage, nav: "/dm" },
  { pattern: /^\/messages\/([^/]+)$/, page: messagePage, nav: "/dm" },
  { pattern: /^\/compliance$/, page: decisionsPage, nav: "/compliance" },
  { pattern: /^\/compliance\/policies$/, page: policiesPage, nav: "/compliance" },
  { pattern: /^\/dlq$/, page: deadLettersPage, nav: "/dlq", role: "Operator" },
  { pattern: /^\/users$/, page: usersPage, nav: "/users", role: "Admin" },
  { pattern: /^\/settings$/, page: settingsPage, nav: "/settings", role: "Admin" },
  { pattern: /^\/account$/, page: accountPage, nav: "/account" },
  { pattern: /^\/bulk$/, page: bulkPage, nav: "/bulk" },
  { pattern: /^\/agent$/, page: agentPage, nav: "/agent" },
  { pattern: /^\/(pay|link|forms|docs|invoice)$/, page: unavailablePage },
];

let current = null; // the AbortController of the page on screen
let firstPage = true; // a fresh load keeps focus at the top of the document (skip link first)

export function navigate(path) {
  const hash = `#${path}`;
  if (location.hash === hash) render();
  else location.hash = hash;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "");
  if (!raw.startsWith("/")) return null;
  const [path, search = ""] = raw.split("?");
  return { path: path.replace(/\/+$/, "") || "/", query: new URLSearchParams(search) };
}

function matchRoute(path) {
  for (const route of ROUTES) {
    const found = route.pattern.exec(path);
    if (found) {
      const params = found.slice(1).map((part) => {
        try {
          return decodeURIComponent(part);
        } catch {
          return part;
        }
      });
      return { route, params };
    }
  }
  return null;
}

// The kill switch, for everyone: a banner while an Admin has paused sending (GET /api/me carries it).
function showSendingBanner() {
  const banner = document.getElementById("sending-banner");
  if (!banner) return;
  const paused = session.me && session.me.sendingPaused;
  banner.hidden = !paused;
  if (!paused) return;
  const names = { all: "all channels", whatsapp: "WhatsApp", sms: "SMS", email: "Email" };
  const which = (paused.channels || []).map((c) => names[c] || c).join(", ");
  replace(banner, h("strong", { text: `Sending is paused (${which}).` }), " ", h("span", { text: paused.reason || "" }));
}

function refreshMe() {
  if (!session.token) return;
  get("/api/me").then((me) => {
    session.me = me;
    showSendingBanner();
  }).catch(() => {}); // the page itself reports a lost server; the banner just keeps what it knew
}
document.addEventListener("wecare:sending-changed", refreshMe);

async function loadMe(main) {
  try {
    session.me = await get("/api/me");
    showSendingBanner();
    return true;
  } catch (err) {
    if (err && err.status === 401) return false; // the unauthorized handler took us to sign-in
    const retry = h("button", { type: "button", text: "Try again", on: { click: () => render() } });
    const leave = h("button", { type: "button", text: "Sign out", on: { click: signOut } });
    replace(main, pageHead("WECARE.DIGITAL"), errorNotice(err, "Could not load your account"),
      h("div", { class: "actions" }, retry, leave));
    return false;
  }
}

async function render() {
  const main = document.getElementById("main");
  const where = parseHash();
  if (!where) {
    // "#main" from the skip link keeps the page on screen; an address with no route at all goes home.
    if (firstPage || !location.hash || location.hash === "#") location.replace(`#${session.token ? HOME : "/signin"}`);
    return;
  }
  if (where.path === "/") {
    location.replace(`#${session.token ? HOME : "/signin"}`);
    return;
  }
  const found = matchRoute(where.path);
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;

  if (!found) {
    updateChrome(null);
    replace(main, pageHead("Page not found"),
      h("p", null, "There is no page at this address. ", h("a", { href: `#${HOME}`, text: "Go to Contacts" })));
    focusHeading(main);
    return;
  }
  const { route, params } = found;
  if (!route.public) {
    if (!session.token) {
      session.returnTo = location.hash;
      navigate("/signin");
      return;
    }
    if (!session.me) {
      replace(main, loading());
      if (!(await loadMe(main)) || controller.signal.aborted) return;
    }
  } else if (session.token && session.me) {
    navigate(HOME); // already signed in
    return;
  }
  updateChrome(route.nav || where.path);
  // Each page shows the kill switch as it is now (a paused gateway must not look like a working one).
  if (route.public) showSendingBanner();
  else refreshMe();

  if (route.role && !roleAtLeast(route.role)) {
    replace(main, pageHead("Not available to your role"),
      h("p", { text: `This page needs the ${route.role} role; you are signed in as ${session.me.role}.` }));
    focusHeading(main);
    return;
  }
  replace(main, loading());
  const ctx = { params, query: where.query, signal: controller.signal, navigate, render };
  try {
    const node = await route.page(ctx);
    if (controller.signal.aborted) return;
    replace(main, node);
    focusHeading(main);
  } catch (err) {
    if (isAbort(err) || controller.signal.aborted || (err && err.status === 401)) return;
    const title = err && err.status === 404 ? "Not found" : err && err.status === 403 ? "Not allowed" : "Something went wrong";
    replace(main, pageHead(title), errorNotice(err),
      h("button", { type: "button", text: "Try again", on: { click: () => render() } }));
    focusHeading(main);
  }
}

function focusHeading(main) {
  const heading = main.querySelector("[data-page-title]");
  if (firstPage) {
    firstPage = false;
    return;
  }
  if (heading) {
    heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    announce(heading.textContent || "");
  }
}

function updateChrome(navPath) {
  const signedIn = Boolean(session.me);
  document.body.classList.toggle("signed-out", !signedIn);
  const who = signedIn ? session.me.email || session.me.userId : "";
  document.getElementById("account-email").textContent = who;
  // The e-mail leads to the account page; its name says so and keeps the visible text.
  document.getElementById("account-link").setAttribute("aria-label", who ? `Your account: ${who}` : "Your account");
  document.getElementById("account-role").textContent = signedIn ? `(${session.me.role})` : "";
  for (const item of document.querySelectorAll("[data-min-role]")) {
    item.hidden = !roleAtLeast(item.getAttribute("data-min-role"));
  }
  for (const anchor of document.querySelectorAll("#nav a")) {
    const target = anchor.getAttribute("href").replace(/^#/, "");
    if (navPath && target === navPath) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
  setMenu(false);
}

function setMenu(open) {
  const sidebar = document.getElementById("sidebar");
  const toggle = document.getElementById("menu-toggle");
  sidebar.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = open ? "Close" : "Menu";
}

function signOut() {
  const away = signOutAddress(); // signed in through Cognito: its Hosted UI ends that session too
  clearSession();
  session.returnTo = "";
  if (away) {
    flashAfterReload("You have signed out.");
    location.assign(away);
    return;
  }
  session.flash = "You have signed out.";
  navigate("/signin");
}

function start() {
  setUnauthorizedHandler((err) => {
    if (!session.token && !session.me) return;
    clearSession();
    session.flash = err.details && err.details.reason === "expired"
      ? "Your session has expired. Please sign in again."
      : "Your session has ended. Please sign in again.";
    const where = parseHash();
    if (where && where.path !== "/signin") session.returnTo = location.hash;
    if (current) current.abort();
    navigate("/signin");
  });

  const toggle = document.getElementById("menu-toggle");
  // Choosing a menu item closes the small-screen menu, even when it is the page already shown.
  document.getElementById("nav").addEventListener("click", (event) => {
    if (event.target instanceof Element && event.target.closest("a")) setMenu(false);
  });
  toggle.addEventListener("click", () => setMenu(toggle.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      setMenu(false);
      toggle.focus();
    }
  });
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault(); // "#main" would replace the route in the address
    document.getElementById("main").focus();
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", render);
  render();
}

start();
