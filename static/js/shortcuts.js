// Keyboard shortcuts help: "?" (outside a text field) or Ctrl+/ (⌘/ on a Mac) anywhere, or
// "Keyboard shortcuts" in the account menu, opens a dialog listing the keys the client
// handles. Native modal <dialog>: the rest of the page is inert, Tab cycles inside it, Esc
// closes it and focus goes back to where it was. Keep the list in step with the keydown
// handlers (sidebar.js, quick-switcher.js, search.js, composer.js, message-list.js,
// message-actions.js, autocomplete.js, thread.js, viewer.js).

import { byId, h } from "./dom.js";
import { gettext } from "./i18n.js";

const dialog = byId("shortcuts-dialog");
const body = byId("shortcuts-body");
const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const CONTROL = isMac ? "⌘" : "Ctrl";

/** Each shortcut: alternative key combinations (each a list of keys) and what it does. */
function groups() {
  return [
    {
      title: gettext("Anywhere"),
      shortcuts: [
        [[[CONTROL, "K"]], gettext("Jump to a conversation")],
        [[["Alt", "↑"], ["Alt", "↓"]], gettext("Previous or next conversation")],
        [[["Alt", "Shift", "↑"], ["Alt", "Shift", "↓"]], gettext("Previous or next unread conversation")],
        [[[CONTROL, "Shift", "F"]], gettext("Search messages")],
        [[["?"], [CONTROL, "/"]], gettext("Show keyboard shortcuts")],
        [[["Esc"]], gettext("Close a dialog, card, menu or the thread panel")],
      ],
    },
    {
      title: gettext("Message box"),
      shortcuts: [
        [[["Enter"]], gettext("Send the message")],
        [[["Shift", "Enter"]], gettext("New line")],
        [[["↑"]], gettext("Edit your last message (in an empty message box)")],
        [[["↑"], ["↓"]], gettext("Move through suggestions after @, # or :")],
        [[["Enter"], ["Tab"]], gettext("Take the suggestion")],
      ],
    },
    {
      title: gettext("Messages"),
      shortcuts: [
        [[["↑"], ["↓"]], gettext("Previous or next message")],
        [[["Home"], ["End"]], gettext("First or last message")],
        [[["E"]], gettext("Edit your message")],
        [[["R"]], gettext("Reply in a thread")],
        [[["Delete"]], gettext("Delete the message")],
        [[["←"], ["→"]], gettext("Move between a message's actions")],
        [[["Enter"]], gettext("Save an edit")],
      ],
    },
    {
      title: gettext("Lists and the file viewer"),
      shortcuts: [
        [[["↑"], ["↓"]], gettext("Move through the quick switcher's or the search's results")],
        [[["Enter"]], gettext("Open the chosen result")],
        [[["←"], ["→"]], gettext("Previous or next file in the viewer")],
      ],
    },
  ];
}

function keysElement(alternatives) {
  const parts = [];
  alternatives.forEach((keys, index) => {
    if (index) parts.push(` ${gettext("or")} `);
    keys.forEach((key, position) => {
      if (position) parts.push("+");
      parts.push(h("kbd", { text: key }));
    });
  });
  return h("dt", {}, ...parts);
}

function render() {
  body.replaceChildren(
    ...groups().map(({ title, shortcuts }, index) =>
      h(
        "section",
        { class: "shortcuts-group", "aria-labelledby": `shortcuts-group-${index}` },
        h("h3", { id: `shortcuts-group-${index}`, text: title }),
        h("dl", { class: "shortcuts-list" }, ...shortcuts.flatMap(([keys, what]) => [keysElement(keys), h("dd", { text: what })])),
      ),
    ),
  );
}

export function openShortcuts(opener = document.activeElement) {
  if (dialog.open) return;
  render();
  dialog.returnFocusTo = opener;
  dialog.showModal();
  dialog.querySelector('[data-action="close-dialog"]').focus();
}

/** True when the key press is text going into a field (where "?" is a question mark). */
function typing(target) {
  return Boolean(target?.closest?.("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
}

document.addEventListener("keydown", (event) => {
  if (event.isComposing || event.altKey) return;
  const slash = (event.ctrlKey || event.metaKey) && (event.key === "/" || event.code === "Slash");
  const question = event.key === "?" && !event.ctrlKey && !event.metaKey && !typing(event.target);
  if (!slash && !question) return;
  // Another modal dialog owns the keyboard; "?" inside it is left alone.
  if (!dialog.open && document.querySelector("dialog[open]")) return;
  event.preventDefault();
  if (dialog.open) dialog.close();
  else openShortcuts();
});

// Tab and Shift+Tab stay inside the dialog (showModal alone lets focus leave to the browser).
dialog.addEventListener("keydown", (event) => {
  if (event.key !== "Tab") return;
  const focusable = [...dialog.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])")].filter(
    (element) => !element.disabled && !element.hidden,
  );
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable.at(-1);
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog || event.target.closest('[data-action="close-dialog"]')) dialog.close();
});
dialog.addEventListener("close", () => {
  const opener = dialog.returnFocusTo;
  dialog.returnFocusTo = null;
  if (opener?.isConnected) opener.focus();
});
document.addEventListener("click", (event) => {
  const control = event.target.closest('[data-action="open-shortcuts"]');
  if (!control) return;
  control.closest("details")?.removeAttribute("open");
  openShortcuts(document.querySelector(".user-menu-summary"));
});
