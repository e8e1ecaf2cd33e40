// Client state: who I am, the people I can see, my channels (with unread counts) and one message
// cache per channel. Writes go through the functions here, which announce changes on the bus:
// "channels" (list or counts changed), "messages" {channelId, messages, live}, "users", "active".

import { emit } from "./bus.js";
import { gettext, interpolate } from "./i18n.js";

export const store = {
  me: null,
  users: new Map(), // id -> user payload
  channels: new Map(), // id -> channel summary (channel payload + membership + counts)
  activeChannelId: null,
};

const DIRECT_KINDS = new Set(["direct", "group"]);

// --- people -----------------------------------------------------------------------------------

export function setUsers(users) {
  for (const user of users) store.users.set(user.id, user);
  emit("users", {});
}

export function userName(userId, fallback = "") {
  return store.users.get(userId)?.name || fallback || gettext("Unknown user");
}

// --- channels ---------------------------------------------------------------------------------

function defaultMembership(channel) {
  return { role: "member", is_muted: false, notification_level: "default", last_read_seq: channel.last_seq };
}

/** Add or refresh a channel summary; fields missing from `summary` keep their current values. */
export function upsertChannel(summary, { quiet = false } = {}) {
  const current = store.channels.get(summary.id);
  const merged = { unread_count: 0, mention_count: 0, ...current, ...summary };
  if (summary.member_ids == null && current?.member_ids) merged.member_ids = current.member_ids;
  if (summary.membership === undefined) merged.membership = current?.membership ?? defaultMembership(summary);
  store.channels.set(summary.id, merged);
  conversation(summary.id).noteChannelSeq(summary.last_seq);
  if (!quiet) emit("channels", { changed: [summary.id] });
  return merged;
}

/** Replace the list of my channels with a fresh fetch; returns ids that disappeared. */
export function replaceChannels(summaries) {
  const fresh = new Set(summaries.map((s) => s.id));
  const gone = [];
  for (const [id, channel] of store.channels) {
    // Previewed public channels (no membership) are not in the list; keep them.
    if (!fresh.has(id) && channel.membership) {
      store.channels.delete(id);
      gone.push(id);
    }
  }
  for (const summary of summaries) upsertChannel(summary, { quiet: true });
  emit("channels", { changed: [...fresh], gone });
  return gone;
}

export function updateChannel(channelId, changes) {
  const channel = store.channels.get(channelId);
  if (!channel) return null;
  Object.assign(channel, changes);
  emit("channels", { changed: [channelId] });
  return channel;
}

// My own settings for a channel (mute, notification level). A `membership.updated` push carries
// no version, and the push of an earlier change of this tab can arrive (over the socket) after
// the answer to a later one (over HTTP): applied, it would undo the later change until that
// change's own push came. So after a save this tab waits for the push that matches it and drops
// the ones before it (for at most 10 s: a push lost with a dropped socket must not block others).
const savedSettings = new Map(); // channel id -> {isMuted, level, until}

export function settingsSaved(channelId, membership) {
  savedSettings.set(channelId, {
    isMuted: membership.is_muted,
    level: membership.notification_level,
    until: Date.now() + 10000,
  });
}

/** Whether a settings push is current: not one sent before this tab's last save. */
export function settingsPushIsCurrent(channelId, isMuted, level) {
  const saved = savedSettings.get(channelId);
  if (!saved) return true;
  if (Date.now() > saved.until || (saved.isMuted === isMuted && saved.level === level)) {
    savedSettings.delete(channelId);
    return true;
  }
  return false;
}

export function removeChannel(channelId) {
  if (store.channels.delete(channelId)) emit("channels", { changed: [], gone: [channelId] });
}

export function isDirect(channel) {
  return DIRECT_KINDS.has(channel?.kind);
}

/** Members of a DM other than me (empty for a note-to-self). */
export function dmPartners(channel) {
  return (channel.member_ids ?? []).filter((id) => id !== store.me?.id);
}

