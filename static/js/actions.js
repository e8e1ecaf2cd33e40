// Message and channel operations other than sending: edit, delete, reactions, read marks,
// joining, muting. Each goes over the socket when it is up (its push updates every tab), else
// over the REST twin (whose response is applied here).

import { api } from "./api.js";
import * as socket from "./socket.js";
import { applyMessages, settingsSaved, store, updateChannel, upsertChannel } from "./store.js";

/** Run `frame` over the socket; fall back to `rest()` when the socket is down or drops. */
async function perform(frame, rest) {
  if (socket.isReady()) {
    try {
      return await socket.request(frame);
    } catch (error) {
      if (error.code !== "disconnected") throw error;
    }
  }
  return rest();
}

function applyPayload(message) {
  applyMessages(message.channel_id, [message]);
  return message;
}

export function editMessage(messageId, body) {
  return perform({ type: "message.edit", message_id: messageId, body }, () =>
    api.patch(`messages/${messageId}/`, { body }).then(applyPayload),
  );
}

export function deleteMessage(messageId) {
  return perform({ type: "message.delete", message_id: messageId }, async () => {
    await api.delete(`messages/${messageId}/`);
    return api.get(`messages/${messageId}/`).then(applyPayload);
  });
}

export function toggleReaction(message, emoji) {
  const mine = message.reactions.some((r) => r.emoji === emoji && r.user_ids.includes(store.me.id));
  if (mine) {
    return perform({ type: "reaction.remove", message_id: message.id, emoji }, () =>
      api.delete(`messages/${message.id}/reactions/`, { emoji }).then(applyPayload),
    );
  }
  return perform({ type: "reaction.add", message_id: message.id, emoji }, () =>
    api.post(`messages/${message.id}/reactions/`, { emoji }).then(applyPayload),
  );
}

export function markRead(channelId, seq) {
  return perform({ type: "read.mark", channel_id: channelId, seq }, () =>
    api.post(`channels/${channelId}/read/`, { seq }),
  );
}

export async function joinChannel(channelId) {
  await api.post(`channels/${channelId}/join/`);
  const summary = await api.get(`channels/${channelId}/`);
  return upsertChannel(summary);
}

/** Save my own settings for a channel (`is_muted`, `notification_level`). */
export async function saveMembershipSettings(channelId, changes) {
  const membership = await api.patch(`channels/${channelId}/membership/`, changes);
  settingsSaved(channelId, membership);
  const current = store.channels.get(channelId)?.membership;
  return updateChannel(channelId, { membership: { ...current, ...membership } });
}

export function setMuted(channelId, isMuted) {
  return saveMembershipSettings(channelId, { is_muted: isMuted });
}

export async function createChannel({ name, topic, isPrivate }) {
  const channel = await api.post("channels/", { kind: isPrivate ? "private" : "public", name, topic });
  return upsertChannel({
    ...channel,
    membership: { role: "admin", is_muted: false, notification_level: "default", last_read_seq: channel.last_seq },
  });
}

export async function openDirect(userIds) {
  const channel = await api.post("direct/", { user_ids: userIds });
  const known = store.channels.get(channel.id);
  return upsertChannel(known ? { ...channel, membership: known.membership } : channel);
}
