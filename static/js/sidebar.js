// The sidebar: channels and direct messages with unread and mention badges (muted ones dimmed),
// presence dots on one-to-one conversations, the current conversation marked, Alt+↑/↓ (with
// Shift: only unread ones) to the previous or next conversation, and on narrow screens the
// slide-in behaviour behind the header's menu button.

import { on } from "./bus.js";
import { config } from "./config.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { icon } from "./icons.js";
import { paintPresence } from "./presence.js";
import { channelLabel, dmPartners, isDirect, store } from "./store.js";
import { statusBadge } from "./user-status.js";

let openChannel = () => {};

function srCounts(channel) {
  const parts = [];
  if (channel.unread_count) {
    parts.push(interpolate(ngettext("%s unread message", "%s unread messages", channel.unread_count), [channel.unread_count]));
  }
  if (channel.mention_count) {
    parts.push(interpolate(ngettext("%s mention", "%s mentions", channel.mention_count), [channel.mention_count]));
  }
  if (channel.membership?.is_muted) parts.push(gettext("muted"));
  return parts.length ? `, ${parts.join(", ")}` : "";
}

function leadingMark(channel) {
  if (!isDirect(channel)) return icon(channel.kind === "private" ? "lock" : "hash");
  const partners = dmPartners(channel);
  if (partners.length === 1) {
    return h("span", { class: "presence-dot", dataset: { presenceUser: partners[0] }, "aria-hidden": "true" });
  }
  return partners.length ? h("span", { class: "group-count", "aria-hidden": "true", text: String(channel.member_ids.length) }) : icon("user");
}

function badge(channel) {
  if (channel.mention_count) {
    return h("span", { class: "badge badge--mention", "aria-hidden": "true", text: `@${channel.mention_count}` });
  }
  if (channel.unread_count && !channel.membership.is_muted) {
    const important = isDirect(channel);
    return h("span", { class: `badge${important ? " badge--strong" : ""}`, "aria-hidden": "true", text: String(channel.unread_count) });
  }
  return null;
}

function item(channel) {
  const active = channel.id === store.activeChannelId;
  const muted = channel.membership.is_muted;
  const unread = channel.unread_count > 0 && (!muted || channel.mention_count > 0);
  const classes = ["conversation-link"];
  if (unread) classes.push("is-unread");
  if (muted) classes.push("is-muted");
  const link = h(
    "a",
    {
      class: classes.join(" "),
      href: config.channelUrl(channel.id),
      "aria-current": active ? "page" : null,
      dataset: { channelId: channel.id },
    },
    h("span", { class: "conversation-mark" }, leadingMark(channel)),
    h("span", { class: "conversation-name", text: channelLabel(channel) }),
    isDirect(channel) && dmPartners(channel).length === 1 ? statusBadge(dmPartners(channel)[0]) : null,
    h("span", { class: "visually-hidden", text: srCounts(channel) }),
    badge(channel),
  );
  return h("li", {}, link);
}

function byLabel(a, b) {
  return channelLabel(a).localeCompare(channelLabel(b));
}

const timeOf = (iso) => (iso ? Date.parse(iso) : 0);

/** Direct messages: the most recent conversation first. */
function byRecency(a, b) {
  return timeOf(b.last_message_at) - timeOf(a.last_message_at) || byLabel(a, b);
}

/** A new message moves its direct conversation to the top without a fetch. */
function noteNewMessages({ channelId, messages = [], inserted = [], live }) {
  const channel = store.channels.get(channelId);
  if (!live || !channel || !inserted.length) return;
  const fresh = messages.filter((m) => inserted.includes(m.id) && timeOf(m.created_at) > timeOf(channel.last_message_at));
  if (!fresh.length) return;
  channel.last_message_at = fresh.at(-1).created_at;
  if (isDirect(channel)) render();
}

function render() {
  const mine = [...store.channels.values()].filter((c) => c.membership);
  const named = mine.filter((c) => !isDirect(c)).sort(byLabel);
  const direct = mine.filter(isDirect).sort(byRecency);
  const focusedId = document.activeElement?.closest?.(".conversation-link")?.dataset.channelId;
  byId("channel-list").replaceChildren(
    ...(named.length ? named.map(item) : [h("li", { class: "conversation-empty", text: gettext("No channels yet.") })]),
  );
  byId("dm-list").replaceChildren(
    ...(direct.length ? direct.map(item) : [h("li", { class: "conversation-empty", text: gettext("No direct messages yet.") })]),
  );
  paintPresence(byId("sidebar"));
  if (focusedId) byId("sidebar").querySelector(`[data-channel-id="${focusedId}"]`)?.focus();
}

// --- Alt+↑/↓: the previous or next conversation; with Shift, the previous or next unread one ---

/** The conversation `step` (±1) places from the open one in the sidebar's order, only unread
 * ones if `unreadOnly`; null at either end (no wrapping round: the last one stays put). */
function conversationAt(step, unreadOnly) {
  const links = [...byId("sidebar").querySelectorAll(".conversation-link[data-channel-id]")];
  const here = links.findIndex((link) => Number(link.dataset.channelId) === store.activeChannelId);
  const candidates = step > 0 ? links.slice(here + 1) : links.slice(0, Math.max(here, 0)).reverse();
  const found = candidates.find((link) => !unreadOnly || link.classList.contains("is-unread"));
  return found ? Number(found.dataset.channelId) : null;
}

function stepThroughConversations(event) {
  if (!event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  if (document.querySelector("dialog[open]")) return; // a dialog's own keys
  if (event.target.closest?.("select")) return; // Alt+↓ opens a select's list
  const target = conversationAt(event.key === "ArrowDown" ? 1 : -1, event.shiftKey);
  event.preventDefault();
  if (target !== null) openChannel(target);
}

// --- narrow screens -------------------------------------------------------------------------------

function setOpen(open) {
  document.body.classList.toggle("sidebar-open", open);
  const toggle = document.querySelector('[data-action="toggle-sidebar"]');
  toggle?.setAttribute("aria-expanded", String(open));
  toggle?.setAttribute("aria-label", open ? gettext("Hide conversations") : gettext("Show conversations"));
  document.querySelector(".sidebar-backdrop").hidden = !open;
  if (open) byId("sidebar").querySelector("[aria-current=page], a, button")?.focus();
}

export function initSidebar({ onOpenChannel }) {
  openChannel = onOpenChannel;
  byId("sidebar").addEventListener("click", (event) => {
    const link = event.target.closest(".conversation-link");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    setOpen(false);
    openChannel(Number(link.dataset.channelId));
  });
  document.addEventListener("click", (event) => {
    const control = event.target.closest("[data-action]");
    if (!control) return;
    if (control.dataset.action === "toggle-sidebar") setOpen(!document.body.classList.contains("sidebar-open"));
    if (control.dataset.action === "close-sidebar") {
      setOpen(false);
      document.querySelector('[data-action="toggle-sidebar"]')?.focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      setOpen(false);
      document.querySelector('[data-action="toggle-sidebar"]')?.focus();
    }
    stepThroughConversations(event);
  });
  // The "open" state only exists on narrow screens.
  window.matchMedia("(min-width: 768px)").addEventListener("change", (query) => {
    if (query.matches) setOpen(false);
  });
  on("channels", render);
  on("active", () => {
    render();
    if (document.body.classList.contains("sidebar-open")) setOpen(false);
  });
  on("users", render);
  on("messages", noteNewMessages);
  on("presence", () => paintPresence(byId("sidebar")));
  render();
}
