// Read receipts under my own messages: "Read" / "Unread" in a DM, "Read by N" in a group DM or a
// small channel. Counted here from the other members' read positions (GET channels/<id>/receipts/
// when a conversation opens, then `receipts.updated` pushes): a member has read a message when
// their position is at or past its seq. The server answers no positions when the organisation has
// receipts off or the conversation is too large, and then nothing shows. A click on the label
// opens the seen-by list (GET messages/<id>/receipts/, which only the sender may ask for).

import { api } from "./api.js";
import { avatarElement } from "./avatar.js";
import { emit, on } from "./bus.js";
import { byId, h } from "./dom.js";
import { formatNumber } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { notifyError } from "./notices.js";
import { store } from "./store.js";

// channel id -> Map(user id -> read seq) of the other members, or null: no receipts there.
const positions = new Map();
const loading = new Map(); // channel id -> the request in flight
let card = null; // the open seen-by list: {element, opener, messageId}

function rerender() {
  emit("ui:messages", {});
}

/** Fetch the read positions of a conversation I belong to (again, when `force`). */
export function loadReceipts(channelId, { force = false } = {}) {
  const channel = store.channels.get(channelId);
  if (!channel?.membership) return Promise.resolve();
  if (!force && positions.has(channelId)) return Promise.resolve();
  if (loading.has(channelId)) return loading.get(channelId);
  const request = api
    .get(`channels/${channelId}/receipts/`)
    .then((answer) => {
      positions.set(
        channelId,
        answer.available ? new Map(answer.positions.map((p) => [p.user_id, p.last_read_seq])) : null,
      );
      rerender();
    })
    .catch(() => {}) // no labels: the messages themselves are unaffected
    .finally(() => loading.delete(channelId));
  loading.set(channelId, request);
  return request;
}

/** How many of the other members have read `message`, and of how many; null: no receipts. */
function tally(message) {
  const known = positions.get(message.channel_id);
  if (!known || !known.size) return null;
  let read = 0;
  for (const seq of known.values()) if (seq >= message.seq) read += 1;
  return { read, total: known.size };
}

function shown(message) {
  return message.sender_id === store.me?.id && !message.deleted && !message.pending;
}

/** What the message list compares to know whether a message must be drawn again. */
export function receiptSignature(message) {
  if (!shown(message)) return "";
  const counts = tally(message);
  return counts ? `${counts.read}/${counts.total}` : "";
}

function labelText(channel, { read, total }) {
  if (channel?.kind === "direct") return read ? gettext("Read") : gettext("Unread");
  if (!read) return gettext("Unread");
  if (read === total) return gettext("Read by everyone");
  return interpolate(gettext("Read by %(count)s"), { count: formatNumber(read) }, true);
}

/** The label under one of my messages (a button opening the seen-by list), or null. */
export function receiptElement(message, { channel, tabbable }) {
  if (!shown(message)) return null;
  const counts = tally(message);
  if (!counts) return null;
  const done = counts.read === counts.total;
  const text = labelText(channel, counts);
  return h(
    "button",
    {
      type: "button",
      class: `msg-receipt${done ? " msg-receipt--read" : counts.read ? " msg-receipt--partial" : ""}`,
      dataset: { receiptsFor: message.id },
      "aria-haspopup": "dialog",
      title: gettext("Who has read this"),
      tabindex: tabbable ? "0" : "-1",
    },
    h("span", { class: "msg-receipt-mark", "aria-hidden": "true", text: done ? "✓✓" : "✓" }),
    h("span", { class: "msg-receipt-text", text }),
  );
}

// --- the seen-by list -----------------------------------------------------------------------

function closeCard({ refocus = true } = {}) {
  if (!card) return;
  const opener = card.opener;
  card.element.remove();
  card = null;
  if (refocus && opener?.isConnected) opener.focus();
}

function place(element, opener) {
  const rect = opener.getBoundingClientRect();
  const width = Math.min(260, window.innerWidth - 16);
  element.style.width = `${width}px`;
  element.style.left = `${Math.max(8, Math.min(rect.left, window.innerWidth - width - 8))}px`;
  const below = rect.bottom + 6;
  const top = below + element.offsetHeight > window.innerHeight ? rect.top - element.offsetHeight - 6 : below;
  element.style.top = `${Math.max(8, top)}px`;
}

