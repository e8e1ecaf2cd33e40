// Permalinks: /c/<channel>/?m=<message> opens the channel scrolled to the message (its thread
// when it is a reply), "Copy link" on a message puts that address on the clipboard, and such
// links inside messages open in place instead of reloading the page.

import { api } from "./api.js";
import { emit } from "./bus.js";
import { config } from "./config.js";
import { openChannel, revealMessage } from "./conversation.js";
import { h } from "./dom.js";
import { gettext } from "./i18n.js";
import { notify, notifyError } from "./notices.js";

export function messageUrl(message) {
  return `${location.origin}${config.channelUrl(message.channel_id)}?m=${message.id}`;
}

/** The message id a page address points at, or null. */
export function linkedMessageId(url = location.href) {
  const id = Number(new URL(url, location.origin).searchParams.get("m"));
  return Number.isInteger(id) && id > 0 ? id : null;
}

/** Open the message's channel and show it there (and its thread when it is a reply). */
export async function jumpToMessage(messageId, { history = "push" } = {}) {
  const message = await api.get(`messages/${messageId}/`);
  await openChannel(message.channel_id, { history });
  const rootId = message.thread_root_id ?? message.id;
  const shown = await revealMessage(message.channel_id, rootId);
  if (message.thread_root_id) emit("thread:open", { channelId: message.channel_id, rootId, opener: null });
  if (!shown) notify(gettext("That message is no longer available."), { kind: "info" });
}

function copyWithoutClipboardApi(text) {
  // navigator.clipboard needs a secure context; plain-HTTP intranet servers fall back to this.
  const field = h("textarea", { class: "visually-hidden", readonly: true });
  field.value = text;
  document.body.append(field);
  field.select();
  const copied = document.execCommand("copy");
  field.remove();
  return copied;
}

export async function copyLink(message) {
  const url = messageUrl(message);
  let copied = false;
  try {
    await navigator.clipboard.writeText(url);
    copied = true;
  } catch {
    copied = copyWithoutClipboardApi(url);
  }
  if (copied) notify(gettext("Link copied."), { kind: "info", timeout: 3000 });
  else window.prompt(gettext("Copy this link:"), url);
}

// A permalink inside a message body: open it in place.
document.addEventListener("click", (event) => {
  const link = event.target.closest(".msg-body a[href]");
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const url = new URL(link.href, location.origin);
  if (url.origin !== location.origin || !/^\/c\/\d+\/$/.test(url.pathname)) return;
  event.preventDefault();
  const messageId = linkedMessageId(url.href);
  if (messageId) jumpToMessage(messageId).catch(notifyError);
  else openChannel(Number(url.pathname.split("/")[2])).catch(notifyError);
});
