// Pins: a message pinned to its channel (every member sees it). "Pin"/"Unpin" in a message's
// actions, the pin marker on the message (its `pinned` field, kept current by the pin.added /
// pin.removed pushes in sync.js), and the channel's "Pinned messages" dialog, opened from the
// channel header and reloaded live while open. Behind the `pins_saved` feature flag.

import { api } from "./api.js";
import { on } from "./bus.js";
import { byId, debounce, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatDateTime, formatWhen } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { notifyError } from "./notices.js";
import { messageExcerpt } from "./notifications.js";
import { jumpToMessage } from "./permalink.js";
import { applyMessages, channelLabel, store, userName } from "./store.js";

export const FLAG = "pins_saved";

let dialog = null;
let button = null;
let shownChannelId = null;
let token = 0;

export const pinsEnabled = () => isEnabled(FLAG);

/** Whether I may pin or unpin in this channel: as for posting (members; in announcement
 *  channels its administrators; never in an archived one). The server checks the same. */
export function canPin(channel) {
  if (!pinsEnabled() || !channel?.membership || channel.is_archived) return false;
  return !channel.is_announcement || channel.membership.role === "admin";
}

export async function togglePin(message) {
  const path = `messages/${message.id}/pin/`;
  const fresh = message.pinned ? await api.delete(path) : await api.post(path);
  applyMessages(fresh.channel_id, [fresh]);
  return fresh;
}

/** The marker on a pinned message: "Pinned by Ann". */
export function pinMarker(message) {
  if (!message.pinned || message.deleted) return null;
  const by = message.pinned.pinned_by_name || userName(message.pinned.pinned_by_id);
  return h(
    "div",
    { class: "msg-pinned", title: formatDateTime(new Date(message.pinned.pinned_at)) },
    icon("pin"),
    h("span", { text: interpolate(gettext("Pinned by %(name)s"), { name: by }, true) }),
  );
}

function pinRow(message, channel) {
  const by = message.pinned.pinned_by_name || userName(message.pinned.pinned_by_id);
  const when = formatWhen(new Date(message.pinned.pinned_at));
  const open = h(
    "button",
    { type: "button", class: "saved-row-open", dataset: { open: message.id } },
    h("span", { class: "pick-title", text: message.sender_name || userName(message.sender_id) }),
    h("span", { class: "saved-row-text", text: messageExcerpt(message) }),
    h("span", { class: "pick-detail", text: interpolate(gettext("Pinned by %(name)s, %(when)s"), { name: by, when }, true) }),
  );
  const unpin = canPin(channel)
    ? h("button", { type: "button", class: "button", dataset: { unpin: message.id }, text: gettext("Unpin") })
    : null;
  return h("li", { class: "saved-row", dataset: { messageId: message.id } }, open, unpin);
}

async function load() {
  if (shownChannelId === null) return;
  const mine = ++token;
  const channelId = shownChannelId;
  const messages = await api.get(`channels/${channelId}/pins/`);
  if (mine !== token || shownChannelId !== channelId) return;
  const channel = store.channels.get(channelId);
  byId("pins-list").replaceChildren(...messages.map((m) => pinRow(m, channel)));
  byId("pins-status").textContent = messages.length ? "" : gettext("Nothing is pinned in this channel yet.");
  pinsById = new Map(messages.map((m) => [m.id, m]));
}

let pinsById = new Map();
const reload = debounce(() => load().catch(() => {}), 150);

function buildDialog() {
  dialog = h(
    "dialog",
    { id: "pins-dialog", class: "dialog", "aria-labelledby": "pins-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "pins-title", text: gettext("Pinned messages") }),
      h(
        "button",
        { type: "button", class: "icon-button", dataset: { action: "close-dialog" }, "aria-label": gettext("Close"), title: gettext("Close") },
        icon("x"),
      ),
    ),
    h(
      "div",
      { class: "dialog-body" },
      h("ul", { id: "pins-list", class: "pick-list saved-list", "aria-labelledby": "pins-title" }),
      h("p", { id: "pins-status", class: "muted", "aria-live": "polite" }),
    ),
  );
  document.body.append(dialog);
  dialog.addEventListener("close", () => {
    shownChannelId = null;
    button?.focus();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target.closest('[data-action="close-dialog"]')) {
      dialog.close();
      return;
    }
    const unpin = event.target.closest("[data-unpin]");
    if (unpin) {
      const message = pinsById.get(Number(unpin.dataset.unpin));
      if (message) togglePin(message).then(reload, notifyError);
      return;
    }
    const open = event.target.closest("[data-open]");
    if (open) {
      dialog.close();
      jumpToMessage(Number(open.dataset.open)).catch(notifyError);
    }
  });
}

export function openPins(channelId) {
  if (!dialog) buildDialog();
  shownChannelId = channelId;
  const channel = store.channels.get(channelId);
  byId("pins-title").textContent = interpolate(gettext("Pinned in %(channel)s"), { channel: channelLabel(channel) }, true);
  byId("pins-list").replaceChildren();
  byId("pins-status").textContent = gettext("Loading…");
  if (!dialog.open) dialog.showModal();
  load().catch((error) => {
    byId("pins-status").textContent = error.message;
  });
}

function placeButton() {
  if (!pinsEnabled()) return;
  if (!button) {
    button = h(
      "button",
      { type: "button", class: "icon-button", id: "pins-toggle", "aria-haspopup": "dialog", "aria-label": gettext("Pinned messages"), title: gettext("Pinned messages") },
      icon("pin"),
    );
    button.addEventListener("click", () => {
      if (store.activeChannelId) openPins(store.activeChannelId);
    });
    const tools = document.querySelector(".conversation-tools");
    tools?.insertBefore(button, byId("details-toggle"));
  }
  button.hidden = !store.activeChannelId;
}

on("active", placeButton);

on("push", (frame) => {
  if (shownChannelId === null || frame.channel_id !== shownChannelId) return;
  const pinned = frame.type === "pin.added" || frame.type === "pin.removed";
  const changed = (frame.type === "message.updated" || frame.type === "message.deleted") && pinsById.has(frame.message?.id);
  if (pinned || changed) reload();
});
