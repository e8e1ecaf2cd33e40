// The two dialogs of the sidebar: "Channels" (browse public channels, join or open one, create a
// channel) and "New direct message" (pick one or more people). Native <dialog>: Esc closes it
// and focus returns to the button that opened it.

import * as actions from "./actions.js";
import { getAll } from "./api.js";
import { avatarElement } from "./avatar.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { notifyError } from "./notices.js";
import { paintPresence, statusLabel, statusOf } from "./presence.js";
import { store } from "./store.js";
import { statusBadge } from "./user-status.js";

const MAX_GROUP_MEMBERS = 15; // the server allows 16 people, me included
let openChannel = () => {};

function showDialog(dialog, opener) {
  dialog.returnFocusTo = opener;
  dialog.showModal();
}

function wireDialog(dialog) {
  dialog.addEventListener("close", () => dialog.returnFocusTo?.focus());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
    if (event.target.closest('[data-action="close-dialog"]')) dialog.close();
  });
}

function matches(text, query) {
  return text.toLocaleLowerCase().includes(query.trim().toLocaleLowerCase());
}

// --- channels -------------------------------------------------------------------------------------

let publicChannels = [];

function renderBrowse() {
  const query = byId("channel-filter").value;
  const rows = publicChannels.filter((c) => !query || matches(`${c.name} ${c.topic}`, query));
  byId("browse-list").replaceChildren(
    ...rows.map((channel) => {
      const member = store.channels.get(channel.id)?.membership || channel.is_member;
      const button = h("button", {
        type: "button",
        class: `button${member ? "" : " button--primary"}`,
        dataset: { channelId: channel.id, join: member ? "" : "1" },
        text: member ? gettext("Open") : gettext("Join"),
        "aria-label": interpolate(member ? gettext("Open #%(name)s") : gettext("Join #%(name)s"), { name: channel.name }, true),
      });
      const preview = member
        ? null
        : h("button", {
            type: "button",
            class: "link-button",
            dataset: { channelId: channel.id },
            text: gettext("Preview"),
            "aria-label": interpolate(gettext("Preview #%(name)s"), { name: channel.name }, true),
          });
      return h(
        "li",
        { class: "pick-row" },
        h(
          "div",
          { class: "pick-text" },
          h("span", { class: "pick-title", text: `#${channel.name}` }),
          h("span", {
            class: "pick-detail",
            text: [
              interpolate(ngettext("%s member", "%s members", channel.member_count), [channel.member_count]),
              channel.topic,
            ]
              .filter(Boolean)
              .join(" · "),
          }),
        ),
        h("div", { class: "pick-actions" }, preview, button),
      );
    }),
  );
  let status = "";
  if (!publicChannels.length) status = gettext("There are no public channels you can join.");
  else if (!rows.length) status = gettext("No channels match.");
  byId("browse-status").textContent = status;
}

async function openChannelDialog(opener) {
  const dialog = byId("channel-dialog");
  byId("create-channel-form").hidden = store.me.role === "guest";
  byId("create-channel-error").hidden = true;
  byId("channel-filter").value = "";
  byId("browse-list").replaceChildren();
  byId("browse-status").textContent = gettext("Loading channels…");
  showDialog(dialog, opener);
  try {
    publicChannels = (await getAll("channels/browse/", { limit: 200 }, 5)).sort((a, b) => a.name.localeCompare(b.name));
    renderBrowse();
  } catch (error) {
    byId("browse-status").textContent = error.message;
  }
}

async function onBrowseClick(event) {
  const button = event.target.closest("button[data-channel-id]");
  if (!button) return;
  const channelId = Number(button.dataset.channelId);
  button.disabled = true;
  try {
    if (button.dataset.join) await actions.joinChannel(channelId);
    byId("channel-dialog").close();
    openChannel(channelId);
  } catch (error) {
    notifyError(error);
    button.disabled = false;
  }
}

