// Composer autocomplete: "/" at the start over the slash commands this user may run, "@" over the channel's members (and @all / @channel), ":" over emoji
// names (inserts the character), "#" over channels (inserts a link the server keeps, which
// opens in place). Arrows move, Enter or Tab accepts, Esc closes; nothing happens while an IME
// is composing. The keys are caught on the form in the capture phase, before the composer's
// own Enter-sends handler.

import { api, getAll } from "./api.js";
import { config } from "./config.js";
import { EMOJI, emojiWords } from "./emoji.js";
import { h, isComposing } from "./dom.js";
import { gettext } from "./i18n.js";
import { isDirect, store } from "./store.js";
import { statusText } from "./user-status.js";

const MAX_ITEMS = 8;
const MEMBERS_TTL_MS = 60_000;
const TRIGGER = /(^|[\s(（，。、])([@#:])([^\s@#:]{0,40})$/u;
// A slash command is the whole message so far: "/" then its name, at the very start.
const COMMAND_TRIGGER = /^()(\/)([a-z0-9_-]{0,32})$/;
const COMMANDS_TTL_MS = 60_000;
let commandCache = null; // {at, rows}: GET /api/v1/commands/ (those this user may run)

async function commands() {
  if (commandCache && Date.now() - commandCache.at < COMMANDS_TTL_MS) return commandCache.rows;
  const rows = await api.get("commands/");
  commandCache = { at: Date.now(), rows: Array.isArray(rows) ? rows : [] };
  return commandCache.rows;
}


const memberCache = new Map(); // channelId -> {at, rows}

async function membersOf(channelId) {
  const channel = store.channels.get(channelId);
  if (channel && isDirect(channel) && channel.member_ids) {
    return channel.member_ids.map((id) => store.users.get(id)).filter(Boolean);
  }
  const cached = memberCache.get(channelId);
  if (cached && Date.now() - cached.at < MEMBERS_TTL_MS) return cached.rows;
  const rows = (await getAll(`channels/${channelId}/members/`, { limit: 200 }, 5)).map((m) => ({
    id: m.user_id,
    username: m.username,
    name: m.name,
  }));
  memberCache.set(channelId, { at: Date.now(), rows });
  return rows;
}

function startsOrContains(text, query) {
  const at = text.toLocaleLowerCase().indexOf(query);
  return at < 0 ? -1 : at === 0 ? 0 : 1;
}

function rankBy(items, query, keys) {
  const q = query.toLocaleLowerCase();
  return items
    .map((item) => ({ item, score: Math.min(...keys(item).map((k) => startsOrContains(k, q)).map((s) => (s < 0 ? 9 : s))) }))
    .filter((entry) => entry.score < 9)
    .sort((a, b) => a.score - b.score)
    .slice(0, MAX_ITEMS)
    .map((entry) => entry.item);
}

async function suggestions(trigger, query, channelId) {
  if (trigger === "/") {
    return (await commands())
      .filter((c) => c.name.startsWith(query.toLocaleLowerCase()))
      .slice(0, MAX_ITEMS)
      .map((c) => ({ label: `/${c.name}`, detail: `${c.description} — ${c.usage}`, insert: `/${c.name} ` }));
  }
  if (trigger === "@") {
    const people = (await membersOf(channelId)).filter((u) => u.id !== store.me.id);
    const found = rankBy(people, query, (u) => [u.username, u.name]).map((u) => ({
      label: u.name,
      detail: [`@${u.username}`, statusText(u.id)].filter(Boolean).join(" · "),
      insert: `@${u.username} `,
    }));
    const channel = store.channels.get(channelId);
    if (channel && !isDirect(channel)) {
      for (const [word, detail] of [["all", gettext("Notify everyone in this channel")], ["channel", gettext("Notify everyone in this channel")]]) {
        if (word.startsWith(query.toLocaleLowerCase())) found.push({ label: `@${word}`, detail, insert: `@${word} ` });
      }
    }
    return found.slice(0, MAX_ITEMS);
  }
  if (trigger === ":") {
    // Two letters before a Latin name is worth a list; one Chinese character already is ("笑").
    if (query.length < 2 && !/[^\x00-\x7f]/.test(query)) return [];
    const seen = new Set();
    return rankBy(EMOJI, query, emojiWords)
      .filter(([, char]) => !seen.has(char) && seen.add(char))
      .map(([name, char]) => ({ label: char, detail: `:${name}:`, insert: char }));
  }
  const channels = [...store.channels.values()].filter((c) => !isDirect(c) && c.name);
  return rankBy(channels, query, (c) => [c.name]).map((c) => ({
    label: `#${c.name}`,
    detail: c.topic || "",
    insert: `[#${c.name}](${location.origin}${config.channelUrl(c.id)}) `,
  }));
}

export class Autocomplete {
  /** @param channelOf () => the channel id the composer writes to */
  constructor(textarea, { channelOf }) {
    this.input = textarea;
    this.channelOf = channelOf;
    this.items = [];
    this.active = 0;
    this.token = null; // {start, end}
    this.request = 0;
    this.list = h("ul", { class: "autocomplete", role: "listbox", id: `${textarea.id}-suggestions`, hidden: true });
    textarea.closest(".composer").before(this.list);
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", this.list.id);
    textarea.addEventListener("input", () => this.update());
    textarea.addEventListener("click", () => this.update());
    textarea.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    textarea.form.addEventListener("keydown", (event) => this.onKeyDown(event), true);
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[data-index]");
      if (option) this.accept(Number(option.dataset.index));
    });
  }

  get isOpen() {
    return !this.list.hidden;
  }

  async update() {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret);
    const match = caret === this.input.selectionEnd ? before.match(COMMAND_TRIGGER) || before.match(TRIGGER) : null;
    const channelId = this.channelOf();
    if (!match || !channelId) {
      this.close();
      return;
    }
    const [, , trigger, query] = match;
    const ticket = ++this.request;
    let items;
    try {
      items = await suggestions(trigger, query, channelId);
    } catch {
      items = [];
    }
    if (ticket !== this.request) return; // a newer keystroke won
    this.token = { start: caret - query.length - 1, end: caret };
    this.items = items;
    this.active = 0;
    this.render();
  }

  render() {
    if (!this.items.length) {
      this.close();
      return;
    }
    this.list.replaceChildren(
      ...this.items.map((item, index) =>
        h(
          "li",
          { role: "option", id: `${this.list.id}-${index}`, class: "autocomplete-option", "aria-selected": String(index === this.active), dataset: { index } },
          h("span", { class: "autocomplete-label", text: item.label }),
          item.detail ? h("span", { class: "autocomplete-detail", text: item.detail }) : null,
        ),
      ),
    );
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
  }

  close() {
    this.request += 1;
    this.items = [];
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  accept(index) {
    const item = this.items[index];
    if (!item || !this.token) return;
    const { value } = this.input;
    this.input.value = value.slice(0, this.token.start) + item.insert + value.slice(this.token.end);
    const caret = this.token.start + item.insert.length;
    this.input.setSelectionRange(caret, caret);
    this.close();
    this.input.focus();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // draft, height, typing
  }

  onKeyDown(event) {
    if (!this.isOpen || event.target !== this.input || isComposing(event)) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      this.active = (this.active + moves[event.key] + this.items.length) % this.items.length;
      this.render();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.accept(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }
}
