// One message as DOM: avatar, author, time, the server-rendered body, reactions, the thread
// summary and the action toolbar; and the optimistic copy of a message still being sent.
// `message.html` comes sanitised from the server and is the ONLY value ever assigned with
// innerHTML; everything else goes through textContent.

import { aiLabel, isAssistantMessage } from "./assistant.js";
import { attachmentsElement } from "./attachments.js";
import { avatarElement } from "./avatar.js";
import { config } from "./config.js";
import { h } from "./dom.js";
import { isEnabled } from "./features.js";
import { formatDateTime, formatMessageTime, formatNumber, formatRelative, formatTime, formatWhen } from "./format.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { icon } from "./icons.js";
import { canPin, pinMarker } from "./pins.js";
import { receiptElement } from "./receipts.js";
import { isSaved, savedEnabled } from "./saved.js";
import { store, userName } from "./store.js";

export const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "👀", "✅"];

function avatar(userId, name) {
  return avatarElement(userId, name);
}

/** The title is the full date and time in the user's zone; `relative` times are kept fresh by relative-time.js. */
function timeElement(date, className, text, { relative = false } = {}) {
  return h("time", {
    class: className,
    datetime: date.toISOString(),
    title: formatDateTime(date),
    dataset: relative && formatRelative(date) !== null ? { relative: "" } : undefined,
    text,
  });
}

/** Whether I may delete this message: mine, or I administer the channel. */
function canDelete(message, channel) {
  if (message.sender_id === store.me.id) return true;
  if (!channel?.membership || channel.kind === "direct" || channel.kind === "group") return false;
  return channel.membership.role === "admin" || ["owner", "admin"].includes(store.me.role);
}

function actionButton(act, iconName, label, tabbable) {
  return h(
    "button",
    { type: "button", class: "icon-button icon-button--small", dataset: { act }, "aria-label": label, title: label, tabindex: tabbable ? "0" : "-1" },
    icon(iconName),
  );
}

function toolbar(message, { mode, channel, tabbable }) {
  const canPost = Boolean(channel?.membership) && !channel.is_archived;
  const buttons = [];
  if (canPost) buttons.push(actionButton("react", "smile", gettext("Add reaction"), tabbable));
  if (canPost && mode === "channel") buttons.push(actionButton("reply", "reply", gettext("Reply in thread"), tabbable));
  if (canPost && message.sender_id === store.me.id) buttons.push(actionButton("edit", "edit", gettext("Edit message"), tabbable));
  if (!channel?.is_archived && canDelete(message, channel)) {
    buttons.push(actionButton("delete", "trash", gettext("Delete message"), tabbable));
  }
  if (mode === "channel" || message.thread_root_id) buttons.push(actionButton("copy-link", "link", gettext("Copy link"), tabbable));
  if (!message.deleted && isEnabled("workplace_reminders")) buttons.push(actionButton("remind", "clock", gettext("Remind me"), tabbable));
  if (canPin(channel)) {
    const pinned = Boolean(message.pinned);
    const pin = actionButton("pin", "pin", pinned ? gettext("Unpin from channel") : gettext("Pin to channel"), tabbable);
    pin.setAttribute("aria-pressed", String(pinned));
    buttons.push(pin);
  }
  if (savedEnabled()) {
    const saved = isSaved(message.id);
    const save = actionButton("save", "bookmark", saved ? gettext("Remove from saved items") : gettext("Save for later"), tabbable);
    save.setAttribute("aria-pressed", String(saved));
    buttons.push(save);
  }
  if (!buttons.length) return null;
  return h("div", { class: "msg-actions", role: "toolbar", "aria-label": gettext("Message actions") }, buttons);
}

function reactionsRow(message, { channel, tabbable }) {
  if (!message.reactions.length) return null;
  const canReact = Boolean(channel?.membership) && !channel.is_archived;
  return h(
    "div",
    { class: "msg-reactions" },
    message.reactions.map((reaction) => {
      const mine = reaction.user_ids.includes(store.me.id);
      const names = reaction.user_ids.map((id) => (id === store.me.id ? gettext("you") : userName(id))).join(", ");
      const label = interpolate(
        ngettext("%(emoji)s: %(count)s reaction (%(names)s)", "%(emoji)s: %(count)s reactions (%(names)s)", reaction.count),
        { emoji: reaction.emoji, count: reaction.count, names },
        true,
      );
      return h(
        "button",
        {
          type: "button",
          class: `reaction${mine ? " reaction--mine" : ""}`,
          dataset: { act: "toggle-reaction", emoji: reaction.emoji },
          "aria-pressed": String(mine),
          "aria-label": label,
          title: names,
          disabled: !canReact,
          tabindex: tabbable ? "0" : "-1",
        },
        h("span", { class: "reaction-emoji", text: reaction.emoji }),
        h("span", { class: "reaction-count", text: formatNumber(reaction.count) }),
      );
    }),
  );
}

function threadSummary(message, tabbable) {
  if (!message.reply_count) return null;
  const count = interpolate(ngettext("%s reply", "%s replies", message.reply_count), [formatNumber(message.reply_count)]);
  const last = message.last_reply_at
    ? interpolate(gettext("Last reply %(when)s"), { when: formatWhen(new Date(message.last_reply_at)) }, true)
    : "";
  return h(
    "button",
    { type: "button", class: "thread-summary", dataset: { act: "open-thread" }, tabindex: tabbable ? "0" : "-1" },
    icon("reply"),
    h("span", { class: "thread-summary-count", text: count }),
    last ? h("span", { class: "thread-summary-last", text: last }) : null,
  );
}

