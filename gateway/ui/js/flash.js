// A one-shot message carried to the next page (e.g. "Contact deleted." after leaving its page).

let pending = null;

export function setFlash(kind, text) {
  pending = { kind, text };
}

export function takeFlash() {
  const out = pending;
  pending = null;
  return out;
}
