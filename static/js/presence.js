// Presence: who is online, away or offline. Reports this tab's state (away after a few idle
// minutes or while hidden) and refreshes it before the server's time-to-live runs out; follows
// "presence" pushes; paints every [data-presence-user] dot.

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

/** Paint the presence dots inside `root` (elements with data-presence-user="<id>"). */
export function paintPresence(root = document) {
  for (const dot of root.querySelectorAll("[data-presence-user]")) {
    const status = statusOf(Number(dot.dataset.presenceUser));
    dot.dataset.status = status;
    dot.title = statusLabel(status);
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

for (const type of ["pointerdown", "keydown", "wheel", "touchstart"]) {
  window.addEventListener(type, noteActivity, { passive: true });
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") lastActivity = Date.now();
  report();
});
setInterval(() => report(true), REPORT_EVERY_MS);
setInterval(() => report(), 30_000);
