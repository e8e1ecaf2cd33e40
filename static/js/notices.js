// Transient notices (errors, confirmations) in a polite live region at the bottom of the screen.

import { byId, h } from "./dom.js";
import { gettext } from "./i18n.js";
import { icon } from "./icons.js";

const TIMEOUT_MS = 7_000;

export function notify(message, { kind = "error", timeout = TIMEOUT_MS } = {}) {
  const region = byId("notices");
  if (!region) return;
  // The same text twice in a row is one notice.
  for (const existing of region.children) {
    if (existing.dataset.text === message) existing.remove();
  }
  const close = h("button", { type: "button", class: "icon-button icon-button--small", "aria-label": gettext("Dismiss") }, icon("x"));
  const notice = h("div", { class: `notice notice--${kind}`, dataset: { text: message } }, h("span", { text: message }), close);
  close.addEventListener("click", () => notice.remove());
  region.append(notice);
  if (timeout) setTimeout(() => notice.remove(), timeout);
}

/** Report a failed operation (ApiError or SocketError both carry a translated message). */
export function notifyError(error) {
  notify(error?.message || gettext("Something went wrong. Please try again."));
}
