// Desktop notifications for direct messages and mentions while the tab is hidden. Permission
// is asked politely: a dismissible prompt in the sidebar, never on page load by itself. Each
// conversation's notification level is honoured: "all", "mentions", "nothing", or "default"
// (direct messages and mentions; nothing when the conversation is muted, except mentions).
// The user's own settings (stored on the server, the same on every device) turn desktop
// notifications and their sound off, and while notifications are paused (do not disturb: by
// hand or on the schedule, as the server says in `store.me.dnd`) nothing pops up or plays.
// Messages still arrive and count as unread either way.

import { on } from "./bus.js";
import { byId } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import { jumpToMessage } from "./permalink.js";
import { channelLabel, isDirect, store, userName } from "./store.js";
import { notificationsPaused } from "./user-status.js";

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

const BLOCKS = "p, li, pre, blockquote, h1, h2, h3, h4, h5, h6, tr";

/**
 * What the message says, as its reader sees it: the server's rendered HTML as text (no Markdown
 * marks; mentions carry display names, "@张伟" rather than "@zhangwei"), one line per block.
 * DOMParser's document is inert: nothing in it runs or loads.
 */
export function notificationText(message) {
  const doc = new DOMParser().parseFromString(message.html ?? "", "text/html");
  for (const br of doc.body.querySelectorAll("br")) br.replaceWith("\n");
  for (const block of doc.body.querySelectorAll(BLOCKS)) block.append("\n");
  const text = doc.body.textContent
    .split("\n")
    .map((line) => line.replace(/\s+/g, " ").trim())
    .filter(Boolean)
    .join("\n");
  return text || message.body;
}

/** One line of what a message says, for a list (the inbox, pins, saved items): as its reader
 * sees it (names in mentions, no Markdown marks), at most `chars` characters. */
export function messageExcerpt(message, chars = 200) {
  const text = notificationText(message).replace(/\s+/g, " ").trim();
  return text.length > chars ? `${text.slice(0, chars)}…` : text || gettext("(attachment)");
}

function show(message, channel) {
  const sender = message.sender_name || userName(message.sender_id);
  const title = isDirect(channel)
    ? sender
    : interpolate(gettext("%(sender)s in #%(channel)s"), { sender, channel: channelLabel(channel) }, true);
  const rendered = notificationText(message);
  const text = rendered.length > BODY_CHARS ? `${rendered.slice(0, BODY_CHARS)}…` : rendered;
  const notification = new Notification(title, { body: text, tag: `enclave-${message.id}`, lang: document.documentElement.lang });
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
    jumpToMessage(message.id).catch(() => {});
  });
}

/** The user's settings for desktop notifications and their sound, on by default. */
function mySetting(name) {
  return store.me?.notification_settings?.[name] ?? true;
}

/** Whether do-not-disturb holds now: no notification, no sound. */
export function notificationsHeld() {
  return Boolean(store.me) && notificationsPaused(store.me.id);
}

let audio = null;

/** A short, quiet chime (generated, so no sound file to fetch). */
function chime() {
  try {
    audio ??= new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.25);
  } catch {
    // No audio here (or not allowed yet): the notification alone will do.
  }
}

on("push", (frame) => {
  if (frame.type !== "message.new" || notificationsHeld()) return;
  if (document.visibilityState === "visible" && document.hasFocus()) return;
  const channel = store.channels.get(frame.channel_id);
  if (!shouldNotify(frame.message, channel)) return;
  if (mySetting("sound")) chime();
  if (supported && Notification.permission === "granted" && mySetting("desktop")) show(frame.message, channel);
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
