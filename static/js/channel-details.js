// The channel details dialog behind the header's "members" button: the member list, inviting
// and removing people, renaming and setting the topic, archiving, and leaving. The server
// decides who may do what (channel admins and workspace admins manage; members add people to
// public channels when the organisation lets them); the dialog only hides what would be refused,
// and shows as plain text what one may not change. Other tabs follow through channel.updated /
// member.* pushes.

import { saveMembershipSettings } from "./actions.js";
import { api, getAll } from "./api.js";
import { avatarElement } from "./avatar.js";
import { on } from "./bus.js";
import { showChannelFiles } from "./channel-files.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate, ngettext } from "./i18n.js";
import { notify, notifyError } from "./notices.js";
import { paintPresence } from "./presence.js";
import { channelLabel, isDirect, removeChannel, store, updateChannel } from "./store.js";
import { statusBadge } from "./user-status.js";

const dialog = byId("details-dialog");
let channelId = null;
let members = [];

function currentChannel() {
  return store.channels.get(channelId);
}

/** Channel admins and workspace owners/admins manage a channel (rename, invite, remove, archive). */
function canManage(channel) {
  if (!channel || isDirect(channel)) return false;
  return channel.membership?.role === "admin" || ["owner", "admin"].includes(store.me.role);
}

/**
 * Whether I may add people here: the rule of the server's channel_invite (managers; any member
 * but a guest in a public channel) and the organisation's setting ("permissions" of users/me).
 */
function canInvite(channel) {
  if (!channel || isDirect(channel) || channel.is_archived || !store.me.permissions?.invite) return false;
  const memberOfPublic = channel.kind === "public" && Boolean(channel.membership) && store.me.role !== "guest";
  return canManage(channel) || memberOfPublic;
}

function personRow(user, action) {
  return h(
    "li",
    { class: "pick-row", dataset: { userId: user.user_id ?? user.id } },
    h(
      "span",
      { class: "pick-person" },
      avatarElement(user.user_id ?? user.id, user.name, { size: "small", url: user.avatar_url }),
      h(
        "span",
        { class: "pick-text" },
        h("span", { class: "pick-title" }, user.name, " ", statusBadge(user.user_id ?? user.id)),
        h("span", {
          class: "pick-detail",
          text: [`@${user.username}`, user.role === "admin" ? gettext("channel admin") : ""].filter(Boolean).join(" · "),
        }),
      ),
      h("span", { class: "presence-dot", dataset: { presenceUser: user.user_id ?? user.id }, "aria-hidden": "true" }),
    ),
    action,
  );
}

function renderMembers() {
  const channel = currentChannel();
  const manage = canManage(channel);
  byId("details-members-heading").textContent = interpolate(gettext("Members (%(count)s)"), { count: members.length }, true);
  byId("details-member-list").replaceChildren(
    ...members.map((member) => {
      const removable = manage && member.user_id !== store.me.id;
      const remove = removable
        ? h("button", {
            type: "button",
            class: "button",
            dataset: { remove: member.user_id },
            text: gettext("Remove"),
            "aria-label": interpolate(gettext("Remove %(name)s from the channel"), { name: member.name }, true),
          })
        : null;
      return personRow(member, remove);
    }),
  );
  paintPresence(byId("details-member-list"));
  renderInvite();
}

function renderInvite() {
  const channel = currentChannel();
  const section = byId("details-invite");
  section.hidden = !canInvite(channel);
  if (section.hidden) return;
  const query = byId("details-invite-filter").value.trim().toLocaleLowerCase();
  const inChannel = new Set(members.map((m) => m.user_id));
  const candidates = [...store.users.values()]
    .filter((u) => !inChannel.has(u.id) && u.is_active !== false)
    .filter((u) => !query || `${u.name} ${u.username}`.toLocaleLowerCase().includes(query))
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(0, 20);
  byId("details-invite-list").replaceChildren(
    ...candidates.map((user) =>
      personRow(
        user,
        h("button", {
          type: "button",
          class: "button button--primary",
          dataset: { invite: user.id },
          text: gettext("Add"),
          "aria-label": interpolate(gettext("Add %(name)s to the channel"), { name: user.name }, true),
        }),
      ),
    ),
  );
  byId("details-invite-status").textContent = candidates.length ? "" : gettext("Nobody matches.");
}

function renderForm() {
  const channel = currentChannel();
  const form = byId("details-form");
  const manage = canManage(channel) && !channel.is_archived;
  // Fields only for those who may change them; the others read the same as text.
  form.hidden = isDirect(channel) || !manage;
  form.elements.name.value = channel.name ?? "";
  form.elements.topic.value = channel.topic ?? "";
  for (const field of form.elements) field.disabled = !manage;
  form.querySelector("button[type=submit]").hidden = !manage;
  byId("details-form-error").hidden = true;
  byId("details-about").hidden = isDirect(channel) || manage;
  byId("details-about-name").textContent = channel.name ?? "";
  const topic = byId("details-about-topic");
  topic.textContent = channel.topic || gettext("No topic");
  topic.classList.toggle("muted", !channel.topic);
}

function renderActions() {
  const channel = currentChannel();
  byId("details-notify-field").hidden = !channel.membership;
  byId("details-notify").value = channel.membership?.notification_level ?? "default";
  const archive = byId("details-archive");
  archive.hidden = !canManage(channel);
  archive.textContent = channel.is_archived ? gettext("Unarchive channel") : gettext("Archive channel");
  byId("details-leave").hidden = isDirect(channel) || !channel.membership;
}

