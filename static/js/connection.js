// The connection banner: "Reconnecting…" with a countdown and "Retry now" while the socket is
// down, "You are offline" when the browser says so, "Connected again" briefly once it is back,
// and a sign-in prompt when the session has ended.

import { api } from "./api.js";
import { on } from "./bus.js";
import { byId } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import * as socket from "./socket.js";

const banner = byId("connection-banner");
const text = byId("connection-text");
const retry = byId("connection-retry");
const SHOW_AFTER_MS = 1_500; // do not flash the banner for a blip
let state = "connecting";
let retryAt = 0;
let countdown = null;
let showTimer = null;
let hideTimer = null;
let wasDown = false;

function show(message, { canRetry = false, kind = "warning" } = {}) {
  clearTimeout(hideTimer);
  text.textContent = message;
  retry.hidden = !canRetry;
  banner.dataset.kind = kind;
  banner.hidden = false;
  document.body.classList.add("has-banner");
}

function hide() {
  banner.hidden = true;
  document.body.classList.remove("has-banner");
}

function describe() {
  if (!navigator.onLine) {
    show(gettext("You are offline. Messages will be sent when the connection is back."), { canRetry: false });
    return;
  }
  if (state === "waiting") {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    show(
      seconds > 0
        ? interpolate(gettext("Connection lost. Reconnecting in %(seconds)s s…"), { seconds }, true)
        : gettext("Reconnecting…"),
      { canRetry: true },
    );
  } else if (state === "reconnecting" || state === "connecting") {
    show(gettext("Reconnecting…"));
  }
}

on("socket:state", (detail) => {
  state = detail.state;
  retryAt = detail.retryAt ?? 0;
  clearInterval(countdown);
  if (state === "open") {
    clearTimeout(showTimer);
    showTimer = null;
    if (wasDown && !banner.hidden) {
      show(gettext("Connected again."), { kind: "ok" });
      hideTimer = setTimeout(hide, 2_000);
    } else {
      hide();
    }
    wasDown = false;
    return;
  }
  wasDown = true;
  if (!banner.hidden) describe();
  else if (!showTimer) {
    showTimer = setTimeout(() => {
      showTimer = null;
      if (state !== "open") describe();
    }, SHOW_AFTER_MS);
  }
  if (state === "waiting") {
    countdown = setInterval(() => {
      if (!banner.hidden) describe();
    }, 1_000);
  }
});

on("socket:unauthenticated", () => {
  show(gettext("Your session has ended. Taking you to the sign-in page…"), { kind: "error" });
  // A 401 here redirects to the sign-in page (api.js).
  api.get("users/me/").catch(() => {});
});

// Repeated refusals: ask the REST API whether we are still signed in (a 401 there redirects to
// the sign-in page; any other answer means the server is just not ready yet).
on("socket:refused", ({ attempt }) => {
  if (attempt >= 1 && navigator.onLine) api.get("users/me/").catch(() => {});
});

retry.addEventListener("click", () => socket.reconnectNow());
window.addEventListener("offline", () => {
  if (!banner.hidden || state !== "open") describe();
  else show(gettext("You are offline. Messages will be sent when the connection is back."));
});
window.addEventListener("online", () => {
  if (state === "open") hide();
});
