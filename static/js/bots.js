// Settings -> Bots: the bots this user manages (their own; every bot for administrators):
// create one (its first token is shown once), add a token, revoke tokens, add an incoming
// webhook to a channel (its URL is shown once), deactivate. Behind the `integrations` flag;
// who may create bots is the organisation's setting (the server answers `cannot_create_bot`).

import { api } from "./api.js";
import { byId, h } from "./dom.js";
import { isEnabled } from "./features.js";
import { gettext, interpolate } from "./i18n.js";
import { notifyError } from "./notices.js";
import { isDirect, store } from "./store.js";

const section = byId("settings-bots");
const list = byId("settings-bot-list");
const secret = byId("settings-bot-secret");

function showOnce(label, value) {
  secret.replaceChildren(
    h("strong", { text: label }),
    " ",
    h("code", { text: value }),
    " ",
    h("span", { class: "muted", text: gettext("Copy it now: it is not shown again.") }),
  );
  secret.hidden = false;
}

function channelPicker() {
  const channels = [...store.channels.values()].filter((c) => !isDirect(c) && c.name);
  return h(
    "select",
    { class: "bot-hook-channel", "aria-label": gettext("Channel") },
    ...channels.map((c) => h("option", { value: c.id, text: `#${c.name}` })),
  );
}

function tokenRow(bot, token) {
  const revoke = h("button", { type: "button", class: "link-button", text: gettext("Revoke") });
  revoke.addEventListener("click", async () => {
    try {
      await api.delete(`bots/${bot.id}/tokens/${token.id}/`);
      await render();
    } catch (error) {
      notifyError(error);
    }
  });
  return h("li", {}, h("code", { text: `${token.prefix}…` }), ` ${token.name} `, revoke);
}

async function botItem(bot) {
  const detail = await api.get(`bots/${bot.id}/`);
  const addToken = h("button", { type: "button", class: "button", text: gettext("New token") });
  addToken.addEventListener("click", async () => {
    try {
      const made = await api.post(`bots/${bot.id}/tokens/`, { name: new Date().toISOString().slice(0, 10) });
      showOnce(gettext("Token:"), made.token);
      await render();
    } catch (error) {
      notifyError(error);
    }
  });
  const picker = channelPicker();
  const addHook = h("button", { type: "button", class: "button", text: gettext("Add incoming webhook") });
  addHook.addEventListener("click", async () => {
    try {
      const made = await api.post(`bots/${bot.id}/incoming-webhooks/`, {
        channel_id: Number(picker.value),
        name: picker.selectedOptions[0]?.textContent || "webhook",
      });
      showOnce(gettext("Webhook URL:"), made.url);
      await render();
    } catch (error) {
      notifyError(error);
    }
  });
  const deactivate = h("button", { type: "button", class: "button button--danger", text: gettext("Deactivate") });
  deactivate.addEventListener("click", async () => {
    if (!confirm(interpolate(gettext("Deactivate %(name)s and revoke its tokens?"), { name: bot.username }, true))) return;
    try {
      await api.delete(`bots/${bot.id}/`);
      await render();
    } catch (error) {
      notifyError(error);
    }
  });
  return h(
    "li",
    { class: "bot-item" },
    h("strong", { text: bot.display_name || bot.username }),
    ` @${bot.username} `,
    bot.is_active ? null : h("span", { class: "muted", text: gettext("(deactivated)") }),
    h("ul", { class: "bot-tokens" }, ...detail.tokens.map((t) => tokenRow(bot, t))),
    h(
      "p",
      { class: "muted" },
      interpolate(gettext("%(count)s incoming webhooks"), { count: detail.incoming_webhooks.length }, true),
    ),
    bot.is_active ? h("div", { class: "bot-item-actions" }, addToken, picker, addHook, deactivate) : null,
  );
}

async function render() {
  const bots = await api.get("bots/");
  list.replaceChildren(...(await Promise.all(bots.map(botItem))));
}

byId("settings-bot-add")?.addEventListener("click", async () => {
  const input = byId("settings-bot-username");
  const username = input.value.trim();
  if (!username) return;
  try {
    const made = await api.post("bots/", { username });
    showOnce(gettext("Token:"), made.token);
    input.value = "";
    await render();
  } catch (error) {
    notifyError(error);
  }
});

// The settings dialog opens: show the section (flag on) and load the list.
document.addEventListener("click", (event) => {
  if (!section || !event.target.closest('[data-action="open-settings"]')) return;
  section.hidden = !isEnabled("integrations");
  secret.hidden = true;
  if (!section.hidden) render().catch(notifyError);
});
