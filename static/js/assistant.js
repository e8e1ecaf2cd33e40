// The assistant's messages (`@assistant`, apps/assistant) carry a visible "AI-generated" label:
// they come from the bot user named "assistant" (a bot: no person can post as it). They are
// rewritten while the model writes them, so the "(edited)" marker is left off them.

import { isEnabled } from "./features.js";
import { h } from "./dom.js";
import { gettext } from "./i18n.js";
import { store } from "./store.js";

export const ASSISTANT_USERNAME = "assistant";

/** Whether `message` was written by the assistant. */
export function isAssistantMessage(message) {
  if (!isEnabled("assistant")) return false;
  const sender = store.users.get(message.sender_id);
  return Boolean(sender?.is_bot && sender.username === ASSISTANT_USERNAME);
}

/** The label shown on an assistant message. */
export function aiLabel() {
  return h("span", {
    class: "badge badge--ai",
    title: gettext("Written by the assistant from messages you can read. Check the cited sources."),
    text: gettext("AI-generated"),
  });
}
