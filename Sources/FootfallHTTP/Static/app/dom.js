/* Building the page: elements from plain values. Text is always set as text nodes, never parsed
 * as HTML, so a value a visitor sent (a path, a title, a note) cannot become markup. */

/** Builds an element: attrs may hold class, text, on<event> handlers and plain attributes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  appendAll(el, children);
  return el;
}

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function s(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  return el;
}

/** Replaces an element's children, skipping null and false like h() does (the DOM's own
 * replaceChildren would print them as text). */
export function setChildren(el, ...children) {
  el.textContent = "";
  appendAll(el, children);
}
