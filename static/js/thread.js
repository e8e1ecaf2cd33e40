// The thread panel: opens on "reply" or on a message's "N replies", loads the thread, shows the
// root and its replies live, and has its own composer. Esc or the close button closes it and
// gives focus back to where it was opened from.

import { on } from "./bus.js";
import { Composer } from "./composer.js";
import { byId } from "./dom.js";
import { gettext } from "./i18n.js";
import { attachMessageActions } from "./message-actions.js";
import { MessageList } from "./message-list.js";
import { notifyError } from "./notices.js";
import * as outbox from "./outbox.js";
import { channelLabel, conversation, isDirect, store } from "./store.js";
import { loadThread } from "./sync.js";
import { typingText } from "./typing.js";

const panel = byId("thread-panel");
let current = null; // {channelId, rootId, opener}

const list = new MessageList({
  list: byId("thread-list"),
  scroller: byId("thread-scroller"),
  mode: "thread",
  source: () => {
    if (!current) return { channel: null, messages: [], pending: [], markerSeq: null };
    const conv = conversation(current.channelId);
    const root = conv.byId.get(current.rootId);
    return {
      channel: store.channels.get(current.channelId),
      messages: root ? [root, ...conv.replies(current.rootId)] : [],
      pending: outbox.pendingFor(current.channelId, current.rootId),
      markerSeq: null,
    };
  },
});
const composer = new Composer(byId("thread-composer"), { pane: "thread-list" });
attachMessageActions(byId("thread-list"));

function renderChrome() {
  if (!current) return;
  const channel = store.channels.get(current.channelId);
  const root = conversation(current.channelId).byId.get(current.rootId);
  byId("thread-subtitle").textContent = channel
    ? isDirect(channel)
      ? channelLabel(channel)
      : `#${channelLabel(channel)}`
    : "";
  const canPost = Boolean(channel?.membership) && !channel.is_archived && root && !root.deleted;
  composer.form.hidden = !canPost;
  byId("typing-thread").textContent = typingText(current.channelId, current.rootId);
}

async function openThread(channelId, rootId, opener = null) {
  const same = current?.channelId === channelId && current?.rootId === rootId;
  current = { channelId, rootId, opener };
  panel.hidden = false;
  document.body.classList.add("thread-open");
  if (!same) {
    list.reset();
    composer.setTarget({ channelId, threadRootId: rootId }, { placeholder: gettext("Reply…") });
  }
  renderChrome();
  const conv = conversation(channelId);
  if (conv.threadsLoaded.has(rootId)) await list.silently(Promise.resolve());
  else list.render();
  composer.focus();
  if (!conv.threadsLoaded.has(rootId)) {
    try {
      await list.silently(loadThread(channelId, rootId));
    } catch (error) {
      notifyError(error);
      closeThread();
      return;
    }
    if (current?.rootId !== rootId) return;
    renderChrome();
    list.render();
    list.scrollToEnd();
  }
}

function closeThread({ refocus = true } = {}) {
  if (!current) return;
  const { opener, rootId } = current;
  current = null;
  composer.saveDraft();
  composer.setTarget(null);
  panel.hidden = true;
  document.body.classList.remove("thread-open");
  list.reset();
  const fallback = byId("message-list").querySelector(`article[data-message-id="${rootId}"]`);
  const target = opener?.isConnected ? opener : fallback;
  if (refocus) target?.focus();
}

on("thread:open", ({ channelId, rootId, opener }) => {
  openThread(channelId, rootId, opener).catch(notifyError);
});
panel.addEventListener("click", (event) => {
  if (event.target.closest('[data-action="close-thread"]')) closeThread();
});
panel.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !event.defaultPrevented && !event.target.matches(".msg-edit-input")) {
    event.preventDefault();
    closeThread();
  }
});

on("messages", ({ channelId }) => {
  if (current?.channelId === channelId) {
    renderChrome();
    list.schedule();
  }
});
on("outbox", ({ channelId, threadRootId }) => {
  if (current?.channelId === channelId && current.rootId === threadRootId) list.schedule();
});
on("composer:sent", ({ threadRootId }) => {
  if (current && threadRootId === current.rootId) list.scrollToEnd();
});
on("ui:messages", () => current && list.schedule());
on("typing", renderChrome);
on("users", () => current && list.schedule());
on("channels", ({ gone = [] }) => {
  if (current && gone.includes(current.channelId)) closeThread({ refocus: false });
  else renderChrome();
});
on("active", ({ channelId }) => {
  if (current && current.channelId !== channelId) closeThread({ refocus: false });
});
