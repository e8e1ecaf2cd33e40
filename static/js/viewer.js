// The image and PDF viewer: a click on a picture or PDF of a message (or of a channel's file
// list) opens it over the app, with its name and size, a download button, and previous/next over
// the images and PDFs of the same conversation (GET channels/<id>/files/?type=media, oldest
// first). A native modal <dialog>: focus stays inside, Esc closes it and focus returns to the
// link that opened it; ← and → page. Images show the permission-checked preview URL; PDFs are
// shown by the browser's own PDF viewer in a frame of that same URL (the server lets our origin,
// and only it, frame a PDF preview).

import { getAll } from "./api.js";
import { fileUrl, formatSize } from "./attachments.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";

const MAX_PAGES = 5; // 5 × 200 files: the viewer pages through a conversation's newest thousand

const dialog = byId("viewer-dialog");
let items = [];
let index = 0;
let loadToken = 0;

function isPdf(item) {
  return item.content_type === "application/pdf";
}

function render() {
  const item = items[index];
  if (!item) return;
  byId("viewer-name").textContent = item.name;
  byId("viewer-size").textContent = formatSize(item.size);
  const download = byId("viewer-download");
  download.href = `${fileUrl(item, "download")}?download=1`;
  download.setAttribute("download", item.name);
  const label = interpolate(gettext("Download %(name)s"), { name: item.name }, true);
  download.setAttribute("aria-label", label);
  download.title = label;
  const position = items.length > 1 ? interpolate(gettext("%(index)s of %(count)s"), { index: index + 1, count: items.length }, true) : "";
  byId("viewer-position").textContent = position;
  const prev = byId("viewer-prev");
  const next = byId("viewer-next");
  const focused = document.activeElement;
  prev.disabled = index === 0;
  next.disabled = index >= items.length - 1;
  // A step button that just became disabled would drop the focus out of the dialog.
  if (focused === prev && prev.disabled) (next.disabled ? byId("viewer-close") : next).focus();
  if (focused === next && next.disabled) (prev.disabled ? byId("viewer-close") : prev).focus();
  byId("viewer-prev").hidden = byId("viewer-next").hidden = items.length < 2;
  const source = fileUrl(item, "preview");
  const stage = byId("viewer-stage");
  const current = stage.firstElementChild;
  if (current?.dataset.attachmentId === item.id) return;
  const content = isPdf(item)
    ? h("iframe", { class: "viewer-pdf", src: source, title: item.name, dataset: { attachmentId: item.id } })
    : h("img", {
        class: "viewer-image",
        src: source,
        alt: item.name,
        width: item.image_width,
        height: item.image_height,
        dataset: { attachmentId: item.id },
      });
  stage.replaceChildren(content);
  // Read out what is shown now (the name is the dialog's label; the position says where we are).
  byId("viewer-status").textContent = [item.name, position].filter(Boolean).join(", ");
}

function go(step) {
  const next = index + step;
  if (next < 0 || next >= items.length) return;
  index = next;
  render();
}

async function loadConversation(channelId, token) {
  const files = await getAll(`channels/${channelId}/files/`, { type: "media", limit: 200 }, MAX_PAGES);
  if (token !== loadToken || !dialog.open) return;
  const ordered = files.reverse(); // oldest first: "next" is the newer file, as in the conversation
  const at = ordered.findIndex((file) => file.id === items[index]?.id);
  if (at === -1) return; // not in the list (a file beyond the newest thousand): stays alone
  items = ordered;
  index = at;
  render();
}

/**
 * Open the viewer on `attachment` ({id, name, size, content_type, image_width, image_height}),
 * paging through the images and PDFs of `channelId` when given. `opener` gets focus back.
 */
export function openViewer({ attachment, channelId, opener }) {
  items = [attachment];
  index = 0;
  loadToken += 1;
  dialog.returnFocusTo = opener ?? document.activeElement;
  byId("viewer-stage").replaceChildren();
  render();
  if (!dialog.open) dialog.showModal();
  byId("viewer-close").focus();
  if (channelId) loadConversation(channelId, loadToken).catch(() => {});
}

function fromLink(link) {
  const data = link.dataset;
  return {
    attachment: {
      id: data.viewerId,
      name: data.viewerName,
      size: Number(data.viewerSize),
      content_type: data.viewerType,
      image_width: link.querySelector("img")?.getAttribute("width") ?? null,
      image_height: link.querySelector("img")?.getAttribute("height") ?? null,
    },
    channelId: Number(data.viewerChannel) || null,
    opener: link,
  };
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-viewer-id]");
  // Ctrl/⌘/Shift-click and the middle button keep the browser's own "open in a new tab".
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  openViewer(fromLink(link));
});

dialog.addEventListener("keydown", (event) => {
  if (event.key === "ArrowLeft") go(-1);
  else if (event.key === "ArrowRight") go(1);
  else return;
  event.preventDefault();
});
byId("viewer-prev").addEventListener("click", () => go(-1));
byId("viewer-next").addEventListener("click", () => go(1));
byId("viewer-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("click", (event) => {
  if (event.target === dialog || event.target === byId("viewer-stage")) dialog.close(); // the backdrop
});
dialog.addEventListener("close", () => {
  loadToken += 1;
  byId("viewer-stage").replaceChildren(); // stops a PDF frame, frees a large picture
  dialog.returnFocusTo?.focus();
});