function editor(message, draft) {
  const textarea = h("textarea", {
    class: "msg-edit-input",
    rows: "2",
    maxlength: String(config.maxMessageChars),
    "aria-label": gettext("Edit message"),
    dataset: { focusKey: "edit" },
  });
  textarea.value = draft ?? message.body;
  return h(
    "form",
    { class: "msg-edit", dataset: { editFor: message.id } },
    textarea,
    h(
      "div",
      { class: "msg-edit-actions" },
      h("span", { class: "msg-edit-hint", text: gettext("Enter to save, Esc to cancel") }),
      h("button", { type: "button", class: "button", dataset: { act: "cancel-edit" }, text: gettext("Cancel") }),
      h("button", { type: "submit", class: "button button--primary", text: gettext("Save") }),
    ),
  );
}

/**
 * @param message   payload from the server
 * @param options   {grouped, mode: "channel"|"thread", channel, editing, draft, isRoot, tabbable}
 */
export function messageElement(message, options) {
  const { grouped, mode, channel, editing, draft, isRoot, tabbable } = options;
  const me = store.me.id;
  const date = new Date(message.created_at);
  const name = message.sender_name || userName(message.sender_id);
  const byAssistant = isAssistantMessage(message);
  const mentioned = message.sender_id !== me && (message.mentions_everyone || message.mentioned_user_ids.includes(me));
  const classes = ["msg"];
  if (grouped) classes.push("msg--grouped");
  if (mentioned) classes.push("msg--mention");
  if (message.deleted) classes.push("msg--deleted");
  if (isRoot && mode === "thread") classes.push("msg--root");
  if (byAssistant) classes.push("msg--assistant");
  if (message.pinned && !message.deleted) classes.push("msg--pinned");

  const gutter = grouped
    ? h("div", { class: "msg-gutter" }, timeElement(date, "msg-time msg-time--compact", formatTime(date)))
    : h("div", { class: "msg-gutter" }, avatar(message.sender_id, name));

  const meta = grouped
    ? h("div", { class: "visually-hidden" }, `${name}, ${formatTime(date)}`)
    : h(
        "div",
        { class: "msg-meta" },
        h("button", {
          type: "button",
          class: "msg-author",
          dataset: { userCard: message.sender_id },
          "aria-haspopup": "dialog",
          tabindex: tabbable ? "0" : "-1",
          text: name,
        }),
        byAssistant ? aiLabel() : null,
        timeElement(date, "msg-time", formatMessageTime(date), { relative: true }),
      );

  let body;
  if (message.deleted) {
    body = h("div", { class: "msg-body msg-body--deleted", text: gettext("This message was deleted.") });
  } else if (editing) {
    body = editor(message, draft);
  } else {
    body = h("div", { class: "msg-body" });
    body.innerHTML = message.html; // sanitised server-side (apps/chat/markdown.py)
    if (grouped && byAssistant) body.prepend(aiLabel());
    if (message.edited_at && !byAssistant) {
      // Inside the last paragraph when there is one, so the marker follows the text.
      const last = body.lastElementChild;
      (last?.tagName === "P" ? last : body).append(
        " ",
        h("span", {
          class: "msg-edited",
          title: formatDateTime(new Date(message.edited_at)),
          text: gettext("(edited)"),
        }),
      );
    }
  }

  return h(
    "article",
    {
      class: classes.join(" "),
      tabindex: tabbable ? "0" : "-1",
      dataset: {
        messageId: message.id,
        channelId: message.channel_id,
        clientMsgId: message.client_msg_id ?? "",
        focusKey: "article",
      },
    },
    gutter,
    h(
      "div",
      { class: "msg-main" },
      pinMarker(message),
      meta,
      body,
      message.deleted ? null : attachmentsElement(message),
      message.deleted ? null : reactionsRow(message, { channel, tabbable }),
      mode === "channel" ? threadSummary(message, tabbable) : null,
      message.deleted || editing ? null : receiptElement(message, { channel, tabbable }),
    ),
    message.deleted || editing ? null : toolbar(message, { mode, channel, tabbable }),
  );
}

function pendingStatus(entry) {
  if (entry.state === "failed") {
    return h(
      "div",
      { class: "msg-status msg-status--failed", role: "alert" },
      icon("alert"),
      h("span", {
        text: entry.error
          ? interpolate(gettext("Not sent: %(reason)s"), { reason: entry.error }, true)
          : gettext("Not sent."),
      }),
      h("button", { type: "button", class: "link-button", dataset: { act: "retry" }, text: gettext("Retry") }),
      h("button", { type: "button", class: "link-button", dataset: { act: "discard" }, text: gettext("Discard") }),
    );
  }
  const text = {
    sending: gettext("Sending…"),
    queued: gettext("Waiting for the connection…"),
    sent: gettext("Sent"),
  }[entry.state];
  return h("div", { class: "msg-status" }, text);
}

/** The optimistic copy of a message being sent (plain text until the server renders it). */
export function pendingElement(entry, { grouped }) {
  const me = store.me;
  return h(
    "article",
    {
      class: `msg msg--pending${grouped ? " msg--grouped" : ""}${entry.state === "failed" ? " msg--failed" : ""}`,
      tabindex: "-1",
      dataset: { pendingId: entry.id, focusKey: "article" },
    },
    grouped ? h("div", { class: "msg-gutter" }) : h("div", { class: "msg-gutter" }, avatar(me.id, me.name)),
    h(
      "div",
      { class: "msg-main" },
      grouped ? null : h("div", { class: "msg-meta" }, h("span", { class: "msg-author", text: me.name })),
      h("div", { class: "msg-body msg-body--plain", text: entry.body }),
      pendingStatus(entry),
    ),
  );
}
