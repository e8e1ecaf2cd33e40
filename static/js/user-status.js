// Custom status and do-not-disturb, as shown: the status emoji beside people's names (member
// lists, the sidebar's direct messages, the user card, a DM's header, the mention autocomplete),
// and "X has notifications paused" above the composer of a DM with them. Users' payloads carry
// `status` ({emoji, text, expires_at}) and `dnd` ({active, until}); "user.status" pushes (to
// whoever watches the user's presence, and to one's own tabs) replace them. An expired status
// or pause is hidden at render time, and the badges are repainted every half minute, so they
// vanish on time without a push.

import { api } from "./api.js";
import { emit, on } from "./bus.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import { dmPartners, isDirect, store } from "./store.js";

const REPAINT_EVERY_MS = 30_000;

const future = (iso) => !iso || Date.parse(iso) > Date.now();

/** The user's custom status if it holds now, else null. */
export function currentStatus(userId) {
  const status = store.users.get(userId)?.status ?? (store.me?.id === userId ? store.me.status : null);
  return status && future(status.expires_at) ? status : null;
}

/** Whether the user's notifications are paused now (by hand or by their schedule). */
export function notificationsPaused(userId) {
  const user = userId === store.me?.id ? store.me : store.users.get(userId);
  return Boolean(user?.dnd?.active && future(user.dnd.until));
}

/** "📅 In a meeting": the status in words, for titles and the autocomplete. */
export function statusText(userId) {
  const status = currentStatus(userId);
  return status ? [status.emoji, status.text].filter(Boolean).join(" ") : "";
}

function paintBadge(badge) {
  const userId = Number(badge.dataset.statusUser);
  const status = currentStatus(userId);
  badge.hidden = !status;
  badge.textContent = status ? status.emoji || "💬" : "";
  badge.title = status ? statusText(userId) : "";
  badge.setAttribute("aria-label", status ? interpolate(gettext("Status: %(status)s"), { status: statusText(userId) }, true) : "");
}

/** The status emoji of a user, kept up to date (its text is the tooltip). */
export function statusBadge(userId) {
  const badge = h("span", { class: "user-status-badge", role: "img", dataset: { statusUser: userId } });
  paintBadge(badge);
  return badge;
}

/** The status in full (emoji and text), for the user card. */
export function statusLine(userId) {
  const line = h("p", { class: "user-status-line", dataset: { statusLine: userId } });
  paintLine(line);
  return line;
}

function paintLine(line) {
  const userId = Number(line.dataset.statusLine);
  const text = statusText(userId);
  const paused = notificationsPaused(userId);
  line.textContent = [text, paused ? gettext("Notifications paused") : ""].filter(Boolean).join(" · ");
  line.hidden = !line.textContent;
}

/** The DM note: "X has notifications paused", for a direct message with one other person. */
export function renderDndNote() {
  const note = byId("dnd-note");
  if (!note) return;
  const channel = store.channels.get(store.activeChannelId);
  const partners = channel && isDirect(channel) ? dmPartners(channel) : [];
  const paused = partners.filter((id) => notificationsPaused(id));
  if (!paused.length) {
    note.hidden = true;
    note.textContent = "";
    return;
  }
  const names = paused.map((id) => store.users.get(id)?.name ?? "").filter(Boolean);
  note.textContent =
    names.length === 1
      ? interpolate(gettext("%(name)s has notifications paused and may not answer right away."), { name: names[0] }, true)
      : interpolate(gettext("%(names)s have notifications paused."), { names: names.join(", ") }, true);
  note.hidden = false;
}

/** Repaint every badge, status line and the DM note (after a push, or as time passes). */
export function paintStatuses(root = document) {
  for (const badge of root.querySelectorAll("[data-status-user]")) paintBadge(badge);
  for (const line of root.querySelectorAll("[data-status-line]")) paintLine(line);
  renderDndNote();
  renderMyStatus();
}

/** My status in the account menu. */
function renderMyStatus() {
  const mine = byId("my-status");
  if (!mine || !store.me) return;
  const text = statusText(store.me.id);
  const paused = notificationsPaused(store.me.id);
  mine.textContent = [text, paused ? gettext("Notifications paused") : ""].filter(Boolean).join(" · ") || gettext("No status");
  byId("my-status-badge")?.replaceChildren(paused ? "🔕" : currentStatus(store.me.id)?.emoji ?? "");
}

/** Apply a user's new status and pause (a push, or one's own change answered by REST). */
export function applyUserStatus(userId, { status, dnd }) {
  const user = store.users.get(userId);
  if (user) store.users.set(userId, { ...user, status, dnd });
  if (store.me?.id === userId) store.me = { ...store.me, status, dnd };
  paintStatuses();
  emit("user-status", { userId });
}

on("push", (frame) => {
  if (frame.type === "user.status") applyUserStatus(frame.user_id, frame);
  else if (frame.type === "notification_settings.updated" && store.me) {
    store.me = { ...store.me, notification_settings: frame.settings };
    emit("notification-settings", {});
  }
});

for (const event of ["users", "channels", "active"]) on(event, () => renderDndNote());

// A scheduled pause begins without a push: opening a DM asks for the partner's state, and so
// does an open DM every few minutes.
const PARTNER_REFRESH_MS = 5 * 60_000;

function refreshDmPartner() {
  const channel = store.channels.get(store.activeChannelId);
  const partners = channel && isDirect(channel) ? dmPartners(channel) : [];
  if (partners.length !== 1 || document.visibilityState !== "visible") return;
  api
    .get(`users/${partners[0]}/`)
    .then((user) => applyUserStatus(user.id, user))
    .catch(() => {}); // the note keeps what the directory said
}

on("active", refreshDmPartner);
setInterval(refreshDmPartner, PARTNER_REFRESH_MS);
on("users", () => renderMyStatus());
setInterval(() => paintStatuses(), REPAINT_EVERY_MS);
