// Presentation of API values: epoch seconds → local time, the WhatsApp window, message content.

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DATE_TIME_SECONDS = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

/** Epoch seconds → "25 Nov 2026, 13:08" in the viewer's locale and time zone. */
export function formatTime(epochSeconds, { seconds = false } = {}) {
  if (!isNumber(epochSeconds)) return "—";
  return (seconds ? DATE_TIME_SECONDS : DATE_TIME).format(new Date(epochSeconds * 1000));
}

/** "in 3 h 12 min" / "5 min ago" relative to now. */
export function formatRelative(epochSeconds, nowMs = Date.now()) {
  if (!isNumber(epochSeconds)) return "";
  const diff = Math.round((epochSeconds * 1000 - nowMs) / 60000);
  const minutes = Math.abs(diff);
  let text;
  if (minutes < 1) text = "less than a minute";
  else if (minutes < 60) text = `${minutes} min`;
  else if (minutes < 48 * 60) {
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    text = rest ? `${hours} h ${rest} min` : `${hours} h`;
  } else text = `${Math.round(minutes / 1440)} days`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/**
 * The WhatsApp 24-hour customer service window of a contact, from the API's lastInboundMessageAt and
 * windowExpiresAt (epoch seconds; windowExpiresAt is null when the window is closed).
 */
export function windowState(contact, nowMs = Date.now()) {
  const expires = contact ? contact.windowExpiresAt : null;
  const last = contact ? contact.lastInboundMessageAt : null;
  if (isNumber(expires) && expires * 1000 > nowMs) {
    return {
      open: true,
      text: `Window open until ${formatTime(expires)}`,
      detail: `${formatRelative(expires, nowMs)}; free-form messages are allowed until then`,
      expiresAt: expires,
    };
  }
  const detail = isNumber(last)
    ? `the contact last wrote ${formatTime(last)}; the window closed ${formatTime(last + 86400)}`
    : "the contact has never written to us";
  return { open: false, text: "Closed — templates only", detail, expiresAt: null };
}

export function contactLabel(contact) {
  if (!contact) return "Unknown contact";
  const name = typeof contact.name === "string" ? contact.name.trim() : "";
  return name || contact.phone || contact.email || contact.contactId || "Unnamed contact";
}

export const CHANNEL_NAMES = { whatsapp: "WhatsApp", sms: "SMS", email: "Email" };

export function channelName(channel) {
  return CHANNEL_NAMES[channel] || String(channel || "—");
}

/** A one-line (or few-line) plain-text rendering of a stored message's content. */
export function contentText(message) {
  const content = message && typeof message.content === "object" && message.content ? message.content : {};
  const type = content.type || "";
  if (type === "text") return String(content.body ?? content.text ?? "");
  if (type === "template") {
    const language = content.language ? ` (${content.language})` : "";
    return `Template “${content.name || "?"}”${language}`;
  }
  if (type === "email") {
    const body = content.text || (content.html ? "(HTML body)" : "");
    return `Subject: ${content.subject || ""}${body ? `\n${body}` : ""}`;
  }
  if (["image", "video", "audio", "document", "sticker", "media"].includes(type) || content.mediaKind) {
    const kind = content.mediaKind || type;
    const caption = content.caption ? ` ${content.caption}` : "";
    const name = content.filename ? ` ${content.filename}` : "";
    return `[${kind}]${name}${caption}`;
  }
  if (type === "reaction") return `[reaction] ${content.emoji || ""}`.trim();
  if (type === "location") {
    const place = [content.name, content.address].filter(Boolean).join(", ");
    return `[location] ${place || [content.latitude, content.longitude].filter(isNumber).join(", ")}`.trim();
  }
  if (type === "button" || type === "interactive") {
    return `[${type}] ${content.text || content.title || content.payload || ""}`.trim();
  }
  if (content.text) return String(content.text);
  if (content.body) return String(content.body);
  return type ? `[${type}]` : "";
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

/** datetime-local input value → epoch seconds (local time), or "" when empty. */
export function localInputToEpoch(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : "";
}

/** The time left until ``epochSeconds`` as "5 h 12 min" / "12 min" / "less than a minute" ("" when past). */
export function formatCountdown(epochSeconds, nowMs = Date.now()) {
  if (!isNumber(epochSeconds) || epochSeconds * 1000 <= nowMs) return "";
  const left = Math.floor((epochSeconds * 1000 - nowMs) / 60000);
  if (left < 1) return "less than a minute";
  const hours = Math.floor(left / 60);
  const minutes = left % 60;
  if (!hours) return `${minutes} min`;
  return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
}

const SHORT_TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const SHORT_DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** A list's time column: "13:08" today, "25 Nov 2026" before (the full time is formatTime's). */
export function formatShortTime(epochSeconds, nowMs = Date.now()) {
  if (!isNumber(epochSeconds)) return "—";
  const at = new Date(epochSeconds * 1000);
  const now = new Date(nowMs);
  const today = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth()
    && at.getDate() === now.getDate();
  return today ? SHORT_TIME.format(at) : SHORT_DATE.format(at);
}

/** Epoch seconds → an ISO 8601 string for <time datetime>, or "" when not a number. */
export function isoTime(epochSeconds) {
  return isNumber(epochSeconds) ? new Date(epochSeconds * 1000).toISOString() : "";
}

/** A file size in words: "512 bytes", "12.3 KB", "4.5 MB". */
export function formatBytes(bytes) {
  if (!isNumber(bytes) || bytes < 0) return "";
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
