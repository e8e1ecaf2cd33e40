// The open channel: switching channels (URL and browser history), the header (name, topic,
// mute), the message pane and its history status, the composer's target, the join bar for a
// public channel one is only previewing, and the "jump to the latest" button.

import * as actions from "./actions.js";
import { on } from "./bus.js";
import { Composer } from "./composer.js";
import { config } from "./config.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import { icon, setIcon } from "./icons.js";
import { attachMessageActions } from "./message-actions.js";
import { MessageList } from "./message-list.js";
import { notify, notifyError } from "./notices.js";
import * as outbox from "./outbox.js";
import { paintPresence } from "./presence.js";
import {
  channelLabel,
  conversation,
  dmPartners,
  isDirect,
  setActiveChannel,
  store,
} from "./store.js";
import { ensureChannel, loadLatest, loadOlder } from "./sync.js";
import { typingText } from "./typing.js";
import { markOpenChannelReadSoon, setListAtEnd } from "./unread.js";
import { statusBadge } from "./user-status.js";

const LAST_CHANNEL_KEY = "enclave:last-channel";
let markerSeq = null; // read position when the channel was opened: where "New messages" goes
let loadError = null;

const list = new MessageList({
  list: byId("message-list"),
  scroller: byId("message-scroller"),
  mode: "channel",
  source: () => {
    const channelId = store.activeChannelId;
    return {
      channel: store.channels.get(channelId),
      messages: channelId ? conversation(channelId).roots() : [],
      pending: channelId ? outbox.pendingFor(channelId, null) : [],
      markerSeq,
    };
  },
  onNearTop: () => {
    if (store.activeChannelId) list.silently(loadOlder(store.activeChannelId)).then(fillViewport, notifyError);
  },
});
const composer = new Composer(byId("composer"), { pane: "message-list" });
attachMessageActions(byId("message-list"));
setListAtEnd(() => list.isAtEnd());

// --- header -----------------------------------------------------------------------------------

function channelIcon(channel) {
  if (isDirect(channel)) {
    const partners = dmPartners(channel);
    if (partners.length === 1) {
      return h("span", { class: "presence-dot presence-dot--title", dataset: { presenceUser: partners[0] }, "aria-hidden": "true" });
    }
    return icon(partners.length ? "users" : "user");
  }
  return icon(channel.kind === "private" ? "lock" : "hash");
}

function renderHeader() {
  const channel = store.channels.get(store.activeChannelId);
  const title = byId("conversation-title");
  const topic = byId("conversation-topic");
  const mute = byId("mute-toggle");
  if (!channel) {
    title.replaceChildren(gettext("No conversation"));
    topic.textContent = "";
    mute.hidden = true;
    byId("details-toggle").hidden = true;
    return;
  }
  byId("details-toggle").hidden = false;
  const partners = isDirect(channel) ? dmPartners(channel) : [];
  // replaceChildren() would write a null as the text "null": keep only what there is.
  const badge = partners.length === 1 ? statusBadge(partners[0]) : null;
  title.replaceChildren(
    ...[channelIcon(channel), h("span", { text: channelLabel(channel) }), badge].filter(Boolean),
  );
  if (channel.topic) topic.textContent = channel.topic;
  else if (isDirect(channel) && dmPartners(channel).length > 1) {
    topic.textContent = interpolate(gettext("Group conversation with %(count)s people"), { count: channel.member_ids.length }, true);
  } else if (isDirect(channel)) topic.textContent = gettext("Direct message");
  else topic.textContent = "";
  topic.hidden = !topic.textContent;
  mute.hidden = !channel.membership;
  if (channel.membership) {
    const muted = channel.membership.is_muted;
    mute.setAttribute("aria-pressed", String(muted));
    const label = muted ? gettext("Unmute conversation") : gettext("Mute conversation");
    mute.setAttribute("aria-label", label);
    mute.title = label;
    setIcon(mute.querySelector("[data-icon]"), muted ? "bell-off" : "bell");
  }
  paintPresence(title);
}

