// The inbox: what is waiting for me in one list (GET /inbox/, newest first): unread mentions of
// me (and @all), replies in threads I started and direct messages. A row opens its message;
// "Mark read" marks its conversation read, "Mark all read" every conversation
// (POST /inbox/mark-all-read/; the `read` pushes update the sidebar of all my tabs). While the
// dialog is open, new messages and read positions reload it. Behind the `workplace_inbox` flag.

import { markRead } from "./actions.js";
import { api } from "./api.js";
import { on } from "./bus.js";
import { byId, debounce, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatWhen } from "./format.js";
import { gettext } from "./i18n.js";
import { icon } from "./icons.js";
import { notifyError } from "./notices.js";
import { messageExcerpt } from "./notifications.js";
import { jumpToMessage } from "./permalink.js";
import { channelLabel, store, userName } from "./store.js";

const FLAG = "workplace_inbox";
const RELOAD_ON = new Set(["message.new", "message.updated", "message.deleted", "read"]);
let dialog = null;
let opener = null;
let token = 0;
// The newest seq of each conversation in the list, for its "Mark read".
let lastSeqs = new Map();

export const inboxEnabled = () => isEnabled(FLAG);

const REASONS = {
  mention: () => gettext("Mentioned you"),
  reply: () => gettext("Replied to your thread"),
  direct: () => gettext("Direct message"),
};

function inboxRow(item) {
  const message = item.message;
  const channel = store.channels.get(message.channel_id);
  const where = channel ? channelLabel(channel) : gettext("Direct message");
  const detail = `${REASONS[item.reason]?.() ?? ""} · ${where} · ${formatWhen(new Date(message.created_at))}`;
  return h(
    "li",
    { class: "saved-row inbox-row", dataset: { messageId: message.id, reason: item.reason } },
    h(
      "button",
      { type: "button", class: "saved-row-open", dataset: { open: message.id } },
      h("span", { class: "pick-title", text: message.sender_name || userName(message.sender_id) }),
      h("span", { class: "saved-row-text", text: messageExcerpt(message) }),
      h("span", { class: "pick-detail", text: detail }),
    ),
    h("button", { type: "button", class: "button", dataset: { markRead: message.channel_id }, text: gettext("Mark read") }),
  );
}

async function load() {
  const mine = ++token;
  const inbox = await api.get("inbox/");
  if (mine !== token || !dialog) return;
  lastSeqs = new Map(inbox.channels.map((channel) => [channel.id, channel.last_seq]));
  byId("inbox-list").replaceChildren(...inbox.items.map(inboxRow));
  byId("inbox-mark-all").disabled = inbox.items.length === 0;
  byId("inbox-status").textContent = inbox.items.length
    ? ""
    : gettext("You are all caught up: unread mentions of you, replies to your threads and direct messages show here.");
}

const reload = debounce(() => load().catch(() => {}), 300);

async function markAllRead() {
  byId("inbox-mark-all").disabled = true;
  try {
    await api.post("inbox/mark-all-read/");
  } catch (error) {
    notifyError(error);
  }
  await load().catch(() => {});
}

function buildDialog() {
  dialog = h(
    "dialog",
    { id: "inbox-dialog", class: "dialog", "aria-labelledby": "inbox-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "inbox-title", text: gettext("Inbox") }),
      h("button", { type: "button", class: "button", id: "inbox-mark-all", text: gettext("Mark all read") }),
      h(
        "button",
        { type: "button", class: "icon-button", dataset: { action: "close-dialog" }, "aria-label": gettext("Close"), title: gettext("Close") },
        icon("x"),
      ),
    ),
    h(
      "div",
      { class: "dialog-body" },
      h("ul", { id: "inbox-list", class: "pick-list saved-list", "aria-labelledby": "inbox-title" }),
      h("p", { id: "inbox-status", class: "muted", "aria-live": "polite" }),
    ),
  );
  document.body.append(dialog);
  dialog.addEventListener("close", () => opener?.focus());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target.closest('[data-action="close-dialog"]')) {
      dialog.close();
      return;
    }
    if (event.target.closest("#inbox-mark-all")) {
      markAllRead();
      return;
    }
    const mark = event.target.closest("[data-mark-read]");
    if (mark) {
      const channelId = Number(mark.dataset.markRead);
      mark.disabled = true;
      markRead(channelId, lastSeqs.get(channelId)).then(() => load(), notifyError);
      return;
    }
    const open = event.target.closest("[data-open]");
    if (open) {
      dialog.close();
      jumpToMessage(Number(open.dataset.open)).catch(notifyError);
    }
  });
}

export function openInbox(from) {
  if (!inboxEnabled()) return;
  if (!dialog) buildDialog();
  opener = from ?? null;
  byId("inbox-list").replaceChildren();
  byId("inbox-status").textContent = gettext("Loading…");
  if (!dialog.open) dialog.showModal();
  load().catch((error) => {
    byId("inbox-status").textContent = error.message;
  });
}

/** Put "Inbox" in the sidebar, right under the search. */
export function initInbox() {
  if (!inboxEnabled()) return;
  const search = document.querySelector('[data-action="open-search"]');
  const button = h(
    "button",
    { type: "button", class: "switcher-button", id: "inbox-open", "aria-haspopup": "dialog" },
    icon("inbox"),
    h("span", { class: "switcher-button-text", text: gettext("Inbox") }),
  );
  button.addEventListener("click", () => openInbox(button));
  search?.after(button);
}

on("push", (frame) => {
  if (dialog?.open && RELOAD_ON.has(frame.type)) reload();
});
