// Start-up: wires the behaviours together, connects the socket, loads me, the people I can see
// and my channels, then opens the channel asked for by the URL (or the last one).
// After every reconnect, the channel list and cached channels are brought up to date (sync.js).

import "./calls.js";
import "./meeting-entry.js";
import "./channel-details.js";
import "./integrations.js";
import "./bots.js";
import "./connection.js";
import "./typing.js";
import "./unread.js";
import { getAll, api } from "./api.js";
import { on } from "./bus.js";
import { config } from "./config.js";
import { openChannel, openDefaultChannel } from "./conversation.js";
import { initDialogs } from "./dialogs.js";
import { byId, h } from "./dom.js";
import { setTimeZone } from "./format.js";
import { gettext } from "./i18n.js";
import { hydrateIcons } from "./icons.js";
import { notifyError } from "./notices.js";
import { jumpToMessage, linkedMessageId } from "./permalink.js";
import "./pins.js";
import { loadPresence } from "./presence.js";
import { initSidebar } from "./sidebar.js";
import * as socket from "./socket.js";
import { initInbox } from "./inbox.js";
import { initSaved } from "./saved.js";
import { replaceChannels, setUsers, store } from "./store.js";
import { resync } from "./sync.js";
import "./notifications.js";
import "./quick-switcher.js";
import "./relative-time.js";
import "./reminders.js";
import "./search.js";
import "./sidebar-sections.js";
import "./settings.js";
import "./data-export.js";
import "./shortcuts.js";
import "./status-dialog.js";
import "./user-status.js";
import "./thread.js";
import "./user-card.js";
import "./viewer.js";

const FIRST_CONNECT_WAIT_MS = 4_000;
let started = false;
let fetching = false;
let resyncAfterStart = false;

/** Resolve when the socket says hello (or after a while: REST works without it). */
function firstOpen() {
  return new Promise((resolve) => {
    const stop = on("socket:open", () => {
      stop();
      resolve(true);
    });
    setTimeout(() => {
      stop();
      resolve(false);
    }, FIRST_CONNECT_WAIT_MS);
  });
}

// Every open after start-up: whatever happened while the socket was down is fetched. An open
// during the start-up fetches may have missed pushes from before it: resync once started.
on("socket:open", () => {
  if (started) resync().catch(() => {});
  else if (fetching) resyncAfterStart = true;
});

// The server lost its event bus for a moment (Redis restarting): pushes may have been missed.
on("push", (frame) => {
  if (frame.type !== "resync") return;
  if (started) resync().catch(() => {});
  else if (fetching) resyncAfterStart = true;
});

function showStartError(error) {
  const retry = h("button", { type: "button", class: "button button--primary", text: gettext("Try again") });
  retry.addEventListener("click", () => location.reload());
  byId("history-status").replaceChildren(
    h("p", { class: "history-error", text: error.message || gettext("Enclave could not start.") }),
    retry,
  );
  byId("conversation-title").textContent = gettext("Enclave could not start.");
}

async function start() {
  hydrateIcons();
  initSidebar({ onOpenChannel: (id) => openChannel(id) });
  initDialogs({ onOpenChannel: (id) => openChannel(id) });
  socket.connect();
  // Subscribed before the fetches below, so nothing that happens after them is missed.
  await firstOpen();
  fetching = true;
  const [me, users, channels] = await Promise.all([
    api.get("users/me/"),
    getAll("users/", { limit: 500 }),
    api.get("channels/"),
  ]);
  store.me = me;
  setTimeZone(me.time_zone);
  setUsers(users.some((u) => u.id === me.id) ? users : [...users, me]);
  replaceChannels(channels);
  byId("my-presence").dataset.presenceUser = String(me.id);
  started = true;
  if (resyncAfterStart) resync().catch(() => {});
  loadPresence([...store.users.keys()]).catch(() => {});
  initSaved();
  initInbox(); // above "Saved items", right under the search
  config.root.classList.remove("is-loading");
  const linked = linkedMessageId();
  if (linked) await jumpToMessage(linked, { history: "replace" }).catch(notifyError);
  else if (config.initialChannelId) await openChannel(config.initialChannelId, { history: "replace" });
  else await openDefaultChannel({ history: "replace" });
}

start().catch((error) => {
  console.error(error);
  showStartError(error);
});