function renderComposerArea() {
  const channel = store.channels.get(store.activeChannelId);
  const joinBar = byId("join-bar");
  const disabled = byId("composer-disabled");
  const member = Boolean(channel?.membership);
  joinBar.hidden = !channel || member || channel.is_archived;
  if (!joinBar.hidden) {
    byId("join-bar-text").textContent = interpolate(
      gettext("You are reading #%(name)s. Join the channel to post in it."),
      { name: channel.name },
      true,
    );
  }
  disabled.hidden = !channel?.is_archived;
  disabled.textContent = channel?.is_archived ? gettext("This channel is archived: it can be read but not changed.") : "";
  const enabled = member && !channel.is_archived;
  const target = channel ? { channelId: channel.id, threadRootId: null } : null;
  const sameTarget = composer.target?.channelId === target?.channelId;
  const placeholder = channel
    ? interpolate(gettext("Message %(name)s"), { name: isDirect(channel) ? channelLabel(channel) : `#${channelLabel(channel)}` }, true)
    : "";
  if (!sameTarget) composer.setTarget(target, { placeholder, enabled });
  else {
    composer.input.placeholder = placeholder;
    composer.input.disabled = !enabled;
    composer.form.querySelector("button[type=submit]").disabled = !enabled;
  }
  composer.form.hidden = !member || channel.is_archived;
  byId("composer-label").textContent = placeholder || gettext("Message");
}

function renderHistoryStatus() {
  const status = byId("history-status");
  const channelId = store.activeChannelId;
  const channel = store.channels.get(channelId);
  if (!channel) {
    status.replaceChildren(h("p", { class: "empty-state", text: gettext("Pick a channel or start a conversation from the sidebar.") }));
    return;
  }
  const conv = conversation(channelId);
  if (loadError) {
    const retry = h("button", { type: "button", class: "button", text: gettext("Try again") });
    retry.addEventListener("click", () => load(channelId));
    status.replaceChildren(h("p", { class: "history-error", text: loadError }), retry);
  } else if (conv.loading || conv.loadingOlder) {
    status.replaceChildren(h("p", { class: "muted", text: gettext("Loading messages…") }));
  } else if (conv.loaded && !conv.hasMoreBefore) {
    const intro = isDirect(channel)
      ? gettext("This is the beginning of your conversation.")
      : interpolate(gettext("This is the very beginning of #%(name)s."), { name: channel.name }, true);
    status.replaceChildren(
      h("div", { class: "channel-intro" }, h("p", { class: "channel-intro-title", text: channelLabel(channel) }), h("p", { class: "muted", text: intro })),
    );
  } else {
    status.replaceChildren();
  }
}

function renderTyping() {
  const channelId = store.activeChannelId;
  byId("typing-main").textContent = channelId ? typingText(channelId, null) : "";
}

// --- switching --------------------------------------------------------------------------------

/** Load older pages until the list can scroll (so scrolling up can load more). */
function fillViewport() {
  const channelId = store.activeChannelId;
  const conv = conversation(channelId);
  const scroller = byId("message-scroller");
  if (conv.loaded && conv.hasMoreBefore && scroller.scrollHeight <= scroller.clientHeight + 40) {
    list.silently(loadOlder(channelId)).then(fillViewport, notifyError);
  }
}

async function load(channelId) {
  loadError = null;
  renderHistoryStatus();
  try {
    await list.silently(loadLatest(channelId));
  } catch (error) {
    if (store.activeChannelId === channelId) {
      loadError = error.message;
      renderHistoryStatus();
    }
    return;
  }
  if (store.activeChannelId !== channelId) return;
  list.render();
  list.scrollToMarkerOrEnd();
  fillViewport();
  markOpenChannelReadSoon();
}

/**
 * Show a channel. `history`: "push" (a click), "replace" (start-up) or "none" (back/forward).
 */
export async function openChannel(channelId, { history = "push", focus = true } = {}) {
  let channel = store.channels.get(channelId);
  if (!channel) {
    try {
      channel = await ensureChannel(channelId);
    } catch (error) {
      notifyError(error);
      if (store.activeChannelId === null) openDefaultChannel({ history: "replace" });
      return;
    }
  }
  const switching = store.activeChannelId !== channelId;
  if (switching) {
    markerSeq = channel.membership && channel.unread_count > 0 ? channel.membership.last_read_seq : null;
    loadError = null;
    list.reset();
    setActiveChannel(channelId);
  }
  const url = config.channelUrl(channelId);
  if (history === "push" && location.pathname !== url) window.history.pushState({ channelId }, "", url);
  if (history === "replace") window.history.replaceState({ channelId }, "", url);
  try {
    localStorage.setItem(LAST_CHANNEL_KEY, String(channelId));
  } catch {
    // Optional.
  }
  renderAll();
  // On touch screens focusing the box would pop up the keyboard at every switch.
  if (focus && window.matchMedia("(pointer: fine)").matches) composer.focus();
  if (!conversation(channelId).loaded) await load(channelId);
  else {
    await list.silently(Promise.resolve());
    list.scrollToMarkerOrEnd();
    markOpenChannelReadSoon();
  }
}

