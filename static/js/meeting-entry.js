// How a meeting is found and entered (static/js/meeting.js is the meeting itself): the
// meetings going on in my channels (GET /api/v1/calls/live/, then the channels' `call.updated`
// and `call.ended` pushes), the header's button (start a video or audio meeting or a live
// classroom, or join the one going on), the conversation's "meeting going on" bar with its
// Join, a Join on the "meeting started" message while it goes on, and the sidebar's mark on
// conversations with a meeting. Offered only with the `calls`
// flag, when the server has a media server (#app[data-meetings]), to members of a channel or
// group DM that is not archived; the server checks the same.

import { api } from "./api.js";
import { on } from "./bus.js";
import { h } from "./dom.js";
import { isEnabled } from "./features.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { currentMeetingId, joinMeeting, meetingBusy } from "./meeting.js";
import { store } from "./store.js";

const FLAG = "calls";
const meetingsConfigured = document.getElementById("app")?.dataset.meetings === "true";
/** Meetings going on in my channels: channel id -> call payload. */
const live = new Map();

const startButton = h("button", {
  type: "button",
  class: "icon-button meeting-start",
  id: "meeting-start",
  hidden: true,
  text: "👥",
});
// Without a meeting going on, the header button offers what to start.
const startMenu = h(
  "div",
  { class: "meeting-start-menu", id: "meeting-start-menu", role: "menu", hidden: true },
  h("button", { type: "button", role: "menuitem", id: "meeting-start-video", text: gettext("Video meeting") }),
  h("button", { type: "button", role: "menuitem", id: "meeting-start-audio", text: gettext("Audio meeting") }),
  h("button", { type: "button", role: "menuitem", id: "meeting-start-classroom", text: gettext("Live classroom") }),
);
const STARTS = {
  "meeting-start-video": { media: "video", mode: "meeting" },
  "meeting-start-audio": { media: "audio", mode: "meeting" },
  "meeting-start-classroom": { media: "video", mode: "classroom" },
};
const banner = h(
  "div",
  { class: "meeting-banner", id: "meeting-banner", role: "status", hidden: true },
  h("span", { id: "meeting-banner-text" }),
  h("button", { type: "button", class: "button button--primary", id: "meeting-banner-join", text: gettext("Join") }),
);
const bannerText = banner.querySelector("#meeting-banner-text");
const bannerJoin = banner.querySelector("#meeting-banner-join");
document.body.append(startMenu);
document.querySelector(".conversation-tools")?.prepend(startButton);
document.getElementById("message-scroller")?.before(banner);

function activeChannel() {
  return store.channels.get(store.activeChannelId);
}

/** Whether I may start or join a meeting in `channel` (the server checks the same). */
function meetingsAllowed(channel) {
  return (
    isEnabled(FLAG) &&
    meetingsConfigured &&
    Boolean(channel?.membership) &&
    channel.kind !== "direct" &&
    !channel.is_archived
  );
}

function joinedCount(call) {
  return call.participants.filter((p) => p.state === "joined").length;
}

/**
 * A Join button on each "meeting started" message (found by the client_msg_id the call names)
 * whose meeting is still going on, and none on the others.
 */
function markStartedMessages() {
  const keys = new Map();
  for (const call of live.values()) if (call.started_message_key) keys.set(call.started_message_key, call);
  for (const button of document.querySelectorAll(".meeting-message-join")) {
    const article = button.closest("article[data-client-msg-id]");
    if (!keys.has(article?.dataset.clientMsgId)) button.remove();
  }
  for (const [key, call] of keys) {
    for (const article of document.querySelectorAll(`article[data-client-msg-id="${CSS.escape(key)}"]`)) {
      if (article.querySelector(".meeting-message-join")) continue;
      const join = h("button", {
        type: "button",
        class: "button button--primary meeting-message-join",
        text: gettext("Join"),
      });
      join.addEventListener("click", () => joinMeeting(call.channel_id, call.id));
      article.querySelector(".msg-body")?.append(join);
    }
  }
}

