// Sending messages. Each message gets a client_msg_id (UUID) and shows at once as pending;
// it goes over the socket when it is up, else over REST. The server acks only after commit and
// treats a resend with the same client_msg_id as the same message, so anything not acked is
// simply sent again (after a reconnect, or by the user's "Retry") with the SAME id.
// Announces "outbox" {channelId, threadRootId} whenever a pending entry changes.

import { api } from "./api.js";
import { emit, on } from "./bus.js";
import { uuid } from "./dom.js";
import { notify } from "./notices.js";
import * as socket from "./socket.js";
import { applyMessages, conversation, store } from "./store.js";
import { catchUp } from "./sync.js";

const MAX_AUTOMATIC_ATTEMPTS = 4;
const ACK_WITHOUT_PUSH_GRACE_MS = 2_000;

// client_msg_id -> {id, channelId, threadRootId, body, attachmentIds, state, error, attempts, createdAt, messageId}
// state: "sending" (in flight), "queued" (waiting for a connection), "sent" (acked, push not
// seen yet), "failed" (refused by the server, or gave up; the user may retry).
const entries = new Map();

function announce(entry) {
  emit("outbox", { channelId: entry.channelId, threadRootId: entry.threadRootId });
}

/** Pending entries of one conversation pane (a channel's roots, or one thread), oldest first. */
export function pendingFor(channelId, threadRootId = null) {
  return [...entries.values()]
    .filter((e) => e.channelId === channelId && e.threadRootId === threadRootId)
    .sort((a, b) => a.createdAt - b.createdAt);
}

export function send({ channelId, threadRootId = null, body, attachmentIds = [] }) {
  const entry = {
    id: uuid(),
    channelId,
    threadRootId,
    body,
    attachmentIds,
    state: "queued",
    error: null,
    attempts: 0,
    createdAt: Date.now(),
    messageId: null,
  };
  entries.set(entry.id, entry);
  transmit(entry);
  return entry;
}

export function retry(clientMsgId) {
  const entry = entries.get(clientMsgId);
  if (!entry || entry.state === "sending") return;
  entry.attempts = 0;
  transmit(entry);
}

export function discard(clientMsgId) {
  const entry = entries.get(clientMsgId);
  if (!entry) return;
  entries.delete(clientMsgId);
  announce(entry);
}

function transmit(entry) {
  entry.state = "sending";
  entry.error = null;
  announce(entry);
  const attempt = socket.isReady() ? viaSocket(entry) : viaRest(entry);
  attempt.then(
    (messageId) => acknowledged(entry, messageId),
    (error) => refused(entry, error),
  );
}

async function viaSocket(entry) {
  const ack = await socket.request({
    type: "message.send",
    channel_id: entry.channelId,
    body: entry.body,
    client_msg_id: entry.id,
    thread_root_id: entry.threadRootId,
    attachment_ids: entry.attachmentIds,
  });
  if (ack.command) return commandDone(ack.ephemeral, ack.message_id);
  return ack.message_id;
}

// A slash command ran instead of a post: its private answer is a notice; a message it posted
// (/me, /poll) is acknowledged like any other, one that posted nothing just leaves the outbox.
function commandDone(ephemeral, messageId) {
  if (ephemeral) notify(ephemeral, { kind: "info" });
  return messageId ?? null;
}

async function viaRest(entry) {
  const result = await api.post(`channels/${entry.channelId}/messages/`, {
    body: entry.body,
    client_msg_id: entry.id,
    thread_root_id: entry.threadRootId,
    attachment_ids: entry.attachmentIds,
  });
  if (result.command) {
    if (result.message) applyMessages(entry.channelId, [result.message]);
    return commandDone(result.ephemeral, result.message?.id);
  }
  applyMessages(entry.channelId, [result.message]);
  return result.message.id;
}

function acknowledged(entry, messageId) {
  if (!entries.has(entry.id)) return;
  entry.messageId = messageId;
  if (messageId === null || conversation(entry.channelId).byId.has(messageId)) {
    entries.delete(entry.id);
    announce(entry);
    return;
  }
  // Stored, but its push has not arrived (pushes are at-most-once): show it as sent, and fetch
  // what we missed if it still has not come shortly.
  entry.state = "sent";
  announce(entry);
  setTimeout(() => {
    if (entries.has(entry.id)) catchUp(entry.channelId).catch(() => {});
  }, ACK_WITHOUT_PUSH_GRACE_MS);
}

const CONNECTION_ERRORS = new Set(["disconnected", "network_error"]);

function refused(entry, error) {
  if (!entries.has(entry.id)) return;
  if (CONNECTION_ERRORS.has(error?.code)) {
    // The server may or may not have stored it (the ack can be lost with the connection); a
    // resend with the same id is safe either way. Wait for the connection, however long.
    entry.state = "queued";
    announce(entry);
    return;
  }
  entry.attempts += 1;
  const retryable = error?.retryable ?? false;
  if (retryable && entry.attempts < MAX_AUTOMATIC_ATTEMPTS) {
    // Timeout, rate limit or a server hiccup: send again with the same id shortly (over the
    // socket when it is back, else over REST).
    entry.state = "queued";
    announce(entry);
    if (socket.isReady() || error?.code === "rate_limited") {
      setTimeout(() => entries.has(entry.id) && entry.state === "queued" && transmit(entry), 1_500);
    }
    return;
  }
  entry.state = "failed";
  entry.error = error?.message ?? "";
  announce(entry);
}

// The real message arrived (push, catch-up or REST): the pending copy is done.
on("messages", ({ channelId, messages }) => {
  const myId = store.me?.id;
  for (const message of messages) {
    if (message.sender_id !== myId || !message.client_msg_id) continue;
    const entry = entries.get(message.client_msg_id);
    if (entry && entry.channelId === channelId) {
      entries.delete(entry.id);
      announce(entry);
    }
  }
});

// Back online: resend everything that was not acknowledged, with the same ids.
on("socket:open", () => {
  for (const entry of entries.values()) {
    if (entry.state === "queued") transmit(entry);
  }
});

// The socket may stay down while HTTP works (a proxy that blocks WebSockets): try REST now and then.
setInterval(() => {
  if (socket.isReady()) return;
  for (const entry of entries.values()) if (entry.state === "queued") transmit(entry);
}, 10_000);

// Closing the tab with unsent messages loses them: ask first.
window.addEventListener("beforeunload", (event) => {
  if ([...entries.values()].some((e) => e.state !== "sent")) event.preventDefault();
});