function renderAll() {
  const channel = currentChannel();
  if (!channel) return;
  byId("details-title").textContent = isDirect(channel)
    ? channelLabel(channel)
    : interpolate(gettext("#%(name)s details"), { name: channel.name }, true);
  renderForm();
  renderActions();
  renderMembers();
}

/** How long the channel keeps messages (GET channels/<id>/retention/), shown when it deletes them. */
export function retentionText(retention) {
  if (!retention || retention.days == null) return "";
  return interpolate(
    ngettext("Messages older than %(days)s day are deleted.", "Messages older than %(days)s days are deleted.", retention.days),
    { days: retention.days },
    true,
  );
}

async function loadRetention() {
  const id = channelId;
  const line = byId("details-retention");
  line.hidden = true;
  let retention = null;
  try {
    retention = await api.get(`channels/${id}/retention/`);
  } catch {
    return; // nothing to say rather than an error: the dialog works without it
  }
  if (id !== channelId) return;
  line.textContent = retentionText(retention);
  line.hidden = !line.textContent;
}

async function loadMembers() {
  const id = channelId;
  const rows = await getAll(`channels/${id}/members/`, { limit: 200 });
  if (id !== channelId) return;
  rows.sort((a, b) => a.name.localeCompare(b.name));
  // An invite or removal loads the list twice (its own reload and the member.* push): the
  // second answer is usually the same. Rebuilding the rows anyway replaced the Remove button
  // under a press in progress, and a button replaced between mouse down and up gets no click.
  if (JSON.stringify(rows) === JSON.stringify(members)) return;
  members = rows;
  renderMembers();
}

export async function openDetails(opener) {
  channelId = store.activeChannelId;
  if (!currentChannel()) return;
  members = [];
  byId("details-invite-filter").value = "";
  renderAll();
  dialog.returnFocusTo = opener;
  dialog.showModal();
  showChannelFiles(channelId);
  loadRetention();
  try {
    await loadMembers();
  } catch (error) {
    notifyError(error);
  }
}

async function run(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    notifyError(error);
  } finally {
    button.disabled = false;
  }
}

dialog.addEventListener("close", () => {
  channelId = null;
  showChannelFiles(null);
  dialog.returnFocusTo?.focus();
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close();
  const remove = event.target.closest("[data-remove]");
  if (remove) {
    run(remove, async () => {
      await api.delete(`channels/${channelId}/members/${remove.dataset.remove}/`);
      await loadMembers();
    });
  }
  const invite = event.target.closest("[data-invite]");
  if (invite) {
    run(invite, async () => {
      await api.post(`channels/${channelId}/members/`, { user_ids: [Number(invite.dataset.invite)] });
      await loadMembers();
      byId("details-invite-filter").focus();
    });
  }
});
byId("details-invite-filter").addEventListener("input", renderInvite);

byId("details-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = byId("details-form-error");
  run(form.querySelector("button[type=submit]"), async () => {
    error.hidden = true;
    try {
      const channel = await api.patch(`channels/${channelId}/`, {
        name: form.elements.name.value,
        topic: form.elements.topic.value,
      });
      updateChannel(channel.id, { name: channel.name, topic: channel.topic });
      notify(gettext("Channel updated."), { kind: "info" });
      dialog.close();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  });
});

byId("details-archive").addEventListener("click", (event) => {
  const channel = currentChannel();
  const archiving = !channel.is_archived;
  const question = interpolate(
    archiving
      ? gettext("Archive #%(name)s? Nobody can post in it until it is unarchived.")
      : gettext("Unarchive #%(name)s?"),
    { name: channel.name },
    true,
  );
  if (!window.confirm(question)) return;
  run(event.currentTarget, async () => {
    const updated = await api.post(`channels/${channel.id}/${archiving ? "archive" : "unarchive"}/`);
    updateChannel(updated.id, { is_archived: updated.is_archived });
    dialog.close();
  });
});

byId("details-leave").addEventListener("click", (event) => {
  const channel = currentChannel();
  const question = interpolate(
    channel.kind === "private"
      ? gettext("Leave #%(name)s? You will need an invitation to come back.")
      : gettext("Leave #%(name)s?"),
    { name: channel.name },
    true,
  );
  if (!window.confirm(question)) return;
  run(event.currentTarget, async () => {
    await api.post(`channels/${channel.id}/leave/`);
    dialog.close();
    removeChannel(channel.id);
  });
});

byId("details-notify").addEventListener("change", (event) => {
  const select = event.currentTarget;
  run(select, async () => {
    await saveMembershipSettings(channelId, { notification_level: select.value });
    notify(gettext("Notification setting saved."), { kind: "info", timeout: 3000 });
  });
});

byId("details-toggle").addEventListener("click", (event) => {
  openDetails(event.currentTarget).catch(notifyError);
});

on("channels", ({ changed = [], gone = [] }) => {
  if (channelId === null) return;
  if (gone.includes(channelId)) dialog.close();
  else if (changed.includes(channelId)) {
    // Keep a name or topic being typed; the rest (notification level, buttons) follows.
    if (dialog.querySelector("form:focus-within")) renderActions();
    else renderAll();
  }
});
// Someone joined or left the channel whose members are on screen.
on("push", (frame) => {
  if (channelId !== null && frame.channel_id === channelId && frame.type.startsWith("member.")) {
    loadMembers().catch(() => {});
  }
});
on("presence", () => paintPresence(byId("details-member-list")));
