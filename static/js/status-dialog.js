// Setting one's status and do-not-disturb, from the account menu: an emoji and a short text
// (or a suggestion), cleared after a while (PUT/DELETE /users/me/status/); notifications paused
// for a while or until a time, and a weekly schedule in one's time zone (PUT /users/me/dnd/).

import { api } from "./api.js";
import { byId, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatDateTime } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { notify } from "./notices.js";
import { store } from "./store.js";
import { applyUserStatus, currentStatus, notificationsPaused } from "./user-status.js";

// Behind the `status_dnd` feature flag: the server refuses the routes without it.
export const FLAG = "status_dnd";

byId("open-status").hidden = !isEnabled(FLAG);
byId("my-status").hidden = !isEnabled(FLAG);

const dialog = byId("status-dialog");
const statusForm = byId("status-form");
const dndForm = byId("dnd-form");

const PRESETS = [
  { emoji: "📅", text: () => gettext("In a meeting"), clearAfter: "1h" },
  { emoji: "🚌", text: () => gettext("Commuting"), clearAfter: "30m" },
  { emoji: "🤒", text: () => gettext("Out sick"), clearAfter: "today" },
  { emoji: "🌴", text: () => gettext("On holiday"), clearAfter: "never" },
];

// Monday first, as the server counts them (0 = Monday).
function dayNames() {
  const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { weekday: "short" });
  return [...Array(7).keys()].map((day) => format.format(new Date(Date.UTC(2024, 0, 1 + day, 12))));
}

function renderDays(selected) {
  const names = dayNames();
  byId("dnd-days").replaceChildren(
    ...names.map((name, day) =>
      h(
        "label",
        { class: "dnd-day" },
        h("input", { type: "checkbox", name: "day", value: String(day), checked: selected.includes(day) }),
        ` ${name}`,
      ),
    ),
  );
}

function showError(id, failure) {
  const error = byId(id);
  error.textContent = failure?.message ?? "";
  error.hidden = !failure;
}

function renderDndState() {
  const me = store.me;
  const paused = notificationsPaused(me.id);
  byId("dnd-state").textContent = paused
    ? interpolate(gettext("Notifications are paused until %(time)s."), { time: formatDateTime(new Date(me.dnd.until)) }, true)
    : gettext("Notifications are on.");
  byId("dnd-resume").hidden = !me.dnd?.until || !paused;
}

/** The answer of a status or pause change: mine everywhere it shows. */
function applyMine(answer) {
  store.me = { ...store.me, dnd_schedule: answer.dnd_schedule };
  applyUserStatus(store.me.id, answer);
  renderDndState();
}

function openStatus(opener) {
  const me = store.me;
  const status = currentStatus(me.id);
  statusForm.elements.emoji.value = status?.emoji ?? "";
  statusForm.elements.text.value = status?.text ?? "";
  statusForm.elements.clear_after.value = "today";
  byId("status-presets").replaceChildren(
    ...PRESETS.map((preset) =>
      h("button", { type: "button", class: "button status-preset", dataset: { clearAfter: preset.clearAfter, emoji: preset.emoji } }, `${preset.emoji} ${preset.text()}`),
    ),
  );
  const schedule = me.dnd_schedule ?? { enabled: false, days: [0, 1, 2, 3, 4], start: "19:00", end: "08:00" };
  byId("dnd-schedule-enabled").checked = schedule.enabled;
  renderDays(schedule.days.length ? schedule.days : [0, 1, 2, 3, 4]);
  byId("dnd-start").value = schedule.start ?? "19:00";
  byId("dnd-end").value = schedule.end ?? "08:00";
  byId("dnd-until").hidden = true;
  byId("dnd-duration").value = "60";
  showError("status-error", null);
  showError("dnd-error", null);
  renderDndState();
  dialog.returnFocusTo = opener;
  dialog.showModal();
  statusForm.elements.text.focus();
}

byId("status-presets").addEventListener("click", (event) => {
  const preset = event.target.closest(".status-preset");
  if (!preset) return;
  statusForm.elements.emoji.value = preset.dataset.emoji;
  statusForm.elements.text.value = preset.textContent.replace(preset.dataset.emoji, "").trim();
  statusForm.elements.clear_after.value = preset.dataset.clearAfter;
  statusForm.elements.text.focus();
});

async function change(errorId, call, message) {
  showError(errorId, null);
  try {
    applyMine(await call());
    notify(message, { kind: "info", timeout: 3000 });
    return true;
  } catch (failure) {
    showError(errorId, failure);
    return false;
  }
}

statusForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    emoji: statusForm.elements.emoji.value.trim(),
    text: statusForm.elements.text.value.trim(),
    clear_after: statusForm.elements.clear_after.value,
  };
  if (await change("status-error", () => api.put("users/me/status/", body), gettext("Status saved."))) dialog.close();
});
byId("status-clear").addEventListener("click", async () => {
  statusForm.elements.emoji.value = "";
  statusForm.elements.text.value = "";
  await change("status-error", () => api.delete("users/me/status/"), gettext("Status cleared."));
});

function scheduleBody() {
  return {
    enabled: byId("dnd-schedule-enabled").checked,
    days: [...dndForm.querySelectorAll('input[name="day"]:checked')].map((box) => Number(box.value)),
    start: byId("dnd-start").value || null,
    end: byId("dnd-end").value || null,
  };
}

/** The pause the form asks for, as the body's `minutes` or `until`. */
function pauseBody() {
  const choice = byId("dnd-duration").value;
  if (choice === "tomorrow") {
    const morning = new Date();
    morning.setDate(morning.getDate() + 1);
    morning.setHours(8, 0, 0, 0);
    return { until: morning.toISOString() };
  }
  if (choice === "at") {
    const value = byId("dnd-until").value;
    return { until: value ? new Date(value).toISOString() : null };
  }
  return { minutes: Number(choice) };
}

byId("dnd-duration").addEventListener("change", () => {
  byId("dnd-until").hidden = byId("dnd-duration").value !== "at";
});
byId("dnd-pause").addEventListener("click", () =>
  change("dnd-error", () => api.put("users/me/dnd/", { ...pauseBody(), schedule: scheduleBody() }), gettext("Notifications paused.")),
);
byId("dnd-resume").addEventListener("click", () =>
  change("dnd-error", () => api.put("users/me/dnd/", { until: null, schedule: scheduleBody() }), gettext("Notifications resumed.")),
);
dndForm.addEventListener("submit", (event) => {
  event.preventDefault();
  // Without `until` or `minutes`, a pause set by hand runs on.
  change("dnd-error", () => api.put("users/me/dnd/", { schedule: scheduleBody() }), gettext("Schedule saved."));
});

dialog.addEventListener("click", (event) => {
  if (event.target === dialog || event.target.closest('[data-action="close-dialog"]')) dialog.close();
});
dialog.addEventListener("close", () => dialog.returnFocusTo?.focus());
document.addEventListener("click", (event) => {
  const control = event.target.closest('[data-action="open-status"]');
  if (!control || !store.me) return;
  control.closest("details")?.removeAttribute("open");
  openStatus(document.querySelector(".user-menu-summary"));
});
