// Reminders (the `workplace_reminders` flag): "Remind me" in a message's actions opens a small
// menu (in 20 minutes, 1 or 3 hours, tomorrow 9:00, next Monday 9:00 in my profile's time zone,
// or a date and time I choose) that POSTs /api/v1/reminders/. "Reminders" in the account menu
// lists my pending ones (GET reminders/), each with Cancel (DELETE reminders/<id>/). Pushes keep
// every tab in step: reminder.created, reminder.cancelled, and reminder.due, which also shows a
// desktop notification (or a notice while the tab is in front). The reminder itself arrives as a
// message from the system bot in my direct messages with it.

import { api } from "./api.js";
import { on } from "./bus.js";
import { h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatDateTime } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { notify, notifyError } from "./notices.js";
import { jumpToMessage } from "./permalink.js";

export const FLAG = "workplace_reminders";
export const remindersEnabled = () => isEnabled(FLAG);

const pending = new Map(); // reminder id -> payload, once the list was loaded
let loaded = false;
let menu = null; // {element, opener}
let dialog = null;

function when(reminder) {
  return formatDateTime(new Date(reminder.remind_at));
}

// --- the "Remind me" menu -------------------------------------------------------------------------

function choices() {
  return [
    ["20m", gettext("In 20 minutes")],
    ["1h", gettext("In 1 hour")],
    ["3h", gettext("In 3 hours")],
    ["tomorrow", gettext("Tomorrow at 9:00")],
    ["next_monday", gettext("Next Monday at 9:00")],
  ];
}

function closeMenu({ refocus = true } = {}) {
  if (!menu) return;
  const { element, opener } = menu;
  menu = null;
  element.remove();
  if (refocus && opener.isConnected) opener.focus();
}

async function create(message, body) {
  const reminder = await api.post("reminders/", { message_id: message.id, ...body });
  pending.set(reminder.id, reminder);
  renderList();
  notify(interpolate(gettext("Reminder set for %(when)s."), { when: when(reminder) }, true), { kind: "info", timeout: 4000 });
}

function customForm(message) {
  const input = h("input", { type: "datetime-local", class: "reminder-menu-input", required: true, "aria-label": gettext("Date and time") });
  const form = h(
    "form",
    { class: "reminder-menu-form" },
    input,
    h("button", { type: "submit", class: "button button--primary", text: gettext("Set reminder") }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value) return;
    closeMenu();
    // A wall-clock time, read by the server in my profile's time zone.
    create(message, { remind_at: input.value }).catch(notifyError);
  });
  return form;
}

export function openReminderMenu(button, message) {
  if (menu?.opener === button) return closeMenu();
  closeMenu({ refocus: false });
  const element = h(
    "div",
    { class: "reminder-menu", role: "menu", "aria-label": gettext("Remind me") },
    h("p", { class: "reminder-menu-title", text: gettext("Remind me") }),
    ...choices().map(([preset, label]) => h("button", { type: "button", role: "menuitem", class: "reminder-menu-item", dataset: { preset }, text: label })),
    h("button", { type: "button", role: "menuitem", class: "reminder-menu-item", dataset: { custom: "1" }, text: gettext("Choose a date and time…") }),
  );
  document.body.append(element);
  const place = () => {
    const rect = button.getBoundingClientRect();
    const top = rect.bottom + 6 + element.offsetHeight < window.innerHeight ? rect.bottom + 6 : Math.max(8, rect.top - element.offsetHeight - 6);
    element.style.top = `${top}px`; // CSSOM, not a style attribute: the CSP allows it
    element.style.left = `${Math.min(window.innerWidth - element.offsetWidth - 8, Math.max(8, rect.right - element.offsetWidth))}px`;
  };
  place();
  menu = { element, opener: button };
  element.addEventListener("click", (event) => {
    const item = event.target.closest(".reminder-menu-item");
    if (!item) return;
    if (item.dataset.custom) {
      item.replaceWith(customForm(message));
      place();
      element.querySelector("input").focus();
      return;
    }
    closeMenu();
    create(message, { preset: item.dataset.preset }).catch(notifyError);
  });
  element.addEventListener("keydown", (event) => {
    const items = [...element.querySelectorAll(".reminder-menu-item")];
    const index = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      closeMenu();
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && index >= 0) {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      items[(index + step + items.length) % items.length].focus();
    } else if (event.key === "Tab" && !event.target.closest("form")) {
      closeMenu({ refocus: false });
    }
  });
  element.querySelector(".reminder-menu-item").focus();
  return undefined;
}

document.addEventListener("pointerdown", (event) => {
  if (menu && !menu.element.contains(event.target) && !menu.opener.contains(event.target)) closeMenu({ refocus: false });
});
window.addEventListener("resize", () => closeMenu({ refocus: false }));
on("active", () => closeMenu({ refocus: false }));

// --- my pending reminders ------------------------------------------------------------------------

function describe(reminder) {
  if (reminder.note) return reminder.note;
  if (reminder.message) return reminder.message.excerpt;
  return gettext("A message you can no longer see");
}

