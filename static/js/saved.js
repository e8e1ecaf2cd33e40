// Saved items: messages I keep for later (mine alone). "Save"/"Unsave" in a message's actions,
// and the "Saved items" dialog opened from the sidebar, newest first. The saved.added /
// saved.removed pushes (to my own tabs only) keep every tab's list and buttons current. The
// server drops from the list what I may no longer read. Behind the `pins_saved` feature flag.

import { api } from "./api.js";
import { emit, on } from "./bus.js";
import { byId, debounce, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatWhen } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { notifyError } from "./notices.js";
import { messageExcerpt } from "./notifications.js";
import { jumpToMessage } from "./permalink.js";
import { channelLabel, store, userName } from "./store.js";

const FLAG = "pins_saved";
const savedIds = new Set();
let dialog = null;
let opener = null;
let token = 0;

export const savedEnabled = () => isEnabled(FLAG);

/** Whether I saved this message (as far as this tab knows: loaded at start, kept by pushes). */
export const isSaved = (messageId) => savedIds.has(messageId);

function markSaved(messageId, saved) {
  if (saved === savedIds.has(messageId)) return;
  if (saved) savedIds.add(messageId);
  else savedIds.delete(messageId);
  emit("ui:messages", {});
}

export async function toggleSaved(message) {
  if (savedIds.has(message.id)) {
    await api.delete(`saved/${message.id}/`);
    markSaved(message.id, false);
  } else {
    await api.post("saved/", { message_id: message.id });
    markSaved(message.id, true);
  }
  if (dialog?.open) reload();
}

function where(item) {
  const channel = store.channels.get(item.channel_id);
  if (channel) return channelLabel(channel);
  return item.channel_name ? `#${item.channel_name}` : gettext("Direct message");
}

function savedRow(item) {
  const message = item.message;
  const detail = interpolate(gettext("%(where)s, saved %(when)s"), { where: where(item), when: formatWhen(new Date(item.saved_at)) }, true);
  return h(
    "li",
    { class: "saved-row", dataset: { messageId: message.id } },
    h(
      "button",
      { type: "button", class: "saved-row-open", dataset: { open: message.id } },
      h("span", { class: "pick-title", text: message.sender_name || userName(message.sender_id) }),
      h("span", { class: "saved-row-text", text: messageExcerpt(message) }),
      h("span", { class: "pick-detail", text: detail }),
    ),
    h("button", { type: "button", class: "button", dataset: { unsave: message.id }, text: gettext("Remove") }),
  );
}

async function load() {
  const mine = ++token;
  const items = await api.get("saved/");
  if (mine !== token) return;
  savedIds.clear();
  for (const item of items) savedIds.add(item.message.id);
  emit("ui:messages", {});
  if (!dialog) return;
  byId("saved-list").replaceChildren(...items.map(savedRow));
  byId("saved-status").textContent = items.length ? "" : gettext("Nothing saved yet. Save a message from its actions to find it here.");
}

const reload = debounce(() => load().catch(() => {}), 150);

function buildDialog() {
  dialog = h(
    "dialog",
    { id: "saved-dialog", class: "dialog", "aria-labelledby": "saved-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "saved-title", text: gettext("Saved items") }),
      h(
        "button",
        { type: "button", class: "icon-button", dataset: { action: "close-dialog" }, "aria-label": gettext("Close"), title: gettext("Close") },
        icon("x"),
      ),
    ),
    h(
      "div",
      { class: "dialog-body" },
      h("ul", { id: "saved-list", class: "pick-list saved-list", "aria-labelledby": "saved-title" }),
      h("p", { id: "saved-status", class: "muted", "aria-live": "polite" }),
    ),
  );
  document.body.append(dialog);
  dialog.addEventListener("close", () => opener?.focus());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target.closest('[data-action="close-dialog"]')) {
      dialog.close();
      return;
    }
    const unsave = event.target.closest("[data-unsave]");
    if (unsave) {
      const messageId = Number(unsave.dataset.unsave);
      api.delete(`saved/${messageId}/`).then(() => {
        markSaved(messageId, false);
        reload();
      }, notifyError);
      return;
    }
    const open = event.target.closest("[data-open]");
    if (open) {
      dialog.close();
      jumpToMessage(Number(open.dataset.open)).catch(notifyError);
    }
  });
}

export function openSaved(from) {
  if (!dialog) buildDialog();
  opener = from ?? null;
  byId("saved-list").replaceChildren();
  byId("saved-status").textContent = gettext("Loading…");
  if (!dialog.open) dialog.showModal();
  load().catch((error) => {
    byId("saved-status").textContent = error.message;
  });
}

/** Put "Saved items" in the sidebar and learn what I saved (once, after start-up). */
export function initSaved() {
  if (!savedEnabled()) return;
  const search = document.querySelector('[data-action="open-search"]');
  const button = h(
    "button",
    { type: "button", class: "switcher-button", id: "saved-open", "aria-haspopup": "dialog" },
    icon("bookmark"),
    h("span", { class: "switcher-button-text", text: gettext("Saved items") }),
  );
  button.addEventListener("click", () => openSaved(button));
  search?.after(button);
  load().catch(() => {});
}

on("push", (frame) => {
  if (frame.type !== "saved.added" && frame.type !== "saved.removed") return;
  markSaved(frame.message_id, frame.type === "saved.added");
  if (dialog?.open) reload();
});

// After a reconnect, saves made meanwhile in another tab: learn them again.
on("socket:open", () => {
  if (savedEnabled() && store.me) reload();
});
