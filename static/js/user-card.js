// The user card: a click on a message's author shows who they are — name, @username, presence,
// their local time, and from their profile (GET users/<id>/, fetched as the card opens) the
// directory's title, department and phone — and a button to message them. Esc, a click
// elsewhere or the close button hides it; focus goes back to the name.

import * as actions from "./actions.js";
import { api } from "./api.js";
import { avatarElement } from "./avatar.js";
import { openChannel } from "./conversation.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate, language } from "./i18n.js";
import { notifyError } from "./notices.js";
import { paintPresence, statusLabel, statusOf } from "./presence.js";
import { store } from "./store.js";
import { statusLine } from "./user-status.js";

let card = null;

function localTime(zone) {
  if (!zone) return "";
  try {
    const time = new Intl.DateTimeFormat(language, { hour: "numeric", minute: "2-digit", timeZone: zone }).format(new Date());
    return interpolate(gettext("%(time)s (%(zone)s)"), { time, zone: zone.replaceAll("_", " ") }, true);
  } catch {
    return "";
  }
}

/** Title, department, phone (once the profile is in) and local time, as a term list. */
function facts(user, profile) {
  const rows = [
    [gettext("Title"), profile?.title],
    [gettext("Department"), profile?.department],
    [gettext("Phone"), profile?.phone && h("a", { href: `tel:${profile.phone.replace(/[^\d+]/g, "")}`, text: profile.phone })],
    [gettext("Local time"), localTime(profile?.time_zone ?? user.time_zone)],
  ].filter(([, value]) => value);
  return h("dl", { class: "user-card-facts" }, ...rows.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", {}, value)]));
}

export function closeCard({ refocus = true } = {}) {
  if (!card) return;
  const opener = card.opener;
  card.element.remove();
  card = null;
  if (refocus && opener?.isConnected) opener.focus();
}

/** Under the name, or above it when there is no room below. */
function place(element, opener) {
  const rect = opener.getBoundingClientRect();
  const width = Math.min(280, window.innerWidth - 16);
  element.style.width = `${width}px`;
  element.style.left = `${Math.max(8, Math.min(rect.left, window.innerWidth - width - 8))}px`;
  const below = rect.bottom + 6;
  element.style.top = `${Math.max(8, below + element.offsetHeight > window.innerHeight ? rect.top - element.offsetHeight - 6 : below)}px`;
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
    statusLine(user.id),
    h(
      "p",
      { class: "user-card-status" },
      h("span", { class: "presence-dot", dataset: { presenceUser: user.id }, "aria-hidden": "true" }),
      " ",
      h("span", { dataset: { presenceLabel: user.id }, text: statusLabel(statusOf(user.id)) }),
    ),
    facts(user, null),
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
  place(element, opener);
  paintPresence(element);
  card = { element, opener };
  (message ?? close).focus();
  api
    .get(`users/${user.id}/`)
    .then((profile) => {
      if (card?.element !== element) return;
      element.querySelector(".user-card-facts").replaceWith(facts(user, profile));
      place(element, opener); // taller now
    })
    .catch(() => {}); // the card stays as it is: name, presence and local time
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
