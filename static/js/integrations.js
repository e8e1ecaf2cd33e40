// Polls, bot buttons and link previews under messages, and the "command.response" notice.
// Messages are rendered by message-view.js, which knows nothing of these: this module watches
// the message list and thread for message articles, fetches what they carry in one request per
// batch (GET channels/<id>/extras/?ids=...), and adds it under the message body. Pushes
// (poll.updated, message.actions, link_preview.updated) update it live. Only with the
// `integrations` or `link_previews` flag; the server checks the same flags.

import { api } from "./api.js";
import { on } from "./bus.js";
import { h } from "./dom.js";
import { isEnabled } from "./features.js";
import { gettext, interpolate } from "./i18n.js";
import { notify, notifyError } from "./notices.js";
import { conversation, store } from "./store.js";

const polls = new Map(); // message id -> poll payload
const actions = new Map(); // message id -> [{id, label, style}]
const previews = new Map(); // message id -> [preview payload]
const fetched = new Set(); // message ids already asked about
const wanted = new Map(); // channel id -> Set of message ids to ask about
let flushTimer = null;

const active = () => isEnabled("integrations") || isEnabled("link_previews");

function articles(messageId) {
  return document.querySelectorAll(`article[data-message-id="${CSS.escape(String(messageId))}"]`);
}

function pollElement(messageId, poll) {
  const total = poll.total_votes || 0;
  return h(
    "div",
    { class: "poll", role: "group", "aria-label": poll.question },
    ...poll.options.map((option) => {
      const share = total ? Math.round((100 * option.votes) / total) : 0;
      const bar = h("span", { class: "poll-bar" });
      bar.style.width = `${share}%`; // CSSOM, not a style attribute: the CSP allows it
      return h(
        "button",
        { type: "button", class: "poll-option", dataset: { pollId: poll.id, optionId: option.id } },
        bar,
        h("span", { class: "poll-text", text: option.text }),
        h("span", { class: "poll-count", text: interpolate(gettext("%(votes)s votes"), { votes: option.votes }, true) }),
      );
    }),
    h("p", { class: "muted poll-total", text: interpolate(gettext("%(total)s votes in all"), { total }, true) }),
  );
}

function actionsElement(messageId, buttons) {
  return h(
    "div",
    { class: "bot-actions" },
    ...buttons.map((b) =>
      h("button", {
        type: "button",
        class: `button bot-action bot-action--${b.style}`,
        dataset: { actionMessage: messageId, actionId: b.id },
        text: b.label,
      }),
    ),
  );
}

function previewElement(preview, mine) {
  const remove = mine
    ? h("button", {
        type: "button",
        class: "icon-button icon-button--small link-preview-remove",
        dataset: { removePreview: preview.id },
        "aria-label": gettext("Remove preview"),
        title: gettext("Remove preview"),
        text: "×",
      })
    : null;
  return h(
    "div",
    { class: "link-preview" },
    // og:image is stored but not shown: the CSP allows images from this server only, and
    // proxying intranet images through it is not built yet.
    h(
      "div",
      { class: "link-preview-text" },
      preview.site_name ? h("div", { class: "muted link-preview-site", text: preview.site_name }) : null,
      h("a", { href: preview.url, target: "_blank", rel: "noopener noreferrer", class: "link-preview-title", text: preview.title || preview.url }),
      preview.description ? h("p", { class: "link-preview-description", text: preview.description }) : null,
    ),
    remove,
  );
}

function decorate(article) {
  const messageId = Number(article.dataset.messageId);
  const main = article.querySelector(".msg-main");
  if (!main || article.classList.contains("msg--deleted")) return;
  main.querySelector(":scope > .msg-extras")?.remove();
  const parts = [];
  if (polls.has(messageId)) parts.push(pollElement(messageId, polls.get(messageId)));
  if (actions.get(messageId)?.length) parts.push(actionsElement(messageId, actions.get(messageId)));
  const mine = conversation(Number(article.dataset.channelId)).byId.get(messageId)?.sender_id === store.me.id;
  for (const preview of previews.get(messageId) || []) parts.push(previewElement(preview, mine));
  if (!parts.length) return;
  const body = main.querySelector(":scope > .msg-body");
  const extras = h("div", { class: "msg-extras" }, ...parts);
  if (body) body.after(extras);
  else main.append(extras);
}

function redraw(messageId) {
  for (const article of articles(messageId)) decorate(article);
}

function want(article) {
  const messageId = Number(article.dataset.messageId);
  const channelId = Number(article.dataset.channelId);
  if (!messageId || !channelId) return;
  if (fetched.has(messageId)) {
    decorate(article);
    return;
  }
  fetched.add(messageId);
  if (!wanted.has(channelId)) wanted.set(channelId, new Set());
  wanted.get(channelId).add(messageId);
  if (!flushTimer) flushTimer = setTimeout(flush, 50);
}

async function flush() {
  flushTimer = null;
  const batches = [...wanted.entries()];
  wanted.clear();
  for (const [channelId, ids] of batches) {
    const list = [...ids];
    for (let start = 0; start < list.length; start += 200) {
      const chunk = list.slice(start, start + 200);
      try {
        const extras = await api.get(`channels/${channelId}/extras/`, { ids: chunk.join(",") });
        for (const [id, poll] of Object.entries(extras.polls || {})) polls.set(Number(id), poll);
        for (const [id, buttons] of Object.entries(extras.actions || {})) actions.set(Number(id), buttons);
        for (const [id, list_] of Object.entries(extras.previews || {})) previews.set(Number(id), list_);
        for (const id of chunk) redraw(id);
      } catch {
        for (const id of chunk) fetched.delete(id); // ask again when it is shown next
      }
    }
  }
}

const observer = new MutationObserver((records) => {
  if (!active()) return;
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (!(node instanceof Element)) continue;
      if (node.matches("article[data-message-id]")) want(node);
      for (const article of node.querySelectorAll("article[data-message-id]")) want(article);
    }
  }
});

for (const id of ["message-list", "thread-list"]) {
  const element = document.getElementById(id);
  if (element) observer.observe(element, { childList: true, subtree: true });
}

on("push", (frame) => {
  if (frame.type === "poll.updated") {
    polls.set(frame.poll.message_id, frame.poll);
    redraw(frame.poll.message_id);
  } else if (frame.type === "message.actions") {
    actions.set(frame.message_id, frame.actions);
    redraw(frame.message_id);
  } else if (frame.type === "link_preview.updated") {
    previews.set(frame.message_id, frame.previews);
    redraw(frame.message_id);
  } else if (frame.type === "command.response") {
    notify(frame.text, { kind: "info", timeout: 15_000 });
  }
});

document.addEventListener("click", (event) => {
  const option = event.target.closest("[data-option-id]");
  if (option) {
    api.post(`polls/${option.dataset.pollId}/vote/`, { option_id: Number(option.dataset.optionId) }).catch(notifyError);
    return;
  }
  const button = event.target.closest("[data-action-id]");
  if (button) {
    button.disabled = true;
    api
      .post(`messages/${button.dataset.actionMessage}/actions/${encodeURIComponent(button.dataset.actionId)}/`)
      .catch(notifyError)
      .finally(() => (button.disabled = false));
    return;
  }
  const remove = event.target.closest("[data-remove-preview]");
  if (remove) api.delete(`link-previews/${remove.dataset.removePreview}/`).catch(notifyError);
});
