// Profile and settings, from the account menu: the picture (PUT/DELETE /users/me/avatar/, saved
// at once), display name, time zone and language (saved with PATCH /users/me/), and desktop
// notifications. A language change reloads the page, since the
// templates and the JavaScript catalog are rendered in it.

import { api } from "./api.js";
import { emit } from "./bus.js";
import { avatarElement } from "./avatar.js";
import { byId, h } from "./dom.js";
import { setTimeZone } from "./format.js";
import { gettext } from "./i18n.js";
import { redrawAllMessages } from "./message-list.js";
import { notify } from "./notices.js";
import { setUsers, store } from "./store.js";

const dialog = byId("settings-dialog");
const form = byId("settings-form");

function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const mine = store.me.time_zone;
  return zones.includes(mine) || !mine ? zones : [mine, ...zones];
}

function renderNotificationState() {
  const state = byId("settings-notify-state");
  const button = byId("settings-notify-enable");
  if (!("Notification" in window)) {
    state.textContent = gettext("This browser cannot show desktop notifications.");
    button.hidden = true;
  } else if (Notification.permission === "granted") {
    state.textContent = gettext("Desktop notifications are on for direct messages and mentions. Each conversation's details set what it notifies about.");
    button.hidden = true;
  } else if (Notification.permission === "denied") {
    state.textContent = gettext("Desktop notifications are blocked in this browser's site settings.");
    button.hidden = true;
  } else {
    state.textContent = gettext("Desktop notifications are off.");
    button.hidden = false;
  }
}

const avatarInput = byId("settings-avatar");
const avatarRemove = byId("settings-avatar-remove");
const avatarError = byId("settings-avatar-error");

function renderAvatar(previewUrl) {
  const me = store.me;
  const url = previewUrl ?? me.avatar_url ?? null;
  byId("settings-avatar-preview").replaceChildren(avatarElement(me.id, me.name, { size: "large", url }));
  avatarRemove.hidden = !me.avatar_url;
}

/** A new profile everywhere it shows: the store, every message row, the preview. */
function applyProfile(me) {
  store.me = me;
  setUsers([me]);
  redrawAllMessages();
  emit("ui:messages", {});
  renderAvatar();
}

async function saveAvatar(change) {
  avatarError.hidden = true;
  avatarInput.disabled = true;
  avatarRemove.disabled = true;
  try {
    applyProfile(await change());
  } catch (failure) {
    renderAvatar();
    avatarError.textContent = failure.message;
    avatarError.hidden = false;
  } finally {
    avatarInput.disabled = false;
    avatarRemove.disabled = false;
    avatarInput.value = "";
  }
}

avatarInput.addEventListener("change", () => {
  const file = avatarInput.files?.[0];
  if (!file) return;
  const preview = URL.createObjectURL(file);
  renderAvatar(preview);
  const body = new FormData();
  body.append("avatar", file);
  saveAvatar(() => api.put("users/me/avatar/", body)).finally(() => URL.revokeObjectURL(preview));
});
avatarRemove.addEventListener("click", () => saveAvatar(() => api.delete("users/me/avatar/")));

function openSettings(opener) {
  const me = store.me;
  form.elements.display_name.value = me.display_name ?? "";
  const zone = form.elements.time_zone;
  zone.replaceChildren(...timeZones().map((name) => h("option", { value: name, text: name.replaceAll("_", " ") })));
  zone.value = me.time_zone;
  form.elements.language.value = me.language ?? "";
  byId("settings-error").hidden = true;
  avatarError.hidden = true;
  renderAvatar();
  renderNotificationState();
  dialog.returnFocusTo = opener;
  dialog.showModal();
  form.elements.display_name.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = form.querySelector("button[type=submit]");
  const error = byId("settings-error");
  submit.disabled = true;
  error.hidden = true;
  const languageBefore = store.me.language ?? "";
  try {
    const me = await api.patch("users/me/", {
      display_name: form.elements.display_name.value,
      time_zone: form.elements.time_zone.value,
      language: form.elements.language.value,
    });
    if ((me.language ?? "") !== languageBefore) {
      location.reload();
      return;
    }
    store.me = me;
    setTimeZone(me.time_zone);
    setUsers([me]);
    redrawAllMessages(); // every time on screen, in the new zone
    emit("ui:messages", {});
    for (const element of document.querySelectorAll("[data-my-name]")) element.textContent = me.name;
    dialog.close();
    notify(gettext("Settings saved."), { kind: "info", timeout: 3000 });
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  } finally {
    submit.disabled = false;
  }
});

byId("settings-notify-enable").addEventListener("click", async () => {
  await Notification.requestPermission();
  renderNotificationState();
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog || event.target.closest('[data-action="close-dialog"]')) dialog.close();
});
dialog.addEventListener("close", () => dialog.returnFocusTo?.focus());
document.addEventListener("click", (event) => {
  const control = event.target.closest('[data-action="open-settings"]');
  if (!control || !store.me) return;
  control.closest("details")?.removeAttribute("open");
  openSettings(document.querySelector(".user-menu-summary"));
});
