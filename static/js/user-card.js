// The user card: a click on a message's author shows who they are — name, @username, presence,
// their local time — and a button to message them. Esc, a click elsewhere or the close button
// hides it; focus goes back to the name.

import * as actions from "./actions.js";
import { avatarElement } from "./avatar.js";
import { openChannel } from "./conversation.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate, language } from "./i18n.js";
import { notifyError } from "./notices.js";
import { paintPresence, statusLabel, statusOf } from "./presence.js";
import { store } from "./store.js";

let card = null;

function localTime(zone) {
  if (!zone) return "";
  try {
    const time = new Intl.DateTimeFormat(language, { hour: "numeric", minute: "2-digit", timeZone: zone }).format(new Date());
    return interpolate(gettext("Local time: %(time)s (%(zone)s)"), { time, zone: zone.replaceAll("_", " ") }, true);
  } catch {
    return "";
  }
}

export function closeCard({ refocus = true } = {}) {
  if (!card) return;
  const opener = card.opener;
  card.element.remove();
  card = null;
  if (refocus && opener?.isConnected) opener.focus();
}

function openCard(userId, opener) {
  closeCard({ refocus: false });
  const user = store.users.get(userId);
  if (!user) return;
  const close = h("button", { type: "button", class: "icon-button icon-button--small user-card-close", "aria-label": gettext("Close"), text: "×" });
  const message =
    user.id === store.me.id
      ? null
      : h("button", { type: "button", class: "button button--primary button--block", text: gettext("Send a message") });
  const element = h(
    "div",
    { class: "user-card", role: "dialog", "aria-label": interpolate(gettext("About %(name)s"), { name: user.name }, true), tabindex: "-1" },
    close,
    h(
      "div",
      { class: "user-card-head" },
      avatarElement(user.id, user.name, { size: "large" }),
      h(
        "div",
        {},
        h("p", { class: "user-card-name", text: user.name }),
        h("p", { class: "muted", text: `@${user.username}` }),
      ),
    ),
    h(
      "p",
      { class: "user-card-status" },
      h("span", { class: "presence-dot", dataset: { presenceUser: user.id }, "aria-hidden": "true" }),
      ` ${statusLabel(statusOf(user.id))}`,
    ),
    localTime(user.time_zone) ? h("p", { class: "muted", text: localTime(user.time_zone) }) : null,
    message,
  );
  close.addEventListener("click", () => closeCard());
  message?.addEventListener("click", async () => {
    closeCard({ refocus: false });
    try {
      openChannel((await actions.openDirect([user.id])).id);
    } catch (error) {
      notifyError(error);
    }
  });
  document.body.append(element);
  const rect = opener.getBoundingClientRect();
  const width = Math.min(280, window.innerWidth - 16);
  element.style.width = `${width}px`;
  element.style.left = `${Math.max(8, Math.min(rect.left, window.innerWidth - width - 8))}px`;
  const below = rect.bottom + 6;
  element.style.top = `${Math.max(8, below + element.offsetHeight > window.innerHeight ? rect.top - element.offsetHeight - 6 : below)}px`;
  paintPresence(element);
  card = { element, opener };
  (message ?? close).focus();
}

document.addEventListener("click", (event) => {
  const trigger = event.target.closest("[data-user-card]");
  if (trigger) {
    event.preventDefault();
    if (card?.opener === trigger) closeCard();
    else openCard(Number(trigger.dataset.userCard), trigger);
    return;
  }
  if (card && !card.element.contains(event.target)) closeCard({ refocus: false });
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && card) {
    event.preventDefault();
    event.stopPropagation();
    closeCard();
  }
}, true);
byId("message-scroller").addEventListener("scroll", () => closeCard({ refocus: false }), { passive: true });
