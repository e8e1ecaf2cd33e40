// Message search: Ctrl/Cmd-Shift-F (or the sidebar button) opens a dialog that searches the
// messages I may read (GET /api/v1/search/), newest first, as I type; optionally only the open
// conversation. ARIA combobox pattern like the quick switcher: focus stays in the input, arrows
// choose a result and Enter (or a click) opens it in its conversation; Enter with none chosen
// searches at once; Esc closes.
// A result's `html` comes sanitised from the server and is the only value set with innerHTML.

import { api } from "./api.js";
import { byId, debounce, h, isComposing } from "./dom.js";
import { formatDateTime, formatRelative, formatWhen } from "./format.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { notifyError } from "./notices.js";
import { jumpToMessage } from "./permalink.js";
import { channelLabel, isDirect, store, userName } from "./store.js";

const PAGE_SIZE = 20;
const TYPING_PAUSE_MS = 300;
// The server's CJK ranges (apps/search/selectors.py): such runs are terms of their own.
const CJK_RUN = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+/gu;

const dialog = byId("search-dialog");
const input = byId("search-input");
const scope = byId("search-scope");
const scopeBox = byId("search-this-channel");
const status = byId("search-status");
const list = byId("search-results");
const more = byId("search-more");

let results = [];
let active = -1; // nothing chosen until an arrow key says so: Enter searches
let hasMore = false;
let nextBeforeId = null;
let shown = null; // {q, channelId} of the results on screen
let generation = 0; // answers to superseded requests are dropped

/** The query as the server cleans it: words separated by one space. */
function currentQuery() {
  return input.value.split(/\s+/).filter(Boolean).join(" ");
}

function scopeChannelId() {
  return scopeBox.checked && !scope.hidden ? store.activeChannelId : null;
}

function isShown(q, channelId) {
  return shown !== null && shown.q === q && shown.channelId === channelId;
}

function setStatus(text, { error = false } = {}) {
  status.textContent = text;
  status.classList.toggle("search-status--error", error);
}

function channelName(channelId) {
  const channel = store.channels.get(channelId);
  if (!channel) return "";
  return isDirect(channel) ? channelLabel(channel) : `#${channelLabel(channel)}`;
}

function timeElement(date) {
  const relative = formatRelative(date);
  return h("time", {
    class: "search-result-time",
    datetime: date.toISOString(),
    title: formatDateTime(date),
    // Kept fresh by relative-time.js while recent; older ones show the day, not only the clock.
    dataset: relative !== null ? { relative: "" } : undefined,
    text: relative ?? formatWhen(date),
  });
}

/** The query's terms as the fallback search sees them: words, and CJK runs on their own. */
function terms(query) {
  const words = query.replace(CJK_RUN, (run) => ` ${run} `).split(/\s+/).filter(Boolean);
  return [...new Set(words.map((word) => word.toLocaleLowerCase()))].sort((a, b) => b.length - a.length);
}

/** Wrap the query's terms in <mark> inside `root`'s text (text nodes only, no markup parsed). */
function highlight(root, query) {
  const found = terms(query);
  if (!found.length) return;
  const pattern = new RegExp(found.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "giu");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.nodeValue;
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      parts.push(text.slice(last, match.index), h("mark", { class: "search-hit", text: match[0] }));
      last = match.index + match[0].length;
    }
    if (!parts.length) continue;
    parts.push(text.slice(last));
    node.replaceWith(...parts.filter((part) => part !== ""));
  }
}

function resultElement(message, index, query) {
  const body = h("div", { class: "msg-body search-result-body" });
  body.innerHTML = message.html; // sanitised server-side (apps/chat/markdown.py)
  highlight(body, query);
  // The whole result is one option: links inside it are not stops of their own.
  for (const link of body.querySelectorAll("a, button, input")) link.setAttribute("tabindex", "-1");
  const where = channelName(message.channel_id);
  return h(
    "li",
    {
      id: `search-result-${message.id}`,
      role: "option",
      class: "search-result",
      "aria-selected": String(index === active),
      dataset: { index },
    },
    h(
      "div",
      { class: "search-result-meta" },
      h("span", { class: "search-result-author", text: message.sender_name || userName(message.sender_id) }),
      where ? h("span", { class: "search-result-channel", text: where }) : null,
      message.thread_root_id ? h("span", { class: "search-result-thread", text: gettext("Thread reply") }) : null,
      timeElement(new Date(message.created_at)),
    ),
    body,
  );
}

function render() {
  const query = shown?.q ?? "";
  list.replaceChildren(...results.map((message, index) => resultElement(message, index, query)));
  input.setAttribute("aria-expanded", String(results.length > 0));
  more.hidden = !hasMore;
  renderActive();
}

function renderActive() {
  for (const option of list.children) {
    option.setAttribute("aria-selected", String(Number(option.dataset.index) === active));
  }
  const current = results[active];
  if (current) {
    input.setAttribute("aria-activedescendant", `search-result-${current.id}`);
    byId(`search-result-${current.id}`)?.scrollIntoView({ block: "nearest" });
  } else input.removeAttribute("aria-activedescendant");
}

