// Desktop notifications for direct messages and mentions while the tab is hidden. Permission
// is asked politely: a dismissible prompt in the sidebar, never on page load by itself. Each
// conversation's notification level is honoured: "all", "mentions", "nothing", or "default"
// (direct messages and mentions; nothing when the conversation is muted, except mentions).

import { on } from "./bus.js";
import { byId } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import { jumpToMessage } from "./permalink.js";
import { channelLabel, isDirect, store, userName } from "./store.js";

const DISMISSED_KEY = "enclave:notifications-prompt-dismissed";
const BODY_CHARS = 140;
const supported = "Notification" in window;

function mentionsMe(message) {
  return message.mentions_everyone || message.mentioned_user_ids.includes(store.me.id);
}

/** Whether this new message deserves a desktop notification under the conversation's level. */
export function shouldNotify(message, channel) {
  if (!channel?.membership || message.sender_id === store.me.id || message.deleted) return false;
  const level = channel.membership.notification_level ?? "default";
  if (level === "nothing") return false;
  if (level === "all") return true;
  if (mentionsMe(message)) return true;
  if (level === "mentions") return false;
  return isDirect(channel) && !channel.membership.is_muted;
}

function show(message, channel) {
  const sender = message.sender_name || userName(message.sender_id);
  const title = isDirect(channel)
    ? sender
    : interpolate(gettext("%(sender)s in #%(channel)s"), { sender, channel: channelLabel(channel) }, true);
  const text = message.body.length > BODY_CHARS ? `${message.body.slice(0, BODY_CHARS)}…` : message.body;
  const notification = new Notification(title, { body: text, tag: `enclave-${message.id}`, lang: document.documentElement.lang });
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
    jumpToMessage(message.id).catch(() => {});
  });
}

on("push", (frame) => {
  if (frame.type !== "message.new" || !supported || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" && document.hasFocus()) return;
  const channel = store.channels.get(frame.channel_id);
  if (shouldNotify(frame.message, channel)) show(frame.message, channel);
});

// --- the polite prompt ----------------------------------------------------------------------------

const prompt = byId("notify-prompt");

function dismissed() {
  try {
    return localStorage.getItem(DISMISSED_KEY) === "1";
  } catch {
    return false;
  }
}

function renderPrompt() {
  prompt.hidden = !supported || Notification.permission !== "default" || dismissed();
}

byId("notify-enable").addEventListener("click", async () => {
  try {
    await Notification.requestPermission();
  } finally {
    renderPrompt();
  }
});
byId("notify-dismiss").addEventListener("click", () => {
  try {
    localStorage.setItem(DISMISSED_KEY, "1");
  } catch {
    // Then it asks again next time; harmless.
  }
  renderPrompt();
});
renderPrompt();
