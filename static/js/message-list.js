// A scrolling list of messages (the channel pane or the thread pane). Builds its items (day
// separators, grouping of consecutive messages, the "new messages" line, pending sends), patches
// the DOM by key so unchanged messages keep their nodes (and focus), keeps the scroll position
// (stuck to the end, or anchored while older pages load above), and moves keyboard focus
// between messages with the arrow keys (one tab stop for the whole list).

import { h } from "./dom.js";
import { dayKey, formatDay } from "./format.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { editingState } from "./message-actions.js";
import { messageElement, pendingElement } from "./message-view.js";
import { receiptSignature } from "./receipts.js";
import { isSaved } from "./saved.js";
import { store } from "./store.js";

const GROUP_WINDOW_MS = 5 * 60_000;
const END_SLACK_PX = 48;
const LOAD_OLDER_WITHIN_PX = 400;

// Bumped when every message must be drawn again (time zone or names changed).
let renderEpoch = 0;

export function redrawAllMessages() {
  renderEpoch += 1;
}

export class MessageList {
  /**
   * @param list      the element holding the messages (role="log")
   * @param scroller  its scrolling container
   * @param mode      "channel" | "thread"
   * @param source    () => {channel, messages, pending, markerSeq, canLoadOlder}
   * @param onNearTop called when the user scrolls close to the top
   */
  constructor({ list, scroller, mode, source, onNearTop = () => {} }) {
    this.list = list;
    this.scroller = scroller;
    this.mode = mode;
    this.source = source;
    this.onNearTop = onNearTop;
    this.currentKey = null; // the message that holds the list's tab stop
    this.frame = null;
    this.stickToEnd = true;
    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    // Content that grows after it is drawn (a picture arriving, a font) would push the newest
    // message out of view: a list that was at its end stays there.
    new ResizeObserver(() => {
      if (this.stickToEnd) this.scrollToEnd();
    }).observe(list);
    list.addEventListener("keydown", (event) => this.onKeyDown(event));
    list.addEventListener("focusin", (event) => this.onFocusIn(event));
  }