function renderCount() {
  if (!results.length) setStatus(gettext("No messages match your search."));
  else if (hasMore) setStatus(interpolate(gettext("More than %s messages found"), [results.length]));
  else setStatus(interpolate(ngettext("%s message found", "%s messages found", results.length), [results.length]));
}

function clear() {
  generation += 1;
  results = [];
  active = -1;
  hasMore = false;
  nextBeforeId = null;
  shown = null;
  list.removeAttribute("aria-busy");
  render();
  setStatus(gettext("Every word must match. Chinese needs no spaces."));
}

/** A new search for the input's query (the results on screen stay until the answer comes). */
async function search() {
  searchSoon.cancel();
  const q = currentQuery();
  if (!q) {
    clear();
    return;
  }
  const channelId = scopeChannelId();
  const mine = ++generation;
  active = -1;
  renderActive();
  list.setAttribute("aria-busy", "true");
  more.hidden = true;
  setStatus(gettext("Searching…"));
  try {
    const page = await api.get("search/", { q, channel_id: channelId, limit: PAGE_SIZE });
    if (mine !== generation) return;
    results = page.results;
    hasMore = page.has_more;
    nextBeforeId = page.next_before_id;
    shown = { q, channelId };
    list.removeAttribute("aria-busy");
    render();
    renderCount();
  } catch (error) {
    if (mine !== generation) return;
    results = [];
    hasMore = false;
    shown = null; // Enter tries again
    list.removeAttribute("aria-busy");
    render();
    setStatus(error.message, { error: true });
  }
}

const searchSoon = debounce(() => search(), TYPING_PAUSE_MS);

/** The next page of the results on screen. */
async function loadMore() {
  if (!shown || !hasMore) return;
  const { q, channelId } = shown;
  const mine = ++generation;
  more.disabled = true;
  setStatus(gettext("Loading…"));
  try {
    const page = await api.get("search/", { q, channel_id: channelId, before_id: nextBeforeId, limit: PAGE_SIZE });
    if (mine !== generation) return;
    results = [...results, ...page.results];
    hasMore = page.has_more;
    nextBeforeId = page.next_before_id;
    const firstNew = results.length - page.results.length;
    render();
    renderCount();
    if (!hasMore) input.focus();
    byId(`search-result-${results[firstNew]?.id}`)?.scrollIntoView({ block: "nearest" });
  } catch (error) {
    if (mine === generation) setStatus(error.message, { error: true });
  } finally {
    more.disabled = false;
  }
}

function choose(index) {
  const message = results[index];
  if (!message) return;
  dialog.returnFocusTo = null; // the conversation takes the focus to the message
  dialog.close();
  jumpToMessage(message.id).catch(notifyError);
}

export function openSearch() {
  if (!store.me || dialog.open) return;
  dialog.returnFocusTo = document.activeElement;
  const channelId = store.activeChannelId;
  scope.hidden = !channelId || !store.channels.has(channelId);
  if (!scope.hidden) {
    byId("search-scope-text").textContent = interpolate(gettext("Only in %(name)s"), { name: channelName(channelId) }, true);
  }
  dialog.showModal();
  input.focus();
  input.select();
  // The last query stays, and is run again: new messages may match, or another conversation.
  if (currentQuery()) search();
  else clear();
}

input.addEventListener("input", (event) => {
  if (isComposing(event)) return; // compositionend schedules it once the characters are in
  searchSoon();
});
input.addEventListener("compositionend", () => searchSoon());
input.addEventListener("keydown", (event) => {
  if (isComposing(event)) return;
  if (event.key === "Escape") {
    // A search field's Esc would only empty it: one Esc closes, as the hint says.
    event.preventDefault();
    dialog.close();
  } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (!results.length) return;
    const step = event.key === "ArrowDown" ? 1 : -1;
    active = Math.min(Math.max(active + step, 0), results.length - 1);
    renderActive();
  } else if (event.key === "Enter") {
    event.preventDefault();
    if (active >= 0 && isShown(currentQuery(), scopeChannelId())) choose(active);
    else search();
  }
});
scopeBox.addEventListener("change", () => search());
more.addEventListener("click", () => loadMore());
list.addEventListener("click", (event) => {
  const option = event.target.closest("[data-index]");
  if (!option) return;
  // A link in the message text opens the message, not the link (nor permalink.js's handler).
  event.preventDefault();
  event.stopPropagation();
  choose(Number(option.dataset.index));
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close(); // a click on the backdrop
});
dialog.addEventListener("close", () => {
  searchSoon.cancel();
  dialog.returnFocusTo?.focus();
});
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.shiftKey && !event.altKey && event.key?.toLowerCase() === "f") {
    event.preventDefault();
    if (dialog.open) dialog.close();
    else if (!document.querySelector("dialog[open]")) openSearch();
  }
});
document.addEventListener("click", (event) => {
  if (event.target.closest('[data-action="open-search"]')) openSearch();
});
