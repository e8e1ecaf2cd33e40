// Unread and mention counts. Live messages from others raise them; reading clears them: the open
// channel is marked read while the tab is visible and the list is scrolled to the end. Read marks
// made in my other tabs ("read" pushes) are followed. The total shows in the tab title.

import { markRead } from "./actions.js";
import { on } from "./bus.js";
import { byId, debounce } from "./dom.js";
import { channelLabel, conversation, isDirect, store, updateChannel } from "./store.js";
import { refreshChannels } from "./sync.js";

let listAtEnd = () => true; // set by the channel view

/** The channel view tells us how to know whether its list shows the newest message. */
export function setListAtEnd(probe) {
  listAtEnd = probe;
}

function isBeingRead(channelId) {
  return channelId === store.activeChannelId && document.visibilityState === "visible" && listAtEnd();
}

function mentionsMe(message) {
  return message.mentions_everyone || message.mentioned_user_ids.includes(store.me.id);
}

/** Mark the open channel read up to the last sequence held, if someone is looking at it. */
function markOpenChannelRead() {
  const channelId = store.activeChannelId;
  const channel = store.channels.get(channelId);
  if (!channel?.membership) return;
  const conv = conversation(channelId);
  if (!conv.loaded || !isBeingRead(channelId)) return;
  const membership = channel.membership;
  const seq = conv.lastSeq;
  if (seq <= membership.last_read_seq && !channel.unread_count && !channel.mention_count) return;
  updateChannel(channelId, {
    membership: { ...membership, last_read_seq: Math.max(membership.last_read_seq, seq) },
    unread_count: 0,
    mention_count: 0,
  });
  if (seq > membership.last_read_seq) markRead(channelId, seq).catch(() => {});
}

export const markOpenChannelReadSoon = debounce(markOpenChannelRead, 250);
const refreshCountsSoon = debounce(() => refreshChannels().catch(() => {}), 1_000);

on("messages", ({ channelId, messages, inserted, live }) => {
  if (channelId === store.activeChannelId) markOpenChannelReadSoon();
  if (!live || !inserted.length) return;
  const channel = store.channels.get(channelId);
  if (!channel?.membership || isBeingRead(channelId)) return;
  let unread = 0;
  let mentions = 0;
  for (const message of messages) {
    if (!inserted.includes(message.id) || message.sender_id === store.me.id || message.deleted) continue;
    if (message.seq <= channel.membership.last_read_seq) continue;
    unread += 1;
    if (mentionsMe(message)) mentions += 1;
  }
  if (unread) {
    updateChannel(channelId, {
      unread_count: channel.unread_count + unread,
      mention_count: channel.mention_count + mentions,
    });
  }
});

on("push", (frame) => {
  if (frame.type !== "read") return;
  const channel = store.channels.get(frame.channel_id);
  if (!channel?.membership || frame.last_read_seq <= channel.membership.last_read_seq) return;
  const caughtUp = frame.last_read_seq >= conversation(frame.channel_id).lastSeq;
  updateChannel(frame.channel_id, {
    membership: { ...channel.membership, last_read_seq: frame.last_read_seq },
    ...(caughtUp ? { unread_count: 0, mention_count: 0 } : {}),
  });
  if (!caughtUp) refreshCountsSoon();
});

on("active", markOpenChannelReadSoon);
on("history", markOpenChannelReadSoon);
document.addEventListener("visibilitychange", markOpenChannelReadSoon);
window.addEventListener("focus", markOpenChannelReadSoon);

// --- the tab title ------------------------------------------------------------------------------

function updateTitle() {
  let unread = 0;
  for (const channel of store.channels.values()) {
    if (!channel.membership) continue;
    unread += channel.membership.is_muted ? channel.mention_count : channel.unread_count;
  }
  const active = store.channels.get(store.activeChannelId);
  const name = active ? (isDirect(active) ? channelLabel(active) : `#${channelLabel(active)}`) : "";
  document.title = `${unread ? `(${unread}) ` : ""}${name ? `${name} · ` : ""}Enclave`;
  const badge = byId("sidebar-toggle-badge");
  if (badge) badge.hidden = unread === 0;
}

on("channels", updateTitle);
on("active", updateTitle);
on("users", updateTitle);
