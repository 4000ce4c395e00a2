// The one way the UI talks to the server: JSON over fetch with the bearer token. Every error
// becomes an ApiError carrying the API's {code, message, details}; a 401 ends the session.

import { session } from "./session.js";

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: the server could not be reached)
   * @param {string} code
   * @param {string} message shown to the person as is
   * @param {Record<string, any>} details
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

let onUnauthorized = () => {};

/** The app decides what a 401 means (back to sign-in); set once at start. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

const UNREACHABLE = "The server could not be reached. Check that it is running, then try again.";

async function send(path, init) {
  try {
    // Not the browser's cache: a 304 comes back to the caller as is, and a 200 is always fresh.
    return await fetch(path, { ...init, cache: "no-store", credentials: "same-origin" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "NETWORK", UNREACHABLE, {});
  }
}

/** The answer's JSON (null when none), or the API's error thrown as an ApiError (a 401 may end the session). */
async function answer(response, auth) {
  let data = null;
  if (response.status !== 204) {
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
  }
  if (!response.ok) {
    const error = (data && typeof data === "object" && data.error) || {};
    const failure = new ApiError(
      response.status,
      String(error.code || `HTTP_${response.status}`),
      String(error.message || `The server answered ${response.status} ${response.statusText}.`.trim()),
      error.details && typeof error.details === "object" ? error.details : {},
    );
    if (response.status === 401 && auth) onUnauthorized(failure);
    throw failure;
  }
  return data;
}

/**
 * @param {string} method
 * @param {string} path
 * @param {{body?: any, headers?: Record<string,string>, signal?: AbortSignal, auth?: boolean}} [options] body: JSON, or FormData (sent as multipart/form-data)
 * @returns {Promise<{status: number, data: any, headers: Headers}>}
 */
export async function call(method, path, options = {}) {
  const { body, signal, auth = true } = options;
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  // A FormData body (multipart/form-data, e.g. a media file) goes as is: the browser sets its boundary.
  const form = typeof FormData !== "undefined" && body instanceof FormData;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
  const response = await send(path, {
    method,
    headers,
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    signal,
  });
  const data = await answer(response, auth);
  return { status: response.status, data, headers: response.headers };
}

/**
 * A conditional GET for polling: sends If-None-Match with the last ETag (when there is one). A 304
 * answers {status: 304, etag, data: null}: nothing changed, keep what is on screen. Errors are thrown
 * as ApiError like call() does (a 401 ends the session).
 * @param {string} path
 * @param {string | null | undefined} etag
 * @param {{signal?: AbortSignal}} [options]
 * @returns {Promise<{status: number, etag: string | null, data: any}>}
 */
export async function getWithETag(path, etag, options = {}) {
  const headers = { Accept: "application/json" };
  if (etag) headers["If-None-Match"] = etag;
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  const response = await send(path, { method: "GET", headers, signal: options.signal });
  const fresh = response.headers.get("ETag");
  if (response.status === 304) return { status: 304, etag: fresh || etag || null, data: null };
  const data = await answer(response, true);
  return { status: response.status, etag: fresh, data };
}

export async function get(path, options) {
  return (await call("GET", path, options)).data;
}

export async function post(path, body, options = {}) {
  return (await call("POST", path, { ...options, body })).data;
}

export async function patch(path, body, options = {}) {
  return (await call("PATCH", path, { ...options, body })).data;
}

export async function del(path, options) {
  return (await call("DELETE", path, options)).data;
}

/** Build "/api/x?a=1&b=2", leaving out empty values. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** An id that is safe in a URL path segment. */
export function seg(id) {
  return encodeURIComponent(String(id));
}

/** A fresh Idempotency-Key; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newIdempotencyKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") {
    try {
      return crypto.randomUUID();
    } catch {
      // fall through: not a secure context
    }
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function isAbort(err) {
  return Boolean(err && err.name === "AbortError");
}
