// The quick switcher: Ctrl/Cmd-K opens a search over my conversations (a direct message also by
// its people's usernames), the people I can message and the public channels I have not joined;
// arrows move, Enter opens (a direct message is started when there is none yet, a public channel
// opens to read and join), Esc closes. ARIA combobox pattern: focus stays in the input, the
// active option is announced.

import * as actions from "./actions.js";
import { getAll } from "./api.js";
import { openChannel } from "./conversation.js";
import { byId, h } from "./dom.js";
import { gettext } from "./i18n.js";
import { icon } from "./icons.js";
import { notifyError } from "./notices.js";
import { channelLabel, dmPartners, isDirect, store } from "./store.js";

const MAX_RESULTS = 12;
const dialog = byId("switcher-dialog");
const input = byId("switcher-input");
const list = byId("switcher-list");
let results = [];
let active = 0;
let publicChannels = []; // channels/browse/, fetched each time the switcher opens

function candidates() {
  const mine = [...store.channels.values()].filter((c) => c.membership);
  const withDm = new Set(
    mine.filter((c) => isDirect(c) && dmPartners(c).length === 1).map((c) => dmPartners(c)[0]),
  );
  const conversations = mine.map((channel) => ({
    key: `c${channel.id}`,
    label: channelLabel(channel),
    detail: isDirect(channel) ? gettext("Direct message") : channel.topic || "",
    search: [
      channelLabel(channel),
      channel.name ?? "",
      // A direct message is found by its people's usernames too ("zhangwei" for 张伟).
      ...(isDirect(channel) ? dmPartners(channel).map((id) => store.users.get(id)?.username ?? "") : []),
    ].join(" "),
    unread: channel.unread_count || 0,
    mark: isDirect(channel) ? icon("user") : icon(channel.kind === "private" ? "lock" : "hash"),
    open: () => openChannel(channel.id),
  }));
  const people = [...store.users.values()]
    .filter((user) => user.id !== store.me.id && !withDm.has(user.id) && user.is_active !== false)
    .map((user) => ({
      key: `u${user.id}`,
      label: user.name,
      detail: `@${user.username}`,
      search: `${user.name} ${user.username}`,
      unread: 0,
      mark: icon("user"),
      open: async () => openChannel((await actions.openDirect([user.id])).id),
    }));
  const unjoined = publicChannels
    .filter((channel) => !channel.is_member && !store.channels.get(channel.id)?.membership)
    .map((channel) => ({
      key: `p${channel.id}`,
      label: channel.name,
      detail: channel.topic ? `${gettext("Not joined")} · ${channel.topic}` : gettext("Not joined"),
      search: channel.name,
      unread: 0,
      notJoined: true,
      mark: icon("hash"),
      open: () => openChannel(channel.id),
    }));
  return [...conversations, ...people, ...unjoined];
}

/**
 * Prefix matches before substring matches, my conversations before channels I have not joined
 * (which only a query shows); without a query, unread conversations first.
 */
function rank(query) {
  const q = query.trim().toLocaleLowerCase();
  const scored = [];
  for (const item of candidates()) {
    if (item.notJoined && !q) continue;
    const words = item.search.toLocaleLowerCase();
    const at = q ? words.indexOf(q) : 0;
    if (at < 0) continue;
    const prefix = at === 0 || /[\s#@_-]/.test(words[at - 1]);
    scored.push({ item, score: (prefix ? 0 : 4) + (item.unread ? 0 : 1) + (item.notJoined ? 2 : 0) });
  }
  scored.sort((a, b) => a.score - b.score || a.item.label.localeCompare(b.item.label));
  return scored.slice(0, MAX_RESULTS).map((s) => s.item);
}

function render() {
  results = rank(input.value);
  active = Math.min(active, Math.max(results.length - 1, 0));
  list.replaceChildren(
    ...results.map((item, index) =>
      h(
        "li",
        {
          id: `switcher-option-${item.key}`,
          role: "option",
          class: "switcher-option",
          "aria-selected": String(index === active),
          dataset: { index },
        },
        h("span", { class: "switcher-mark", "aria-hidden": "true" }, item.mark),
        h("span", { class: "switcher-label", text: item.label }),
        item.detail ? h("span", { class: "switcher-detail", text: item.detail }) : null,
        item.unread ? h("span", { class: "badge", text: String(item.unread) }) : null,
      ),
    ),
  );
  if (!results.length) list.append(h("li", { class: "switcher-empty", text: gettext("Nothing matches.") }));
  const current = results[active];
  if (current) {
    input.setAttribute("aria-activedescendant", `switcher-option-${current.key}`);
    byId(`switcher-option-${current.key}`)?.scrollIntoView({ block: "nearest" });
  } else input.removeAttribute("aria-activedescendant");
}

function choose(index) {
  const item = results[index];
  if (!item) return;
  dialog.close();
  Promise.resolve(item.open()).catch(notifyError);
}

export function openSwitcher() {
  if (!store.me || dialog.open) return;
  dialog.returnFocusTo = document.activeElement;
  input.value = "";
  active = 0;
  render();
  dialog.showModal();
  input.focus();
  // Public channels change rarely, but one created or left since the last look should be found.
  getAll("channels/browse/", { limit: 200 }, 5).then(
    (channels) => {
      publicChannels = channels;
      if (dialog.open) render();
    },
    () => {}, // the switcher still finds my conversations and people
  );
}

input.addEventListener("input", () => {
  active = 0;
  render();
});
input.addEventListener("keydown", (event) => {
  if (event.isComposing || event.keyCode === 229) return;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (!results.length) return;
    active = (active + (event.key === "ArrowDown" ? 1 : -1) + results.length) % results.length;
    render();
  } else if (event.key === "Enter") {
    event.preventDefault();
    choose(active);
  }
});
list.addEventListener("click", (event) => {
  const option = event.target.closest("[data-index]");
  if (option) choose(Number(option.dataset.index));
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close();
});
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
    event.preventDefault();
    if (dialog.open) dialog.close();
    else openSwitcher();
  }
});
document.addEventListener("click", (event) => {
  if (event.target.closest('[data-action="open-switcher"]')) openSwitcher();
});
