// "Download my data" in Settings: ask for a ZIP of one's own data (POST /me/data-export/), show
// whether it is being prepared, ready (with its link and until when) or expired
// (GET /me/data-export/), and follow the `data_export.ready` push, which reaches one's own tabs.
// The download itself is a plain link: the server checks it is the requester's.
// Behind the `data_export` flag: without it the section is hidden (and the routes answer 404).

import { api } from "./api.js";
import { on } from "./bus.js";
import { byId, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatDateTime, formatNumber } from "./format.js";
import { gettext, interpolate } from "./i18n.js";

const section = byId("settings-data-export");
const button = byId("settings-data-export-request");
const state = byId("settings-data-export-state");
const FLAG = "data_export";

function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return interpolate(gettext("%s MB"), [formatNumber(Math.ceil(bytes / (1024 * 1024)))]);
  return interpolate(gettext("%s kB"), [formatNumber(Math.max(1, Math.ceil(bytes / 1024)))]);
}

function render(exports) {
  const latest = exports[0];
  const building = latest && (latest.status === "pending" || latest.status === "running");
  button.disabled = Boolean(building);
  state.dataset.status = latest?.status ?? "none";
  if (!latest) {
    state.replaceChildren();
  } else if (building) {
    state.replaceChildren(gettext("Your data is being prepared. This page tells you when it is ready."));
  } else if (latest.status === "ready") {
    const until = formatDateTime(new Date(latest.expires_at));
    state.replaceChildren(
      h("a", { href: latest.download_url, class: "data-export-link", download: "" }, gettext("Download the ZIP file")),
      ` (${sizeText(latest.size)}) `,
      interpolate(gettext("The link works until %s."), [until]),
    );
  } else if (latest.status === "expired") {
    state.replaceChildren(gettext("Your last copy has expired. Ask for a new one."));
  } else {
    state.replaceChildren(gettext("Preparing your data failed. Please try again."));
  }
}

async function refresh() {
  try {
    render(await api.get("me/data-export/"));
  } catch {
    // The section stays as it was; the button still works.
  }
}

button.addEventListener("click", async () => {
  button.disabled = true;
  try {
    const created = await api.post("me/data-export/");
    render([created]);
    await refresh();
  } catch (failure) {
    state.dataset.status = "error";
    state.replaceChildren(failure.message);
    button.disabled = false;
  }
});

section.hidden = !isEnabled(FLAG);

document.addEventListener("click", (event) => {
  if (!event.target.closest('[data-action="open-settings"]')) return;
  section.hidden = !isEnabled(FLAG); // the flags may have been read again since
  if (!section.hidden) refresh();
});

on("push", (frame) => {
  if (frame.type === "data_export.ready" && isEnabled(FLAG)) refresh();
});