function renderEntry() {
  markSidebar();
  markStartedMessages();
  const channel = activeChannel();
  const allowed = meetingsAllowed(channel);
  const call = allowed ? live.get(channel.id) : undefined;
  startButton.hidden = !allowed;
  startButton.disabled = meetingBusy();
  const label = call ? gettext("Join the meeting") : gettext("Start a meeting");
  startButton.setAttribute("aria-label", label);
  startButton.title = label;
  banner.hidden = !call || currentMeetingId() === call.id;
  if (call) {
    const count = joinedCount(call);
    const text = call.mode === "classroom"
      ? ngettext("A live classroom is going on (%s person).", "A live classroom is going on (%s people).", count)
      : ngettext("A meeting is going on (%s person).", "A meeting is going on (%s people).", count);
    bannerText.textContent = interpolate(text, [count]);
    bannerJoin.disabled = meetingBusy();
  }
}

function closeStartMenu() {
  startMenu.hidden = true;
  startButton.setAttribute("aria-expanded", "false");
}

startButton.setAttribute("aria-haspopup", "menu");
startButton.addEventListener("click", () => {
  const call = live.get(store.activeChannelId);
  if (call) {
    joinMeeting(store.activeChannelId, call.id);
    return;
  }
  if (!startMenu.hidden) {
    closeStartMenu();
    return;
  }
  const box = startButton.getBoundingClientRect();
  startMenu.style.top = `${box.bottom + 4}px`;
  startMenu.style.right = `${Math.max(8, window.innerWidth - box.right)}px`;
  startMenu.hidden = false;
  startButton.setAttribute("aria-expanded", "true");
  startMenu.querySelector("button").focus();
});
startMenu.addEventListener("click", (event) => {
  const choice = STARTS[event.target.closest("button")?.id];
  if (!choice) return;
  closeStartMenu();
  joinMeeting(store.activeChannelId, null, choice);
});
startMenu.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closeStartMenu();
    startButton.focus();
  }
});
document.addEventListener("click", (event) => {
  if (!startMenu.hidden && !startMenu.contains(event.target) && !startButton.contains(event.target)) closeStartMenu();
});
bannerJoin.addEventListener("click", () => {
  const call = live.get(store.activeChannelId);
  if (call) joinMeeting(store.activeChannelId, call.id);
});

on("push", (frame) => {
  if (frame.type !== "call.updated" && frame.type !== "call.ended") return;
  const call = frame.call;
  if (call.kind !== "sfu") return;
  if (frame.type === "call.ended" || call.state === "ended") live.delete(call.channel_id);
  else live.set(call.channel_id, call);
  renderEntry();
});

// The sidebar marks conversations with a meeting going on. The sidebar redraws its lists
// (sidebar.js): the marks are put back after each redraw.
function markSidebar() {
  for (const link of document.querySelectorAll(".conversation-link[data-channel-id]")) {
    const call = live.get(Number(link.dataset.channelId));
    let mark = link.querySelector(".meeting-live-mark");
    if (!call && mark) mark.remove();
    if (!call) continue;
    const text = call.mode === "classroom" ? gettext("Live classroom going on") : gettext("Meeting going on");
    if (!mark) {
      mark = h("span", { class: "meeting-live-mark", role: "img", text: "👥" });
      link.append(mark);
    }
    mark.setAttribute("aria-label", text);
    mark.title = text;
  }
}

const sidebarObserver = new MutationObserver(() => markSidebar());
// Messages are rendered again as they change or scroll in: mark them after each render.
const messagesObserver = new MutationObserver(() => {
  if (live.size) markStartedMessages();
});
for (const list of document.querySelectorAll("#message-list, #thread-list")) {
  messagesObserver.observe(list, { childList: true, subtree: true });
}
for (const list of document.querySelectorAll("#channel-list, #dm-list")) sidebarObserver.observe(list, { childList: true });

async function loadLive() {
  if (!isEnabled(FLAG) || !meetingsConfigured) return;
  const calls = await api.get("calls/live/");
  live.clear();
  for (const call of calls) live.set(call.channel_id, call);
  renderEntry();
}

on("socket:open", () => loadLive().catch(() => {}));
// meeting.js: this tab joined or left a meeting.
on("meeting", renderEntry);
on("active", renderEntry);
on("channels", renderEntry);
on("users", renderEntry);
