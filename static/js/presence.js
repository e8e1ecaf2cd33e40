// Presence: who is online, away or offline. Reports this tab's state (away after a few idle
// minutes or while hidden) and refreshes it before the server's time-to-live runs out; paints
// every [data-presence-user] dot. The server does not broadcast presence: this tab watches the
// people it shows (`presence.subscribe` with the ids of the dots on screen) and follows their
// "presence" pushes.

import { api } from "./api.js";
import { emit, on } from "./bus.js";
import { gettext } from "./i18n.js";
import * as socket from "./socket.js";
import { store } from "./store.js";

const IDLE_AFTER_MS = 5 * 60_000;
const REPORT_EVERY_MS = 45_000; // below the server's presence TTL (90 s by default)

const statuses = new Map(); // user id -> "online" | "away" | "offline"
let lastActivity = Date.now();
let reported = null;

export function statusOf(userId) {
  return statuses.get(userId) ?? "offline";
}

export function statusLabel(status) {
  if (status === "online") return gettext("Online");
  if (status === "away") return gettext("Away");
  return gettext("Offline");
}

function myState() {
  const idle = Date.now() - lastActivity > IDLE_AFTER_MS;
  return document.visibilityState === "visible" && !idle ? "online" : "away";
}

function report(force = false) {
  const state = myState();
  if (!force && state === reported) return;
  if (socket.send({ type: "presence.set", status: state })) reported = state;
}

/**
 * Paint the presence dots inside `root` (elements with data-presence-user="<id>") and the status
 * words beside them (data-presence-label="<id>"), so the two never disagree.
 */
export function paintPresence(root = document) {
  for (const dot of root.querySelectorAll("[data-presence-user]")) {
    const status = statusOf(Number(dot.dataset.presenceUser));
    dot.dataset.status = status;
    dot.title = statusLabel(status);
  }
  for (const label of root.querySelectorAll("[data-presence-label]")) {
    label.textContent = statusLabel(statusOf(Number(label.dataset.presenceLabel)));
  }
}

export async function loadPresence(userIds) {
  const ids = [...new Set(userIds)].slice(0, 500);
  if (!ids.length) return;
  const result = await api.get("presence/", { user_ids: ids.join(",") });
  for (const [id, status] of Object.entries(result)) statuses.set(Number(id), status);
  emit("presence", {});
}

function noteActivity() {
  const wasAway = myState() === "away";
  lastActivity = Date.now();
  if (wasAway) report();
}

on("push", (frame) => {
  if (frame.type !== "presence") return;
  statuses.set(frame.user_id, frame.status);
  emit("presence", { userId: frame.user_id });
});

on("socket:open", () => {
  reported = null;
  if (store.me) {
    statuses.set(store.me.id, myState());
    emit("presence", { userId: store.me.id });
  }
  report(true);
  if (store.users.size) loadPresence([...store.users.keys()]).catch(() => {});
});

// My own dot tells me whether I am connected.
on("socket:closed", () => {
  if (!store.me) return;
  statuses.set(store.me.id, "offline");
  emit("presence", { userId: store.me.id });
});

on("presence", () => paintPresence());

// --- watching: subscribe to the users whose dots are on screen --------------------------------

const WATCH_MAX = 1000;
let watched = "";
let watchTimer = null;

function shownUserIds() {
  const ids = new Set();
  for (const dot of document.querySelectorAll("[data-presence-user]")) {
    const id = Number(dot.dataset.presenceUser);
    if (Number.isInteger(id) && id > 0) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b).slice(0, WATCH_MAX);
}

async function syncWatch(force = false) {
  watchTimer = null;
  const ids = shownUserIds();
  const key = ids.join(",");
  if ((!force && key === watched) || !socket.isReady()) return;
  watched = key;
  try {
    const ack = await socket.request({ type: "presence.subscribe", user_ids: ids });
    for (const [id, status] of Object.entries(ack.statuses ?? {})) statuses.set(Number(id), status);
    paintPresence();
  } catch {
    watched = ""; // try again with the next change or reconnect
  }
}

function scheduleWatch() {
  if (watchTimer === null) watchTimer = setTimeout(syncWatch, 250);
}

// Dots appear and disappear as the sidebar, member lists and cards render.
new MutationObserver(scheduleWatch).observe(document.body, {
  childList: true,
  subtree: true,
  attributes: true,
  attributeFilter: ["data-presence-user"],
});
on("socket:open", () => syncWatch(true));

for (const type of ["pointerdown", "keydown", "wheel", "touchstart"]) {
  window.addEventListener(type, noteActivity, { passive: true });
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") lastActivity = Date.now();
  report();
});
setInterval(() => report(true), REPORT_EVERY_MS);
setInterval(() => report(), 30_000);