  isAtEnd() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight <= END_SLACK_PX;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stickToEnd = true;
  }

  /**
   * Run `work` (a history fetch) without a live-region announcement of every message it adds;
   * only what arrives afterwards is read out.
   */
  async silently(work) {
    this.list.setAttribute("aria-live", "off");
    try {
      return await work;
    } finally {
      this.render();
      requestAnimationFrame(() => this.list.setAttribute("aria-live", "polite"));
    }
  }

  /** Forget the scroll state (a different channel or thread is shown). */
  reset() {
    this.list.setAttribute("aria-live", "off");
    this.list.replaceChildren();
    this.currentKey = null;
    this.stickToEnd = true;
  }

  /** Render on the next frame; many changes in one burst cost one render. */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  onScroll() {
    this.stickToEnd = this.isAtEnd();
    if (this.scroller.scrollTop < LOAD_OLDER_WITHIN_PX) this.onNearTop();
    this.list.dispatchEvent(new CustomEvent("list-scroll", { bubbles: true }));
  }

  items() {
    const { channel, messages, pending, markerSeq } = this.source();
    const me = store.me.id;
    const editing = editingState();
    const items = [];
    let previous = null; // the message before, for grouping
    let lastDay = null;
    let markerPlaced = false;
    const pushDay = (date) => {
      const key = dayKey(date);
      if (key === lastDay) return;
      lastDay = key;
      previous = null;
      const label = formatDay(date);
      items.push({ key: `day-${key}`, sig: label, build: () => daySeparator(label) });
    };
    messages.forEach((message, index) => {
      const date = new Date(message.created_at);
      const isRoot = this.mode === "thread" && index === 0;
      pushDay(date);
      if (markerSeq !== null && !markerPlaced && message.seq > markerSeq && message.sender_id !== me) {
        markerPlaced = true;
        previous = null;
        items.push({ key: "unread-marker", sig: "", build: newMessagesLine });
      }
      const grouped =
        previous !== null &&
        !isRoot &&
        previous.sender_id === message.sender_id &&
        !previous.deleted &&
        !message.deleted &&
        date - new Date(previous.created_at) < GROUP_WINDOW_MS;
      const key = `m-${message.id}`;
      const isEditing = editing?.messageId === message.id && editing.pane === this.list.id;
      const options = { grouped, mode: this.mode, channel, editing: isEditing, isRoot };
      items.push({
        key,
        sig: [message.version, message.reply_count, message.last_reply_at, grouped, isEditing, message.deleted, message.sender_name, channel?.membership?.role, channel?.is_archived, Boolean(message.pinned), isSaved(message.id), receiptSignature(message)].join("|"),
        build: (tabbable) => messageElement(message, { ...options, draft: isEditing ? editing.draft : null, tabbable }),
      });
      previous = message;
      if (isRoot) {
        previous = null;
        const replies = messages.length - 1;
        const text = replies
          ? interpolate(ngettext("%s reply", "%s replies", replies), [replies])
          : gettext("No replies yet");
        items.push({ key: "thread-divider", sig: text, build: () => h("div", { class: "thread-divider" }, h("span", { text })) });
      }
    });
    for (const entry of pending) {
      pushDay(new Date(entry.createdAt));
      const grouped = previous !== null && previous.sender_id === me;
      items.push({
        key: `p-${entry.id}`,
        sig: [entry.state, entry.error, grouped].join("|"),
        build: () => pendingElement(entry, { grouped }),
      });
      previous = { sender_id: me, created_at: new Date(entry.createdAt).toISOString(), deleted: false };
    }
    return items;
  }

  render() {
    const wasAtEnd = this.stickToEnd;
    const anchor = wasAtEnd ? null : this.anchor();
    const items = this.items();
    const messageKeys = items.filter((i) => i.key.startsWith("m-")).map((i) => i.key);
    // The tab stop follows the newest message until the user moves within the list.
    if (!messageKeys.includes(this.currentKey) || !this.list.contains(document.activeElement)) {
      this.currentKey = messageKeys.at(-1) ?? null;
    }

    const existing = new Map();
    for (const child of this.list.children) existing.set(child.dataset.key, child);
    let cursor = this.list.firstElementChild;
    for (const item of items) {
      let element = existing.get(item.key);
      existing.delete(item.key);
      const tabbable = item.key === this.currentKey;
      const sig = `${item.sig}|${tabbable}|${renderEpoch}`;
      if (element && element.dataset.sig !== sig) {
        const fresh = this.build(item, sig, tabbable);
        const focus = focusWithin(element);
        if (element === cursor) cursor = fresh;
        element.replaceWith(fresh);
        restoreFocus(fresh, focus);
        element = fresh;
      } else if (!element) {
        element = this.build(item, sig, tabbable);
      }
      if (element === cursor) cursor = element.nextElementSibling;
      else this.list.insertBefore(element, cursor);
    }
    for (const stale of existing.values()) stale.remove();

    if (wasAtEnd) this.scrollToEnd();
    else if (anchor) this.restoreAnchor(anchor);
  }

  build(item, sig, tabbable) {
    const element = item.build(tabbable);
    element.dataset.key = item.key;
    element.dataset.sig = sig;
    return element;
  }

  /** The first message visible at the top, and how far from the top it is. */
  anchor() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const child of this.list.children) {
      const rect = child.getBoundingClientRect();
      if (rect.bottom > top) return { key: child.dataset.key, offset: rect.top - top };
    }
    return null;
  }

  restoreAnchor({ key, offset }) {
    const element = [...this.list.children].find((child) => child.dataset.key === key);
    if (!element) return;
    const top = this.scroller.getBoundingClientRect().top;
    this.scroller.scrollTop += element.getBoundingClientRect().top - top - offset;
  }

  /** Show the "new messages" line near the top, or the end when there is none. */
  scrollToMarkerOrEnd() {
    const marker = this.list.querySelector('[data-key="unread-marker"]');
    this.scrollToEnd();
    if (!marker) return;
    const above = marker.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top;
    if (above < 0) {
      // The first unread message is above the fold: show it near the top instead of the end.
      this.scroller.scrollTop += above - 24;
      this.stickToEnd = this.isAtEnd();
    }
  }

  articles() {
    return [...this.list.querySelectorAll("article[data-key^='m-']")];
  }

  /** Move the list's single tab stop to `article` (and its buttons). */
  setCurrent(article) {
    const key = article?.dataset.key;
    if (!key || key === this.currentKey) return;
    const previous = this.list.querySelector(`[data-key="${this.currentKey}"]`);
    this.currentKey = key;
    for (const [element, value] of [[previous, "-1"], [article, "0"]]) {
      if (!element) continue;
      element.tabIndex = Number(value);
      for (const control of element.querySelectorAll("button")) control.tabIndex = Number(value);
      element.dataset.sig = element.dataset.sig.replace(/\|(true|false)$/, `|${value === "0"}`);
    }
  }

  onFocusIn(event) {
    const article = event.target.closest("article[data-key^='m-']");
    if (article) this.setCurrent(article);
  }

  onKeyDown(event) {
    // Alt+arrows move between conversations (sidebar.js).
    if (!event.target.matches("article") || event.altKey) return;
    const articles = this.articles();
    const index = articles.indexOf(event.target);
    let next = null;
    if (event.key === "ArrowUp") next = articles[index - 1];
    else if (event.key === "ArrowDown") next = articles[index + 1];
    else if (event.key === "Home") next = articles[0];
    else if (event.key === "End") next = articles.at(-1);
    else return;
    event.preventDefault();
    if (next) {
      this.setCurrent(next);
      next.focus();
      next.scrollIntoView({ block: "nearest" });
    }
  }
}

function daySeparator(label) {
  // A heading, so screen-reader users can jump from day to day.
  return h("div", { class: "day-separator", role: "heading", "aria-level": "2" }, h("span", { text: label }));
}

function newMessagesLine() {
  return h("div", { class: "new-messages-line" }, h("span", { text: gettext("New messages") }));
}

function focusWithin(element) {
  const active = document.activeElement;
  if (!active || !element.contains(active)) return null;
  const focus = { key: active.dataset.focusKey ?? null, act: active.dataset.act ?? null, emoji: active.dataset.emoji ?? null };
  if (active.tagName === "TEXTAREA") {
    focus.selection = [active.selectionStart, active.selectionEnd];
  }
  return focus;
}

function restoreFocus(element, focus) {
  if (!focus) return;
  let target = null;
  if (focus.act) {
    target = [...element.querySelectorAll(`[data-act="${focus.act}"]`)].find(
      (candidate) => (candidate.dataset.emoji ?? null) === focus.emoji,
    );
  } else if (focus.key) {
    target = element.dataset.focusKey === focus.key ? element : element.querySelector(`[data-focus-key="${focus.key}"]`);
  }
  (target ?? element).focus({ preventScroll: true });
  if (focus.selection && target?.setSelectionRange) target.setSelectionRange(...focus.selection);
}
