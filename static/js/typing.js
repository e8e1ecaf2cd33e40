// Typing indicators: tells the channel (or thread) that I am typing, at most every few seconds,
// and shows "Alice is typing…" under the composer of the conversation others are typing in.

import { emit, on } from "./bus.js";
import { gettext, interpolate } from "./i18n.js";
import * as socket from "./socket.js";
import { store, userName } from "./store.js";

const SEND_EVERY_MS = 3_000;
const SHOW_FOR_MS = 6_000;

const typists = new Map(); // "channelId:threadRootId" -> Map(userId -> timer)
let lastSent = { key: "", at: 0 };

const keyOf = (channelId, threadRootId) => `${channelId}:${threadRootId ?? ""}`;

/** Called on composer input: throttled "typing" frame (ephemeral; never queued or retried). */
export function noteTyping(channelId, threadRootId = null) {
  const key = keyOf(channelId, threadRootId);
  const now = Date.now();
  if (lastSent.key === key && now - lastSent.at < SEND_EVERY_MS) return;
  if (socket.send({ type: "typing", channel_id: channelId, thread_root_id: threadRootId })) {
    lastSent = { key, at: now };
  }
}

/** Sending a message ends "typing": the next keystroke announces again. */
export function resetTyping() {
  lastSent = { key: "", at: 0 };
}

function stop(key, userId) {
  const users = typists.get(key);
  if (!users?.has(userId)) return;
  clearTimeout(users.get(userId));
  users.delete(userId);
  emit("typing", { key });
}

/** The sentence to show for a conversation, or "". */
export function typingText(channelId, threadRootId = null) {
  const users = [...(typists.get(keyOf(channelId, threadRootId))?.keys() ?? [])];
  const names = users.map((id) => userName(id));
  if (names.length === 0) return "";
  if (names.length === 1) return interpolate(gettext("%(name)s is typing…"), { name: names[0] }, true);
  if (names.length === 2) {
    return interpolate(gettext("%(first)s and %(second)s are typing…"), { first: names[0], second: names[1] }, true);
  }
  return gettext("Several people are typing…");
}

on("push", (frame) => {
  if (frame.type === "typing") {
    if (frame.user_id === store.me?.id) return;
    const key = keyOf(frame.channel_id, frame.thread_root_id);
    if (!typists.has(key)) typists.set(key, new Map());
    const users = typists.get(key);
    clearTimeout(users.get(frame.user_id));
    users.set(frame.user_id, setTimeout(() => stop(key, frame.user_id), SHOW_FOR_MS));
    emit("typing", { key });
  } else if (frame.type === "message.new") {
    const { channel_id: channelId, thread_root_id: rootId, sender_id: senderId } = frame.message;
    stop(keyOf(channelId, rootId), senderId);
  }
});

on("socket:closed", () => {
  for (const [key, users] of typists) {
    for (const timer of users.values()) clearTimeout(timer);
    typists.delete(key);
    emit("typing", { key });
  }
});