async function onCreateChannel(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = byId("create-channel-error");
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  error.hidden = true;
  try {
    const channel = await actions.createChannel({
      name: form.elements.name.value,
      topic: form.elements.topic.value,
      isPrivate: form.elements.private.checked,
    });
    form.reset();
    byId("channel-dialog").close();
    openChannel(channel.id);
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    form.elements.name.focus();
  } finally {
    submit.disabled = false;
  }
}

// --- direct messages ------------------------------------------------------------------------------

const selected = new Set();

function renderPeople() {
  const query = byId("people-filter").value;
  const people = [...store.users.values()]
    .filter((u) => u.id !== store.me.id)
    .filter((u) => !query || matches(`${u.name} ${u.username}`, query))
    .sort((a, b) => a.name.localeCompare(b.name));
  byId("people-list").replaceChildren(
    ...people.map((user) => {
      const id = `dm-person-${user.id}`;
      const checkbox = h("input", {
        type: "checkbox",
        id,
        value: user.id,
        checked: selected.has(user.id),
        disabled: !selected.has(user.id) && selected.size >= MAX_GROUP_MEMBERS,
      });
      return h(
        "li",
        { class: "pick-row" },
        checkbox,
        h(
          "label",
          { for: id, class: "pick-person" },
          avatarElement(user.id, user.name, { size: "small", url: user.avatar_url }),
          h(
            "span",
            { class: "pick-text" },
            h("span", { class: "pick-title" }, user.name, " ", statusBadge(user.id)),
            h(
              "span",
              { class: "pick-detail" },
              `@${user.username} · `,
              h("span", { dataset: { presenceLabel: user.id }, text: statusLabel(statusOf(user.id)) }),
            ),
          ),
          h("span", { class: "presence-dot", dataset: { presenceUser: user.id }, "aria-hidden": "true" }),
        ),
      );
    }),
  );
  if (!people.length) byId("people-list").append(h("li", { class: "muted", text: gettext("Nobody matches.") }));
  paintPresence(byId("people-list"));
  renderSelection();
}

function renderSelection() {
  byId("dm-selected").textContent = selected.size
    ? interpolate(ngettext("%s person selected", "%s people selected", selected.size), [selected.size])
    : "";
  byId("dm-submit").disabled = selected.size === 0;
}

function openDmDialog(opener) {
  selected.clear();
  byId("people-filter").value = "";
  byId("dm-error").hidden = true;
  renderPeople();
  showDialog(byId("dm-dialog"), opener);
  byId("people-filter").focus();
}

async function onOpenDirect(event) {
  event.preventDefault();
  if (!selected.size) return;
  const submit = byId("dm-submit");
  submit.disabled = true;
  try {
    const channel = await actions.openDirect([...selected]);
    byId("dm-dialog").close();
    openChannel(channel.id);
  } catch (error) {
    byId("dm-error").textContent = error.message;
    byId("dm-error").hidden = false;
  } finally {
    submit.disabled = selected.size === 0;
  }
}

export function initDialogs({ onOpenChannel }) {
  openChannel = onOpenChannel;
  wireDialog(byId("channel-dialog"));
  wireDialog(byId("dm-dialog"));
  document.addEventListener("click", (event) => {
    const control = event.target.closest("[data-action]");
    if (control?.dataset.action === "open-channel-dialog") openChannelDialog(control).catch(notifyError);
    if (control?.dataset.action === "open-dm-dialog") openDmDialog(control);
  });
  byId("channel-filter").addEventListener("input", renderBrowse);
  byId("browse-list").addEventListener("click", onBrowseClick);
  byId("create-channel-form").addEventListener("submit", onCreateChannel);
  byId("people-filter").addEventListener("input", renderPeople);
  byId("people-list").addEventListener("change", (event) => {
    const id = Number(event.target.value);
    if (event.target.checked) selected.add(id);
    else selected.delete(id);
    renderPeople();
    byId(`dm-person-${id}`)?.focus();
  });
  byId("dm-form").addEventListener("submit", onOpenDirect);
}
