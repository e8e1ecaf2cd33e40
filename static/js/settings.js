// Profile and settings, from the account menu: the picture (PUT/DELETE /users/me/avatar/, saved
// at once), display name, time zone, language and theme (saved with PATCH /users/me/), and desktop
// notifications. The theme is applied at once by changing <html data-theme> (the server renders
// it there on the next load: templates/base.html). A language change reloads the page, since the
// templates and the JavaScript catalog are rendered in it.

import { api } from "./api.js";
import { emit, on } from "./bus.js";
import { avatarElement } from "./avatar.js";
import { byId, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { setTimeZone } from "./format.js";
import { gettext } from "./i18n.js";
import { redrawAllMessages } from "./message-list.js";
import { notify } from "./notices.js";
import { setUsers, store } from "./store.js";

const dialog = byId("settings-dialog");
const form = byId("settings-form");
// The theme setting and the dark theme (apps/accounts: Theme, THEME_FLAG).
const THEME_FLAG = "dark_mode";

function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const extra = [store.me.time_zone, "UTC"].filter((zone) => zone && !zones.includes(zone));
  return [...extra, ...zones];
}

function zoneNamePart(zone, locale, style, date) {
  try {
    const parts = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: style }).formatToParts(date);
    return parts.find((part) => part.type === "timeZoneName")?.value ?? "";
  } catch {
    return ""; // a zone this browser does not know: shown by its identifier
  }
}

/** Minutes east of UTC in `zone` at `date` (from "GMT+05:30"; plain "GMT" is 0). */
function zoneOffset(zone, date) {
  const match = zoneNamePart(zone, "en-US", "longOffset", date).match(/([+-])(\d{2}):(\d{2})/);
  return match ? (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
}

function offsetText(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const hours = String(Math.floor(Math.abs(minutes) / 60)).padStart(2, "0");
  return `UTC${sign}${hours}:${String(Math.abs(minutes) % 60).padStart(2, "0")}`;
}

/**
 * The time zones as people read them, in the interface language, ordered by offset:
 * "(UTC+08:00) China Standard Time – Shanghai" / "(UTC+08:00) 中国标准时间 – Shanghai"
 * (the browser names the zone; the city is the identifier's last part).
 */
function zoneOptions() {
  const now = new Date();
  const locale = document.documentElement.lang || undefined;
  return timeZones()
    .map((zone) => {
      const offset = zoneOffset(zone, now);
      const name = zoneNamePart(zone, locale, "longGeneric", now);
      const city = zone.includes("/") ? zone.split("/").at(-1).replaceAll("_", " ") : "";
      // Without a name of its own the browser says "GMT+8": the offset already says that.
      const named = name && !/^(GMT|UTC)([+-−]|$)/.test(name) ? name : "";
      const words = [named, city].filter(Boolean).join(" – ") || zone.replaceAll("_", " ");
      return { zone, offset, label: `(${offsetText(offset)}) ${words}` };
    })
    .sort((a, b) => a.offset - b.offset || a.label.localeCompare(b.label));
}

/** Colours from now on: the stylesheet keys its variables on <html data-theme>. */
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const scheme = { light: "light", dark: "dark" }[theme] ?? "light dark";
  document.querySelector('meta[name="color-scheme"]')?.setAttribute("content", scheme);
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
  zone.replaceChildren(...zoneOptions().map(({ zone: value, label }) => h("option", { value, text: label })));
  zone.value = me.time_zone;
  form.elements.language.value = me.language ?? "";
  form.elements.theme.value = me.theme ?? "system";
  form.elements.theme.closest(".field").hidden = !isEnabled(THEME_FLAG);
  byId("settings-error").hidden = true;
  avatarError.hidden = true;
  renderAvatar();
  renderNotificationState();
  renderNotificationSettings();
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
    const changes = {
      display_name: form.elements.display_name.value,
      time_zone: form.elements.time_zone.value,
      language: form.elements.language.value,
    };
    if (isEnabled(THEME_FLAG)) changes.theme = form.elements.theme.value;
    const me = await api.patch("users/me/", changes);
    if ((me.language ?? "") !== languageBefore) {
      location.reload();
      return;
    }
    store.me = me;
    if (isEnabled(THEME_FLAG)) applyTheme(me.theme);
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

// --- notification settings (PATCH /users/me/notification-settings/, saved at once) ------------

const notificationSettings = byId("notification-settings");
// Behind the same flag as status and do not disturb (status-dialog.js).
notificationSettings.hidden = !isEnabled("status_dnd");

function renderNotificationSettings() {
  const settings = store.me?.notification_settings ?? {};
  for (const box of notificationSettings.querySelectorAll("[data-setting]")) {
    box.checked = settings[box.dataset.setting] ?? true;
  }
}

notificationSettings.addEventListener("change", async (event) => {
  const box = event.target.closest("[data-setting]");
  if (!box) return;
  box.disabled = true;
  try {
    const settings = await api.patch("users/me/notification-settings/", { [box.dataset.setting]: box.checked });
    store.me = { ...store.me, notification_settings: settings };
  } catch (failure) {
    box.checked = !box.checked;
    notify(failure.message, { kind: "error" });
  } finally {
    box.disabled = false;
  }
});
on("notification-settings", () => renderNotificationSettings());

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