/** The channel to show when none is asked for: the last one opened, #general, or the first. */
export function openDefaultChannel(options = {}) {
  const mine = [...store.channels.values()].filter((c) => c.membership);
  let lastId = null;
  try {
    lastId = Number(localStorage.getItem(LAST_CHANNEL_KEY));
  } catch {
    lastId = null;
  }
  const choice =
    mine.find((c) => c.id === lastId) ??
    mine.find((c) => c.name === "general") ??
    mine.filter((c) => !isDirect(c)).sort((a, b) => a.name.localeCompare(b.name))[0] ??
    mine[0];
  if (choice) return openChannel(choice.id, options);
  setActiveChannel(null);
  renderAll();
  return Promise.resolve();
}

const MAX_REVEAL_PAGES = 100;

/**
 * Scroll the open channel to one of its root messages, loading older pages until it is there,
 * and mark it for a moment. Resolves to false when the message is not in the history.
 */
export async function revealMessage(channelId, messageId) {
  const conv = conversation(channelId);
  for (let tries = 0; !conv.byId.has(messageId) && tries < MAX_REVEAL_PAGES; tries += 1) {
    if (conv.loadingOlder || conv.loading) await new Promise((resolve) => setTimeout(resolve, 50));
    else if (conv.loaded && conv.hasMoreBefore) await list.silently(loadOlder(channelId));
    else if (conv.loaded) break;
  }
  if (store.activeChannelId !== channelId) return false;
  list.render();
  const article = byId("message-list").querySelector(`article[data-message-id="${messageId}"]`);
  if (!article) return false;
  article.scrollIntoView({ block: "center" });
  article.classList.add("msg--linked");
  article.focus({ preventScroll: true });
  setTimeout(() => article.classList.remove("msg--linked"), 4000);
  return true;
}

function renderAll() {
  renderHeader();
  renderComposerArea();
  renderHistoryStatus();
  renderTyping();
  list.schedule();
}

// --- the "jump to latest" button ----------------------------------------------------------------

const jump = byId("jump-latest");
let unseenBelow = 0;

function renderJump() {
  if (list.isAtEnd()) unseenBelow = 0;
  jump.hidden = list.isAtEnd();
  jump.replaceChildren(
    icon("arrow-down"),
    h("span", { text: unseenBelow ? gettext("New messages") : gettext("Jump to the latest") }),
  );
}

jump.addEventListener("click", () => {
  list.scrollToEnd();
  renderJump();
  composer.focus();
});
byId("message-list").addEventListener("list-scroll", () => {
  renderJump();
  markOpenChannelReadSoon();
});

// --- wiring -------------------------------------------------------------------------------------

byId("mute-toggle").addEventListener("click", async () => {
  const channel = store.channels.get(store.activeChannelId);
  if (!channel?.membership) return;
  try {
    await actions.setMuted(channel.id, !channel.membership.is_muted);
  } catch (error) {
    notifyError(error);
  }
});

byId("join-button").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await actions.joinChannel(store.activeChannelId);
    renderAll();
    composer.focus();
  } catch (error) {
    notifyError(error);
  } finally {
    button.disabled = false;
  }
});

window.addEventListener("popstate", () => {
  const match = location.pathname.match(/\/c\/(\d+)\/$/);
  if (match) openChannel(Number(match[1]), { history: "none", focus: false });
  else openDefaultChannel({ history: "none", focus: false });
});

on("messages", ({ channelId, inserted, live }) => {
  if (channelId !== store.activeChannelId) return;
  if (live && inserted.length && !list.isAtEnd()) unseenBelow += inserted.length;
  list.schedule();
  requestAnimationFrame(renderJump);
});
on("outbox", ({ channelId, threadRootId }) => {
  if (channelId === store.activeChannelId && threadRootId === null) list.schedule();
});
on("composer:sent", ({ channelId, threadRootId }) => {
  if (channelId === store.activeChannelId && threadRootId === null) list.scrollToEnd();
});
on("ui:messages", () => list.schedule());
on("users", () => {
  renderHeader();
  list.schedule();
});
on("presence", () => paintPresence(byId("conversation-title")));
on("history", ({ channelId }) => {
  if (channelId === store.activeChannelId) renderHistoryStatus();
});
on("typing", renderTyping);
on("channels", ({ changed = [], gone = [] }) => {
  const active = store.activeChannelId;
  if (active === null) return;
  if (gone.includes(active)) {
    notify(gettext("You are no longer a member of that conversation."), { kind: "info" });
    openDefaultChannel({ history: "replace" });
    return;
  }
  if (changed.includes(active)) {
    renderHeader();
    renderComposerArea();
    list.schedule();
  }
});
document.addEventListener("visibilitychange", () => {
  // Day labels ("Today") may have changed while the tab was in the background.
  if (document.visibilityState === "visible") list.schedule();
});