function row(reminder) {
  const open = reminder.message
    ? h("button", { type: "button", class: "link-button", dataset: { openMessage: reminder.message.id }, text: gettext("Open message") })
    : null;
  return h(
    "li",
    { class: "reminder-row", dataset: { reminderId: reminder.id } },
    h(
      "div",
      { class: "reminder-row-text" },
      h("span", { class: "reminder-row-when", text: when(reminder) }),
      h("span", { class: reminder.message || reminder.note ? "reminder-row-what" : "reminder-row-what muted", text: describe(reminder) }),
      open,
    ),
    h("button", { type: "button", class: "button", dataset: { cancelReminder: reminder.id }, text: gettext("Cancel") }),
  );
}

function renderList() {
  const list = dialog?.querySelector(".reminder-list");
  if (!list) return;
  const sorted = [...pending.values()].sort((a, b) => a.remind_at.localeCompare(b.remind_at) || a.id - b.id);
  list.replaceChildren(...sorted.map(row));
  dialog.querySelector(".reminder-empty").hidden = sorted.length > 0;
}

function buildDialog() {
  const element = h(
    "dialog",
    { id: "reminders-dialog", class: "dialog", "aria-labelledby": "reminders-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "reminders-title", text: gettext("Reminders") }),
      h("button", { type: "button", class: "icon-button", dataset: { action: "close-dialog" }, "aria-label": gettext("Close"), title: gettext("Close") }, icon("x")),
    ),
    h(
      "div",
      { class: "dialog-body stack" },
      h("p", { class: "muted", text: gettext("Set one from a message's actions, or type /remind me in 20m check the oven.") }),
      h("p", { class: "reminder-empty muted", text: gettext("No pending reminders.") }),
      h("ul", { class: "reminder-list", "aria-label": gettext("Pending reminders") }),
    ),
  );
  element.addEventListener("click", async (event) => {
    if (event.target === element || event.target.closest('[data-action="close-dialog"]')) {
      element.close();
      return;
    }
    const cancel = event.target.closest("[data-cancel-reminder]");
    if (cancel) {
      cancel.disabled = true;
      try {
        await api.delete(`reminders/${Number(cancel.dataset.cancelReminder)}/`);
        pending.delete(Number(cancel.dataset.cancelReminder));
        renderList();
      } catch (error) {
        cancel.disabled = false;
        notifyError(error);
      }
      return;
    }
    const open = event.target.closest("[data-open-message]");
    if (open) {
      element.close();
      jumpToMessage(Number(open.dataset.openMessage)).catch(notifyError);
    }
  });
  element.addEventListener("close", () => element.returnFocusTo?.focus());
  document.body.append(element);
  return element;
}

async function openDialog(opener) {
  dialog ??= buildDialog();
  const reminders = await api.get("reminders/");
  pending.clear();
  for (const reminder of reminders) pending.set(reminder.id, reminder);
  loaded = true;
  renderList();
  dialog.returnFocusTo = opener;
  dialog.showModal();
}

function addMenuEntry() {
  const settings = document.querySelector('.user-menu-body [data-action="open-settings"]');
  if (!settings || document.querySelector('[data-action="open-reminders"]')) return;
  const entry = h("button", { type: "button", class: "button button--block", dataset: { action: "open-reminders" }, "aria-haspopup": "dialog" }, icon("clock"), ` ${gettext("Reminders")}`);
  settings.after(entry);
  entry.addEventListener("click", () => {
    entry.closest("details")?.removeAttribute("open");
    openDialog(document.querySelector(".user-menu-summary")).catch(notifyError);
  });
}

// --- pushes: every tab in step ---------------------------------------------------------------------

function announce(frame) {
  const { reminder } = frame;
  const text = reminder.note || (reminder.message ? reminder.message.excerpt : gettext("A message you can no longer see"));
  const title = gettext("Reminder");
  const inFront = document.visibilityState === "visible" && document.hasFocus();
  if (!inFront && "Notification" in window && Notification.permission === "granted") {
    // The tag of the bot's DM message (notifications.js): one notification, not two.
    const tag = frame.dm_message_id ? `enclave-${frame.dm_message_id}` : `enclave-reminder-${reminder.id}`;
    const notification = new Notification(title, { body: text, tag, lang: document.documentElement.lang });
    notification.addEventListener("click", () => {
      window.focus();
      notification.close();
      if (frame.dm_message_id) jumpToMessage(frame.dm_message_id).catch(() => {});
    });
  } else {
    notify(interpolate(gettext("Reminder: %(text)s"), { text }, true), { kind: "info" });
  }
}

on("push", (frame) => {
  if (frame.type === "reminder.created") {
    if (loaded) pending.set(frame.reminder.id, frame.reminder);
  } else if (frame.type === "reminder.cancelled") {
    pending.delete(frame.id);
  } else if (frame.type === "reminder.due") {
    pending.delete(frame.reminder.id);
    announce(frame);
  } else {
    return;
  }
  renderList();
});

if (remindersEnabled()) addMenuEntry();