function memberList(heading, members, className) {
  return h(
    "section",
    { class: `receipts-group ${className}` },
    h("h3", { class: "receipts-heading", text: interpolate(heading, { count: formatNumber(members.length) }, true) }),
    members.length
      ? h(
          "ul",
          { class: "receipts-list" },
          members.map((member) =>
            h("li", { class: "receipts-member" }, avatarElement(member.user_id, member.name), h("span", { text: member.name })),
          ),
        )
      : h("p", { class: "muted receipts-none", text: gettext("Nobody") }),
  );
}

function cardBody(answer) {
  return [
    memberList(gettext("Read (%(count)s)"), answer.read, "receipts-group--read"),
    memberList(gettext("Unread (%(count)s)"), answer.unread, "receipts-group--unread"),
  ];
}

async function openCard(messageId, opener) {
  closeCard({ refocus: false });
  const close = h("button", { type: "button", class: "icon-button icon-button--small receipts-card-close", "aria-label": gettext("Close"), text: "×" });
  const body = h("div", { class: "receipts-card-body" }, h("p", { class: "muted", text: gettext("Loading…") }));
  const element = h(
    "div",
    { class: "receipts-card", role: "dialog", "aria-label": gettext("Who has read this"), tabindex: "-1" },
    close,
    h("h2", { class: "receipts-card-title", text: gettext("Who has read this") }),
    body,
  );
  close.addEventListener("click", () => closeCard());
  document.body.append(element);
  place(element, opener);
  card = { element, opener, messageId };
  close.focus();
  try {
    const answer = await api.get(`messages/${messageId}/receipts/`);
    if (card?.element !== element) return;
    body.replaceChildren(...cardBody(answer));
    place(element, opener);
  } catch (error) {
    if (card?.element === element) closeCard();
    notifyError(error);
  }
}

document.addEventListener("click", (event) => {
  const trigger = event.target.closest("[data-receipts-for]");
  if (trigger) {
    event.preventDefault();
    event.stopPropagation();
    if (card?.opener === trigger) closeCard();
    else openCard(Number(trigger.dataset.receiptsFor), trigger);
    return;
  }
  if (card && !card.element.contains(event.target)) closeCard({ refocus: false });
});
document.addEventListener(
  "keydown",
  (event) => {
    if (event.key === "Escape" && card) {
      event.preventDefault();
      event.stopPropagation();
      closeCard();
    }
  },
  true,
);
byId("message-scroller")?.addEventListener("scroll", () => closeCard({ refocus: false }), { passive: true });

// --- keeping the positions current ----------------------------------------------------------

// Asked again at every opening (three small queries): a switch turned on or off, or a member
// added, shows without a reload.
on("active", () => {
  if (store.activeChannelId) loadReceipts(store.activeChannelId, { force: true });
});
on("channels", ({ changed = [] }) => {
  const active = store.activeChannelId;
  if (active && changed.includes(active) && !positions.has(active)) loadReceipts(active);
});

on("push", (frame) => {
  if (frame.type === "receipts.updated") {
    const known = positions.get(frame.channel_id);
    if (!known || frame.user_id === store.me?.id) return;
    if ((known.get(frame.user_id) ?? -1) >= frame.seq) return;
    known.set(frame.user_id, frame.seq);
    rerender();
    // An open seen-by list of this conversation is fetched again.
    if (card && card.element.isConnected && card.opener?.isConnected) {
      const opener = card.opener;
      const messageId = card.messageId;
      api
        .get(`messages/${messageId}/receipts/`)
        .then((answer) => {
          if (card?.messageId === messageId) card.element.querySelector(".receipts-card-body").replaceChildren(...cardBody(answer));
          if (card) place(card.element, opener);
        })
        .catch(() => {});
    }
  } else if (frame.type === "member.joined" || frame.type === "member.left") {
    // Someone came or went: the set of readers (and whether the conversation is small) changed.
    if (positions.has(frame.channel_id)) {
      positions.delete(frame.channel_id);
      if (frame.channel_id === store.activeChannelId) loadReceipts(frame.channel_id);
    }
  }
});

on("socket:open", ({ reconnect }) => {
  if (!reconnect) return;
  // Pushes may have been missed while away: forget what we knew, ask again for the open one.
  positions.clear();
  if (store.activeChannelId) loadReceipts(store.activeChannelId, { force: true });
});
