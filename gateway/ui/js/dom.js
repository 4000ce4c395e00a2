// DOM building without innerHTML: every string becomes a text node, so API data (contact names,
// message bodies) can never turn into markup or script.

// Set as element properties (not attributes) so the live state follows.
const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "selected", "required", "multiple",
  "readOnly", "indeterminate"]);

/**
 * Create an element.
 * @param {string} tag
 * @param {Record<string, any> | null} [props] class, text, on: {event: fn}, dataset, properties, attributes
 * @param {...any} children nodes, strings, numbers, arrays; null/undefined/false are skipped
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === "class") el.className = v;
    else if (key === "text") el.textContent = String(v);
    else if (key === "on") for (const [event, fn] of Object.entries(v)) el.addEventListener(event, fn);
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key === "value") value = v;
    else if (PROPERTIES.has(key)) el[key] = v;
    else if (/^on/i.test(key)) throw new Error(`inline handler ${key} refused: use on: {}`);
    else el.setAttribute(key, v === true ? "" : String(v));
  }
  append(el, children);
  // After the children: a <select>'s value only sticks once its options exist.
  if (value !== undefined) el.value = value;
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Announce a short message to screen readers through the page's polite live region. */
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A fresh text node in a later task, so the same message twice is announced twice.
  setTimeout(() => { live.textContent = text; }, 30);
}

let uid = 0;
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}
