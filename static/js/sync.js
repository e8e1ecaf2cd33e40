// Convergence with the server (docs/architecture/realtime.md). Applies channel-scoped
// pushes, keeps for each channel the highest channel_seq applied, detects gaps and catches up
// over REST with `?after_seq=N` (paging while has_more_after), also after every reconnect.
// Loads history (latest page, older pages, threads) and keeps the channel list in step with
// channel/member events.

import { api } from "./api.js";
import { emit, on } from "./bus.js";
import { debounce } from "./dom.js";
import {
  applyMessages,
  conversation,
  isDirect,
  loadedConversations,
  patchMessage,
  removeChannel,
  replaceChannels,
  settingsPushIsCurrent,
  store,
  updateChannel,
  upsertChannel,
} from "./store.js";

const PAGE_SIZE = 50;
const CATCH_UP_PAGE_SIZE = 200;
const CHANNEL_PUSHES = new Set([
  "message.new",
  "message.updated",
  "message.deleted",
  "reaction.added",
  "reaction.removed",
  "pin.added",
  "pin.removed",
]);

// --- history ----------------------------------------------------------------------------------

/** Fetch the latest page of a channel's root messages (once; later changes arrive as pushes). */
export function loadLatest(channelId) {
  const conv = conversation(channelId);
  if (conv.loaded) return Promise.resolve();
  if (conv.loadingPromise) return conv.loadingPromise;
  conv.loading = true;
  emit("history", { channelId });
  conv.loadingPromise = (async () => {
    try {
      const page = await api.get(`channels/${channelId}/messages/`, { limit: PAGE_SIZE, roots_only: true });
      conv.oldestSeq = page.messages.length ? page.messages[0].seq : null;
      conv.hasMoreBefore = page.has_more_before;
      conv.lastSeq = Math.max(conv.lastSeq, page.last_seq);
      conv.loaded = true;
      applyMessages(channelId, page.messages);
    } finally {
      conv.loading = false;
      conv.loadingPromise = null;
      emit("history", { channelId });
    }
  })();
  return conv.loadingPromise;
}

/** Fetch the page of roots before the loaded window (scrolling back). */
export async function loadOlder(channelId) {
  const conv = conversation(channelId);
  if (!conv.loaded || !conv.hasMoreBefore || conv.loadingOlder || conv.oldestSeq === null) return;
  conv.loadingOlder = true;
  emit("history", { channelId });
  try {
    const page = await api.get(`channels/${channelId}/messages/`, {
      limit: PAGE_SIZE,
      roots_only: true,
      before_seq: conv.oldestSeq,
    });
    if (page.messages.length) conv.oldestSeq = page.messages[0].seq;
    conv.hasMoreBefore = page.has_more_before;
    applyMessages(channelId, page.messages);
  } finally {
    conv.loadingOlder = false;
    emit("history", { channelId });
  }
}

/** Fetch a thread (root and every reply); returns the root payload. */
export async function loadThread(channelId, rootId) {
  const data = await api.get(`messages/${rootId}/thread/`);
  const conv = conversation(data.root.channel_id);
  applyMessages(data.root.channel_id, [data.root, ...data.replies]);
  conv.threadsLoaded.add(data.root.id);
  return data.root;
}

// --- the channel list ---------------------------------------------------------------------------

export async function refreshChannels() {
  const summaries = await api.get("channels/");
  replaceChannels(summaries);
}

const refreshChannelsSoon = debounce(() => {
  refreshChannels().catch(() => {});
}, 800);

/** Open (or fetch) a channel summary, including public channels I am not a member of. */
export async function ensureChannel(channelId) {
  if (store.channels.has(channelId)) return store.channels.get(channelId);
  const summary = await api.get(`channels/${channelId}/`);
  return upsertChannel(summary);
}

// --- catch-up -----------------------------------------------------------------------------------

/**
 * Fetch every change after the channel's last applied sequence and apply it by id.
 * Pushes that arrive meanwhile are applied too (by version) and remembered; when the fetch is
 * done the sequence advances over them, and any hole left starts another round.
 */
export async function catchUp(channelId) {
  const conv = conversation(channelId);
  if (conv.syncing) {
    conv.syncAgain = true;
    return;
  }
  conv.syncing = true;
  conv.syncAgain = false;
  conv.seenWhileSyncing = new Set();
  const touchedRoots = new Set();
  let gapLeft = false;
  try {
    let after = conv.lastSeq;
    let reached = conv.lastSeq;
    for (;;) {
      const page = await api.get(`channels/${channelId}/messages/`, {
        after_seq: after,
        limit: CATCH_UP_PAGE_SIZE,
      });
      for (const message of page.messages) {
        after = Math.max(after, message.version);
        if (message.thread_root_id !== null) touchedRoots.add(message.thread_root_id);
      }
      applyMessages(channelId, page.messages);
      // Sequence values are taken under the channel row lock and committed in order, so a page
      // holding version V also holds every earlier change.
      reached = Math.max(reached, page.last_seq, after);
      if (!page.has_more_after) break;
    }
    let seq = Math.max(conv.lastSeq, reached);
    for (const seen of [...conv.seenWhileSyncing].sort((a, b) => a - b)) {
      if (seen <= seq) continue;
      if (seen === seq + 1) seq = seen;
      else {
        gapLeft = true;
        break;
      }
    }
    conv.lastSeq = seq;
  } catch (error) {
    conv.needsSync = true;
    throw error;
  } finally {
    conv.syncing = false;
  }
  conv.needsSync = false;
  await refreshRoots(channelId, touchedRoots);
  if (gapLeft || conv.syncAgain) return catchUp(channelId);
  return undefined;
}

