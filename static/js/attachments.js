// Files in messages. The composer side: an attach button, drag-and-drop onto the conversation
// pane and paste, each file uploaded at once (POST /files/, with progress) and shown as a
// removable chip; the ids of finished uploads go out with the message. The message side: the
// attachments of a message as thumbnails, download cards, or placeholders while a file is
// being scanned (only `clean` files can be fetched; others see just id and status).

import { api, csrfToken } from "./api.js";
import { on } from "./bus.js";
import { config } from "./config.js";
import { h, uuid } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { notify } from "./notices.js";
import { store } from "./store.js";

const THUMBNAIL_MAX_PX = 400;

/** "512 bytes", "12.5 KB", "3.1 MB" (1 KB = 1024 bytes, like most file managers). */
export function formatSize(bytes) {
  const units = [gettext("%(size)s KB"), gettext("%(size)s MB"), gettext("%(size)s GB")];
  if (bytes < 1024) return interpolate(gettext("%(size)s bytes"), { size: bytes }, true);
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const size = new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 1 }).format(value);
  return interpolate(units[unit], { size }, true);
}

function fileUrl(attachment, what) {
  return `${config.apiRoot}files/${attachment.id}/${what}`;
}

function thumbnailSize(attachment) {
  const { image_width: width, image_height: height } = attachment;
  if (!width || !height) return {};
  const scale = Math.min(1, THUMBNAIL_MAX_PX / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function attachmentElement(attachment) {
  const base = { class: "attachment", dataset: { attachmentId: attachment.id, status: attachment.status } };
  if (attachment.status === "pending") {
    return h(
      "div",
      { ...base, class: "attachment attachment--pending" },
      h("span", { class: "attachment-spinner", "aria-hidden": "true" }),
      h("span", { text: gettext("File being checked…") }),
    );
  }
  if (attachment.status !== "clean") {
    return h(
      "div",
      { ...base, class: "attachment attachment--unavailable" },
      icon("file"),
      h("span", { text: gettext("File unavailable") }),
    );
  }
  if (attachment.has_thumbnail) {
    return h(
      "a",
      {
        ...base,
        class: "attachment attachment--image",
        href: fileUrl(attachment, "preview"),
        target: "_blank",
        rel: "noopener",
        title: attachment.name,
      },
      h("img", { src: fileUrl(attachment, "thumbnail"), alt: attachment.name, loading: "lazy", ...thumbnailSize(attachment) }),
    );
  }
  return h(
    "a",
    {
      ...base,
      class: "attachment attachment--file",
      href: fileUrl(attachment, "download"),
      download: attachment.name,
      title: interpolate(gettext("Download %(name)s"), { name: attachment.name }, true),
    },
    icon("file"),
    h(
      "span",
      { class: "attachment-text" },
      h("span", { class: "attachment-name", text: attachment.name }),
      h("span", { class: "attachment-size", text: formatSize(attachment.size) }),
    ),
  );
}

/** The attachments of a message payload, or null when it has none. */
export function attachmentsElement(message) {
  const attachments = message.attachments ?? [];
  if (!attachments.length) return null;
  return h("div", { class: "msg-attachments" }, attachments.map(attachmentElement));
}

// --- composer ----------------------------------------------------------------------------------

// A file dropped outside a drop zone would make the browser leave the app to show it.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if ([...(event.dataTransfer?.types ?? [])].includes("Files")) event.preventDefault();
  });
}

function uploadFile(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    const fail = (message, code) => reject(Object.assign(new Error(message), { code }));
    xhr.open("POST", `${config.apiRoot}files/`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status === 201 && data?.id) resolve(data);
      else fail(data?.message || gettext("The file could not be uploaded."), data?.code ?? `http_${xhr.status}`);
    });
    xhr.addEventListener("error", () => fail(gettext("The server cannot be reached. Check your connection."), "network_error"));
    xhr.addEventListener("abort", () => fail("", "aborted"));
    const form = new FormData();
    form.append("file", file, file.name || "pasted-file");
    xhr.send(form);
  });
  return { xhr, done };
}

const composers = new Set();
// attachment.updated frames by id: the scan can finish (and be pushed) before the upload's own
// response arrives, so a finishing upload looks here for news it would otherwise miss.
const scans = new Map();

