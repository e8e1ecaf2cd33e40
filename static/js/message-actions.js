// What one can do to a message in a list: react (quick emoji picker, toggling a reaction chip),
// reply in a thread, edit in place (Enter saves, Esc cancels, IME-safe), delete, pin to the
// channel, save for later, and retry or discard a message that failed to send. Event delegation on each list element.

import * as actions from "./actions.js";
import { emit, on } from "./bus.js";
import { byId, h, isComposing } from "./dom.js";
import { EMOJI, emojiMatches } from "./emoji.js";
import { gettext } from "./i18n.js";
import { QUICK_EMOJI } from "./message-view.js";
import { notifyError } from "./notices.js";
import { copyLink } from "./permalink.js";
import { openReminderMenu } from "./reminders.js";
import * as outbox from "./outbox.js";
import { togglePin } from "./pins.js";
import { toggleSaved } from "./saved.js";
import { conversation, store } from "./store.js";

let editing = null; // {messageId, channelId, pane (list element id), draft}

export const editingState = () => editing;

function rerender() {
  emit("ui:messages", {});
}

function messageOf(article) {
  const channelId = Number(article.dataset.channelId);
  return conversation(channelId).byId.get(Number(article.dataset.messageId)) ?? null;
}

function startEditing(message, pane) {
  if (!message || message.deleted || message.sender_id !== store.me.id) return;
  editing = { messageId: message.id, channelId: message.channel_id, pane, draft: message.body };
  rerender();
  requestAnimationFrame(() => {
    const input = byId(pane)?.querySelector(`[data-edit-for="${message.id}"] textarea`);
    if (input) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  });
}

function stopEditing({ refocus = true } = {}) {
  if (!editing) return;
  const { messageId, pane } = editing;
  editing = null;
  rerender();
  if (refocus) {
    requestAnimationFrame(() => byId(pane)?.querySelector(`article[data-message-id="${messageId}"]`)?.focus());
  }
}

async function saveEdit(form) {
  const message = conversation(editing.channelId).byId.get(editing.messageId);
  const body = form.querySelector("textarea").value;
  if (!message) return stopEditing();
  if (!body.trim()) {
    if (window.confirm(gettext("Delete this message?"))) {
      stopEditing();
      actions.deleteMessage(message.id).catch(notifyError);
    }
    return undefined;
  }
  if (body === message.body) return stopEditing();
  form.querySelector("button[type=submit]").disabled = true;
  try {
    await actions.editMessage(message.id, body);
    stopEditing();
  } catch (error) {
    form.querySelector("button[type=submit]").disabled = false;
    notifyError(error);
  }
  return undefined;
}

async function confirmDelete(message) {
  if (!window.confirm(gettext("Delete this message? This cannot be undone."))) return;
  try {
    await actions.deleteMessage(message.id);
  } catch (error) {
    notifyError(error);
  }
}

// --- the quick reaction picker: one floating element, placed next to the button ----------------

let picker = null;

function closePicker({ refocus = true } = {}) {
  if (!picker) return;
  const { element, opener } = picker;
  picker = null;
  element.remove();
  if (refocus && opener.isConnected) opener.focus();
}

/** The full picker: a search box and every emoji we know, below the quick row. */
function expandPicker(element, more) {
  if (element.querySelector(".emoji-picker-all")) return;
  more.setAttribute("aria-expanded", "true");
  const search = h("input", { type: "search", class: "emoji-picker-search", "aria-label": gettext("Search emoji"), placeholder: gettext("Search emoji") });
  const grid = h("div", { class: "emoji-picker-grid", role: "group", "aria-label": gettext("All reactions") });
  const render = () => {
    const query = search.value.trim().toLocaleLowerCase().replaceAll(":", "");
    const seen = new Set();
    grid.replaceChildren(
      ...EMOJI.filter((entry) => (!query || emojiMatches(entry, query)) && !seen.has(entry[1]) && seen.add(entry[1])).map(([name, char]) =>
        h("button", { type: "button", class: "emoji-picker-button", dataset: { emoji: char }, "aria-label": `${char} :${name}:`, title: `:${name}:`, text: char }),
      ),
    );
  };
  search.addEventListener("input", render);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !isComposing(event)) {
      event.preventDefault();
      grid.querySelector("button")?.click();
    }
  });
  render();
  element.classList.add("emoji-picker--full");
  element.append(h("div", { class: "emoji-picker-all" }, search, grid));
  search.focus();
}