/** Replies change their root's reply_count without a new root version: reload those roots. */
async function refreshRoots(channelId, rootIds) {
  const conv = conversation(channelId);
  const known = [...rootIds].filter((id) => conv.byId.has(id));
  const roots = await Promise.all(
    known.map((id) => api.get(`messages/${id}/`).catch(() => null)),
  );
  const fresh = roots.filter(Boolean);
  if (fresh.length) applyMessages(channelId, fresh, { fresh: true });
}

/** After a reconnect: fresh channel list and unread counts, then catch up every cached channel. */
export async function resync() {
  await refreshChannels().catch(() => {});
  const channels = loadedConversations().filter((conv) => store.channels.has(conv.channelId));
  await Promise.all(channels.map((conv) => catchUp(conv.channelId).catch(() => {})));
}

// --- pushes ---------------------------------------------------------------------------------

function applyChannelPush(frame, live) {
  const channelId = frame.channel_id;
  const conv = conversation(channelId);
  if (frame.type === "reaction.added" || frame.type === "reaction.removed") {
    patchMessage(channelId, frame.message_id, { reactions: frame.reactions }, { version: frame.channel_seq });
    return;
  }
  if (frame.type === "pin.added" || frame.type === "pin.removed") {
    patchMessage(channelId, frame.message_id, { pinned: frame.pinned }, { version: frame.channel_seq });
    return;
  }
  const message = frame.message;
  const before = conv.byId.get(message.id);
  applyMessages(channelId, [message], { live });
  if (frame.thread_root) {
    const { id, reply_count, last_reply_at } = frame.thread_root;
    patchMessage(channelId, id, { reply_count, last_reply_at });
  } else if (frame.type === "message.deleted" && message.thread_root_id && before && !before.deleted) {
    const root = conv.byId.get(message.thread_root_id);
    if (root) patchMessage(channelId, root.id, { reply_count: Math.max(0, root.reply_count - 1) });
  }
}

function onChannelPush(frame) {
  const channelId = frame.channel_id;
  const seq = frame.channel_seq;
  const conv = conversation(channelId);
  if (!store.channels.has(channelId)) refreshChannelsSoon();
  const live = seq > conv.lastSeq && !conv.seenWhileSyncing.has(seq);
  applyChannelPush(frame, live);
  if (conv.syncing) {
    conv.seenWhileSyncing.add(seq);
    return;
  }
  if (seq <= conv.lastSeq) return; // already held (a duplicate, or fetched by a catch-up)
  if (seq === conv.lastSeq + 1) {
    conv.lastSeq = seq;
    return;
  }
  // A hole in the sequence: a push was lost.
  if (conv.loaded || conv.threadsLoaded.size) {
    catchUp(channelId).catch(() => {});
  } else {
    conv.lastSeq = seq; // nothing cached to repair; the counts come from the channel list
  }
  refreshChannelsSoon();
}

function onChannelEvent(frame) {
  const channel = frame.channel;
  if (frame.type === "channel.created") {
    upsertChannel(channel);
    if (isDirect(channel) && !channel.member_ids) refreshChannelsSoon();
    return;
  }
  if (store.channels.has(channel.id)) {
    const { name, topic, description, is_archived: isArchived } = channel;
    updateChannel(channel.id, { name, topic, description, is_archived: isArchived });
  }
}

function onMemberEvent(frame) {
  if (frame.user_id !== store.me?.id) return;
  const channel = store.channels.get(frame.channel_id);
  if (frame.type === "member.left") {
    removeChannel(frame.channel_id);
  } else if (frame.type === "member.updated" && channel?.membership) {
    updateChannel(frame.channel_id, { membership: { ...channel.membership, role: frame.role } });
  } else if (frame.type === "member.joined" && !channel?.membership) {
    refreshChannelsSoon();
  }
}

/** My mute or notification setting changed (in this tab or another): follow the server. */
function onMembershipSettings(frame) {
  const channel = store.channels.get(frame.channel_id);
  if (!channel?.membership) return;
  const { is_muted: isMuted, notification_level: level } = frame;
  if (!settingsPushIsCurrent(frame.channel_id, isMuted, level)) return;
  if (channel.membership.is_muted === isMuted && channel.membership.notification_level === level) return;
  updateChannel(frame.channel_id, {
    membership: { ...channel.membership, is_muted: isMuted, notification_level: level },
  });
}

on("push", (frame) => {
  if (CHANNEL_PUSHES.has(frame.type)) onChannelPush(frame);
  else if (frame.type === "membership.updated") onMembershipSettings(frame);
  else if (frame.type === "channel.created" || frame.type === "channel.updated") onChannelEvent(frame);
  else if (frame.type.startsWith("member.")) onMemberEvent(frame);
});