/** Uploads attached to one composer: chips above the box, and the ids to send. */
export class ComposerAttachments {
  /**
   * @param form      the composer's <form>
   * @param canAttach () => whether the composer currently accepts files
   * @param dropZone  element files may be dropped on (the conversation pane)
   */
  constructor(form, { canAttach, dropZone }) {
    this.form = form;
    this.canAttach = canAttach;
    this.uploads = []; // {key, file, state: "uploading"|"done"|"error", progress, attachment, error, xhr}
    this.chips = h("ul", { class: "upload-chips", "aria-label": gettext("Attached files"), hidden: true });
    form.before(this.chips);
    this.input = h("input", { type: "file", multiple: true, class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    const label = gettext("Attach files");
    this.button = h("button", { type: "button", class: "icon-button composer-attach", "aria-label": label, title: label }, icon("paperclip"));
    form.prepend(this.input, this.button);
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.add(this.input.files);
      this.input.value = "";
    });
    form.querySelector("textarea").addEventListener("paste", (event) => {
      const files = event.clipboardData?.files;
      if (files?.length && this.canAttach()) {
        event.preventDefault();
        this.add(files);
      }
    });
    this.chips.addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove-upload]");
      if (button) this.remove(button.dataset.removeUpload);
    });
    if (dropZone) this.listenForDrops(dropZone);
    composers.add(this);
  }

  /** The server scanned one of my uploads (`attachment.updated`): a blocked file is not sent. */
  scanned(attachment) {
    const upload = this.uploads.find((u) => u.attachment?.id === attachment.id);
    if (!upload || upload.state !== "done") return;
    upload.attachment = { ...upload.attachment, ...attachment };
    if (attachment.status === "infected") {
      upload.state = "error";
      upload.error = gettext("The virus scanner blocked this file.");
    } else if (attachment.status === "failed" || attachment.status === "deleted") {
      upload.state = "error";
      upload.error = gettext("This file is not available.");
    }
    this.render();
  }

  listenForDrops(zone) {
    const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    let depth = 0;
    zone.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event) || !this.canAttach()) return;
      depth += 1;
      zone.classList.add("is-drop-target");
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("is-drop-target");
    });
    zone.addEventListener("dragover", (event) => {
      if (!carriesFiles(event) || !this.canAttach()) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("drop", (event) => {
      depth = 0;
      zone.classList.remove("is-drop-target");
      if (!event.dataTransfer?.files?.length || !this.canAttach()) return;
      event.preventDefault();
      this.add(event.dataTransfer.files);
    });
  }

  add(fileList) {
    if (!this.canAttach()) return;
    for (const file of fileList) {
      const upload = { key: uuid(), file, state: "uploading", progress: 0, attachment: null, error: "", xhr: null };
      this.uploads.push(upload);
      const { xhr, done } = uploadFile(file, (fraction) => {
        upload.progress = fraction;
        this.render();
      });
      upload.xhr = xhr;
      done.then(
        (attachment) => {
          upload.state = "done";
          upload.attachment = attachment;
          if (scans.has(attachment.id)) this.scanned(scans.get(attachment.id));
          else this.render();
        },
        (error) => {
          if (error.code === "aborted") return;
          upload.state = "error";
          upload.error = error.message;
          this.render();
        },
      );
    }
    this.render();
  }

  remove(key) {
    const upload = this.uploads.find((u) => u.key === key);
    if (!upload) return;
    if (upload.state === "uploading") upload.xhr.abort();
    // Removed before sending: delete it, or it would count against my quota (best effort).
    if (upload.attachment) api.delete(`files/${upload.attachment.id}/`).catch(() => {});
    this.uploads = this.uploads.filter((u) => u !== upload);
    this.render();
  }

  /** Another conversation: the files not sent here are dropped (and deleted). */
  clear() {
    for (const upload of [...this.uploads]) this.remove(upload.key);
  }

  /** Ids of the finished uploads, to send with the message. */
  readyIds() {
    return this.uploads.filter((u) => u.state === "done").map((u) => u.attachment.id);
  }

  get busy() {
    return this.uploads.some((u) => u.state === "uploading");
  }

  /** After a send: drop the uploads that went out (failed ones stay, with their message). */
  sent() {
    this.uploads = this.uploads.filter((u) => u.state !== "done");
    this.render();
  }

  render() {
    this.chips.hidden = !this.uploads.length;
    this.chips.replaceChildren(
      ...this.uploads.map((upload) => {
        const name = upload.file.name || gettext("Pasted file");
        let status;
        if (upload.state === "uploading") {
          status = h("progress", { class: "upload-progress", max: "100", value: String(Math.round(upload.progress * 100)), "aria-label": gettext("Uploading") });
        } else if (upload.state === "error") {
          status = h("span", { class: "upload-error", role: "alert", text: upload.error });
        } else {
          status = h("span", { class: "upload-size", text: formatSize(upload.attachment.size) });
        }
        const label = interpolate(gettext("Remove %(name)s"), { name }, true);
        return h(
          "li",
          { class: `upload-chip upload-chip--${upload.state}`, dataset: { uploadKey: upload.key } },
          icon("file"),
          h("span", { class: "upload-name", text: name, title: name }),
          status,
          h("button", { type: "button", class: "icon-button icon-button--small", dataset: { removeUpload: upload.key }, "aria-label": label, title: label }, icon("x")),
        );
      }),
    );
  }
}

on("push", (frame) => {
  if (frame.type === "attachment.updated") {
    scans.set(frame.attachment.id, frame.attachment);
    for (const composer of composers) composer.scanned(frame.attachment);
  } else if (frame.type === "attachment.quarantined" && frame.uploader_id === store.me?.id) {
    notify(interpolate(gettext("“%(name)s” was blocked: the virus scanner found a threat in it."), { name: frame.name }, true));
  }
});