function openPicker(button, message) {
  closePicker({ refocus: false });
  const element = h(
    "div",
    { class: "emoji-picker", role: "group", "aria-label": gettext("Quick reactions") },
    QUICK_EMOJI.map((emoji) =>
      h("button", { type: "button", class: "emoji-picker-button", dataset: { emoji }, "aria-label": emoji, text: emoji }),
    ),
    h("button", {
      type: "button",
      class: "emoji-picker-button emoji-picker-more",
      dataset: { more: "1" },
      "aria-label": gettext("More reactions"),
      title: gettext("More reactions"),
      "aria-expanded": "false",
      text: "+",
    }),
  );
  const place = () => {
    const rect = button.getBoundingClientRect();
    const width = element.offsetWidth;
    const above = rect.top - element.offsetHeight - 6;
    element.style.top = `${above >= 8 ? above : Math.min(rect.bottom + 6, window.innerHeight - element.offsetHeight - 8)}px`;
    element.style.left = `${Math.min(window.innerWidth - width - 8, Math.max(8, rect.right - width))}px`;
  };
  document.body.append(element);
  place();
  picker = { element, opener: button };
  element.addEventListener("click", (event) => {
    const more = event.target.closest("[data-more]");
    if (more) {
      expandPicker(element, more);
      place();
      return;
    }
    const choice = event.target.closest("[data-emoji]");
    if (!choice) return;
    closePicker();
    actions.toggleReaction(message, choice.dataset.emoji).catch(notifyError);
  });
  element.addEventListener("keydown", (event) => {
    const buttons = [...element.querySelectorAll("button")];
    const index = buttons.indexOf(document.activeElement);
    if (event.target.matches("input") && event.key !== "Escape" && event.key !== "Tab") return;
    if (event.key === "Escape") {
      event.preventDefault();
      closePicker();
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      buttons[(index + step + buttons.length) % buttons.length].focus();
    } else if (event.key === "Tab") {
      closePicker({ refocus: false });
    }
  });
  element.querySelector("button").focus();
}

document.addEventListener("pointerdown", (event) => {
  if (picker && !picker.element.contains(event.target) && event.target !== picker.opener) {
    closePicker({ refocus: false });
  }
});
window.addEventListener("resize", () => closePicker({ refocus: false }));

// --- wiring ---------------------------------------------------------------------------------------

/** Handle clicks and keys inside a message list element. */
export function attachMessageActions(list) {
  list.addEventListener("click", (event) => {
    const control = event.target.closest("[data-act]");
    if (!control || !list.contains(control)) return;
    const act = control.dataset.act;
    const pending = control.closest("[data-pending-id]");
    if (pending) {
      if (act === "retry") outbox.retry(pending.dataset.pendingId);
      if (act === "discard") outbox.discard(pending.dataset.pendingId);
      return;
    }
    const article = control.closest("article[data-message-id]");
    const message = article && messageOf(article);
    if (!message) return;
    if (act === "react") {
      if (picker?.opener === control) closePicker();
      else openPicker(control, message);
    } else if (act === "toggle-reaction") {
      actions.toggleReaction(message, control.dataset.emoji).catch(notifyError);
    } else if (act === "reply" || act === "open-thread") {
      emit("thread:open", { channelId: message.channel_id, rootId: message.id, opener: control });
    } else if (act === "edit") {
      startEditing(message, list.id);
    } else if (act === "cancel-edit") {
      stopEditing();
    } else if (act === "delete") {
      confirmDelete(message);
    } else if (act === "copy-link") {
      copyLink(message).catch(notifyError);
    } else if (act === "remind") {
      openReminderMenu(control, message);
    } else if (act === "pin") {
      togglePin(message).catch(notifyError);
    } else if (act === "save") {
      toggleSaved(message).catch(notifyError);
    }
  });

  list.addEventListener("submit", (event) => {
    const form = event.target.closest("form.msg-edit");
    if (!form) return;
    event.preventDefault();
    saveEdit(form);
  });

  list.addEventListener("input", (event) => {
    if (editing && event.target.matches(".msg-edit-input")) editing.draft = event.target.value;
  });

  list.addEventListener("keydown", (event) => {
    if (event.target.matches(".msg-edit-input")) {
      if (event.key === "Escape") {
        event.preventDefault();
        stopEditing();
      } else if (event.key === "Enter" && !event.shiftKey && !isComposing(event)) {
        event.preventDefault();
        saveEdit(event.target.form);
      }
      return;
    }
    // Shortcuts on a focused message: r = reply, e = edit, Delete = delete.
    if (!event.target.matches("article[data-message-id]") || event.ctrlKey || event.metaKey || event.altKey) return;
    const message = messageOf(event.target);
    if (!message || message.deleted) return;
    const channel = store.channels.get(message.channel_id);
    const canPost = Boolean(channel?.membership) && !channel.is_archived;
    if (event.key === "e" && canPost && message.sender_id === store.me.id) {
      event.preventDefault();
      startEditing(message, list.id);
    } else if (event.key === "r" && canPost && message.thread_root_id === null && list.id === "message-list") {
      event.preventDefault();
      emit("thread:open", { channelId: message.channel_id, rootId: message.id, opener: event.target });
    } else if (event.key === "Delete" && event.target.querySelector('[data-act="delete"]')) {
      event.preventDefault();
      confirmDelete(message);
    }
  });
}

// The composer's ArrowUp in an empty box: edit my last message in that pane.
on("edit:last", ({ channelId, threadRootId, pane }) => {
  const conv = conversation(channelId);
  const candidates = threadRootId ? [conv.byId.get(threadRootId), ...conv.replies(threadRootId)] : conv.roots();
  const mine = candidates.filter((m) => m && !m.deleted && m.sender_id === store.me.id);
  const last = mine.at(-1);
  if (last) startEditing(last, pane);
});

// Leaving the channel abandons an edit.
on("active", () => {
  editing = null;
  closePicker({ refocus: false });
});