/** What people see as the channel's name: "general", or the DM partners' names. */
export function channelLabel(channel) {
  if (!channel) return "";
  if (!isDirect(channel)) return channel.name;
  const partners = dmPartners(channel);
  if (!channel.member_ids) return gettext("Direct message");
  if (partners.length === 0) {
    return interpolate(gettext("%(name)s (you)"), { name: store.me?.name ?? "" }, true);
  }
  return partners
    .map((id) => userName(id))
    .sort((a, b) => a.localeCompare(b))
    .join(", ");
}

// --- messages ---------------------------------------------------------------------------------

/** The client's copy of one channel's messages, and where it stands in the channel's sequence. */
class Conversation {
  constructor(channelId) {
    this.channelId = channelId;
    this.byId = new Map(); // every message seen: roots and thread replies
    this.loaded = false; // the latest page of roots has been fetched
    this.loading = false;
    this.hasMoreBefore = true;
    this.oldestSeq = null; // seq of the oldest root of the loaded window
    // Highest channel_seq whose effects this copy holds (docs/architecture/realtime.md).
    this.lastSeq = 0;
    this.syncing = false;
    this.seenWhileSyncing = new Set();
    this.threadsLoaded = new Set();
  }

  /** Raise lastSeq from a channel summary when no message history is held yet. */
  noteChannelSeq(seq) {
    if (!this.loaded && Number.isInteger(seq) && seq > this.lastSeq) this.lastSeq = seq;
  }

  /** Roots shown in the channel pane, oldest first: the loaded window plus anything newer. */
  roots() {
    const floor = this.hasMoreBefore && this.oldestSeq !== null ? this.oldestSeq : -Infinity;
    return [...this.byId.values()]
      .filter((m) => m.thread_root_id === null && m.seq >= floor && (!m.deleted || m.reply_count > 0))
      .sort((a, b) => a.seq - b.seq);
  }

  replies(rootId) {
    return [...this.byId.values()]
      .filter((m) => m.thread_root_id === rootId && !m.deleted)
      .sort((a, b) => a.seq - b.seq);
  }

  /**
   * Insert or replace by id; an older version never overwrites a newer one. `fresh` marks a
   * payload just read from the server, whose thread counters are authoritative.
   */
  upsert(message, { fresh = false } = {}) {
    const current = this.byId.get(message.id);
    if (current && current.version > message.version) return null;
    const next = { ...message };
    if (!fresh && current && current.version === message.version && current.reply_count > message.reply_count) {
      // Same version but a push already raised reply_count (replies do not bump the root).
      next.reply_count = current.reply_count;
    }
    this.byId.set(message.id, next);
    return current ? "updated" : "inserted";
  }
}

const conversations = new Map();

export function conversation(channelId) {
  let conv = conversations.get(channelId);
  if (!conv) {
    conv = new Conversation(channelId);
    conversations.set(channelId, conv);
  }
  return conv;
}

export function loadedConversations() {
  return [...conversations.values()].filter((c) => c.loaded || c.threadsLoaded.size > 0);
}

/**
 * Apply message payloads to their channel's cache and announce the ones that changed.
 * `live` marks messages that just happened (pushes), as opposed to history fetches.
 */
export function applyMessages(channelId, messages, { live = false, fresh = false } = {}) {
  const conv = conversation(channelId);
  const changed = [];
  const inserted = [];
  for (const message of messages) {
    const result = conv.upsert(message, { fresh });
    if (result) changed.push(conv.byId.get(message.id));
    if (result === "inserted") inserted.push(message.id);
  }
  if (changed.length) emit("messages", { channelId, messages: changed, inserted, live });
  return changed;
}

/** Change fields of a stored message without a new version (thread counters, reactions). */
export function patchMessage(channelId, messageId, changes, { version } = {}) {
  const conv = conversation(channelId);
  const message = conv.byId.get(messageId);
  if (!message) return null;
  if (version !== undefined && version < message.version) return null;
  Object.assign(message, changes);
  if (version !== undefined) message.version = version;
  emit("messages", { channelId, messages: [message], inserted: [], live: true });
  return message;
}

export function setActiveChannel(channelId) {
  store.activeChannelId = channelId;
  emit("active", { channelId });
}
