// The Files section of the channel details dialog: the files shared in the channel, newest first
// (GET channels/<id>/files/), narrowed by kind (all, images, PDFs, other). An image or a PDF
// opens in the viewer, paging through the channel's images and PDFs; another file downloads.
// While the dialog is open, a message with files, a deleted message or a finished scan in this
// channel reloads the list.

import { api } from "./api.js";
import { fileUrl, formatSize, isViewable } from "./attachments.js";
import { on } from "./bus.js";
import { byId, debounce, h } from "./dom.js";
import { formatWhen } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { store } from "./store.js";
import { openViewer } from "./viewer.js";

const PAGE_SIZE = 50;
let channelId = null;
let next = null;
let token = 0;

function fileRow(file) {
  const uploader = store.users.get(file.uploader_id)?.name ?? "";
  const detail = [formatSize(file.size), uploader, file.created_at ? formatWhen(new Date(file.created_at)) : ""].filter(Boolean).join(" · ");
  const viewable = isViewable(file);
  const label = interpolate(viewable ? gettext("View %(name)s") : gettext("Download %(name)s"), { name: file.name }, true);
  const link = h(
    "a",
    {
      class: "file-row-link",
      href: fileUrl(file, viewable ? "preview" : "download"),
      download: viewable ? null : file.name,
      "aria-label": label,
      "aria-haspopup": viewable ? "dialog" : null,
      dataset: { fileId: file.id },
    },
    file.has_thumbnail
      ? h("img", { class: "file-row-thumb", src: fileUrl(file, "thumbnail"), alt: "", loading: "lazy" })
      : h("span", { class: "file-row-thumb file-row-icon" }, icon("file")),
    h("span", { class: "pick-text" }, h("span", { class: "pick-title", text: file.name }), h("span", { class: "pick-detail", text: detail })),
  );
  if (viewable) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      openViewer({ attachment: file, channelId, opener: link });
    });
  }
  return h("li", { class: "file-row" }, link);
}

async function load({ more = false } = {}) {
  if (channelId === null) return;
  const mine = more ? token : ++token;
  const kind = byId("details-files-type").value;
  const status = byId("details-files-status");
  if (!more) status.textContent = gettext("Loading files…");
  const page = more && next ? await api.get(next) : await api.get(`channels/${channelId}/files/`, { limit: PAGE_SIZE, ...(kind ? { type: kind } : {}) });
  if (mine !== token) return;
  // Files still being scanned (or blocked) have no name for others: not worth a row.
  const rows = page.results.filter((file) => file.status === "clean").map(fileRow);
  if (more) byId("details-file-list").append(...rows);
  else byId("details-file-list").replaceChildren(...rows);
  next = page.next;
  byId("details-files-more").hidden = !next;
  const count = byId("details-file-list").childElementCount;
  status.textContent = count ? "" : kind ? gettext("No files of this kind.") : gettext("No files have been shared here yet.");
}

const reload = debounce(() => load().catch(() => {}), 300);

/** Show the files of `id` (the details dialog opened), or stop following them (null). */
export function showChannelFiles(id) {
  channelId = id;
  next = null;
  token += 1;
  byId("details-file-list").replaceChildren();
  if (id === null) return;
  byId("details-files-type").value = "";
  load().catch((error) => {
    byId("details-files-status").textContent = error.message;
  });
}

byId("details-files-type").addEventListener("change", () => {
  load().catch((error) => {
    byId("details-files-status").textContent = error.message;
  });
});
byId("details-files-more").addEventListener("click", () => load({ more: true }).catch(() => {}));

on("push", (frame) => {
  if (channelId === null) return;
  const inChannel = frame.channel_id === channelId || frame.message?.channel_id === channelId;
  if (frame.type === "message.new" && inChannel && frame.message?.attachments?.length) reload();
  else if (frame.type === "message.deleted" && inChannel) reload();
  else if (frame.type === "attachment.updated") reload();
});
