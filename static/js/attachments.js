// Files in messages. The composer side: an attach button, drag-and-drop onto the conversation
// pane and paste, each file uploaded at once (POST /files/, with progress; above
// config.chunkedUploadBytes in resumable chunks through /uploads/, retried after network errors)
// and shown as a removable chip; the ids of finished uploads go out with the message. The message side: the
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

export function fileUrl(attachment, what) {
  return `${config.apiRoot}files/${attachment.id}/${what}`;
}

/** Whether the in-app viewer shows this file (a clean image or PDF). */
export function isViewable(attachment) {
  return attachment.status === "clean" && (attachment.is_image || attachment.content_type === "application/pdf");
}

/** What the viewer needs to open an attachment from a link (viewer.js reads it back). */
function viewerData(attachment, channelId) {
  if (!isViewable(attachment)) return {};
  return {
    viewerId: attachment.id,
    viewerChannel: channelId ?? "",
    viewerName: attachment.name,
    viewerSize: attachment.size,
    viewerType: attachment.content_type,
  };
}

/**
 * The thumbnail's size before it has loaded, so the message list does not grow under the reader
 * when it arrives. A PDF's page size is not known here: its preview gets a page-shaped box (CSS).
 */
function thumbnailSize(attachment) {
  const { image_width: width, image_height: height } = attachment;
  if (!width || !height) return {};
  const scale = Math.min(1, THUMBNAIL_MAX_PX / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function attachmentElement(attachment, channelId) {
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
    // The picture opens the preview; below it, what the file is and a button to save it.
    const label = interpolate(gettext("Download %(name)s"), { name: attachment.name }, true);
    return h(
      "div",
      { ...base, class: "attachment attachment--media" },
      h(
        "a",
        {
          class: `attachment--image${attachment.image_width && attachment.image_height ? "" : " attachment--page"}`,
          href: fileUrl(attachment, "preview"),
          target: "_blank",
          rel: "noopener",
          title: attachment.name,
          "aria-label": interpolate(gettext("View %(name)s"), { name: attachment.name }, true),
          "aria-haspopup": "dialog",
          dataset: viewerData(attachment, channelId),
        },
        h("img", { src: fileUrl(attachment, "thumbnail"), alt: attachment.name, loading: "lazy", ...thumbnailSize(attachment) }),
      ),
      h(
        "div",
        { class: "attachment-caption" },
        h(
          "span",
          { class: "attachment-text" },
          h("span", { class: "attachment-name", text: attachment.name, title: attachment.name }),
          h("span", { class: "attachment-size", text: formatSize(attachment.size) }),
        ),
        h(
          "a",
          { class: "icon-button icon-button--small attachment-download", href: fileUrl(attachment, "download"), download: attachment.name, "aria-label": label, title: label },
          icon("download"),
        ),
      ),
    );
  }
  const viewable = isViewable(attachment);
  return h(
    "a",
    {
      ...base,
      class: "attachment attachment--file",
      href: fileUrl(attachment, viewable ? "preview" : "download"),
      download: viewable ? null : attachment.name,
      title: interpolate(viewable ? gettext("View %(name)s") : gettext("Download %(name)s"), { name: attachment.name }, true),
      "aria-haspopup": viewable ? "dialog" : null,
      dataset: { ...base.dataset, ...viewerData(attachment, channelId) },
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
  return h("div", { class: "msg-attachments" }, attachments.map((a) => attachmentElement(a, message.channel_id)));
}

// --- composer ----------------------------------------------------------------------------------

// A file dropped outside a drop zone would make the browser leave the app to show it.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if ([...(event.dataTransfer?.types ?? [])].includes("Files")) event.preventDefault();
  });
}

function uploadError(message, code, status = 0) {
  const retryable = code === "network_error" || status === 429 || status >= 500;
  return Object.assign(new Error(message), { code, retryable });
}

/** One request of an upload, cancellable through `control`; resolves {status, data}. */
function send(control, method, url, body, { contentType, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    if (control.aborted) {
      reject(uploadError("", "aborted"));
      return;
    }
    const xhr = new XMLHttpRequest();
    control.xhr = xhr;
    xhr.open(method, url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    xhr.responseType = "json";
    if (onProgress) {
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded);
      });
    }
    xhr.addEventListener("load", () => resolve({ status: xhr.status, data: xhr.response }));
    xhr.addEventListener("error", () => reject(uploadError(gettext("The server cannot be reached. Check your connection."), "network_error")));
    xhr.addEventListener("abort", () => reject(uploadError("", "aborted")));
    xhr.send(body);
  });
}

async function expectStatus(pending, status) {
  const { status: got, data } = await pending;
  if (got === status && data) return data;
  throw uploadError(data?.message || gettext("The file could not be uploaded."), data?.code ?? `http_${got}`, got);
}

// A resumable upload waits this long before each new try after a network error or a server
// hiccup, then gives up; coming back online cuts the wait short.
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000];

function pause(control, ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      control.wake = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done);
    control.wake = done;
  });
}

async function withRetries(control, attempt) {
  for (let tries = 0; ; tries += 1) {
    try {
      const result = await attempt();
      control.onRetrying(false);
      return result;
    } catch (error) {
      if (control.aborted || !error.retryable || tries >= RETRY_DELAYS_MS.length) throw error;
      control.onRetrying(true);
      await pause(control, RETRY_DELAYS_MS[tries]);
      if (control.aborted) throw uploadError("", "aborted");
    }
  }
}

/** Large files: POST /uploads/, PUT each chunk (a failed one is sent again), then complete. */
async function uploadInChunks(file, name, onProgress, control) {
  const uploads = `${config.apiRoot}uploads/`;
  const session = await withRetries(control, () =>
    expectStatus(send(control, "POST", uploads, JSON.stringify({ name, size: file.size }), { contentType: "application/json" }), 201),
  );
  const stored = new Set(session.received_chunks);
  let sent = 0;
  for (let index = 0; index < session.chunk_count; index += 1) {
    const start = index * session.chunk_size;
    const chunk = file.slice(start, Math.min(file.size, start + session.chunk_size));
    if (!stored.has(index)) {
      await withRetries(control, () =>
        expectStatus(
          send(control, "PUT", `${uploads}${session.id}/chunks/${index}`, chunk, {
            contentType: "application/octet-stream",
            onProgress: (loaded) => onProgress((sent + loaded) / file.size),
          }),
          200,
        ),
      );
    }
    sent += chunk.size;
    onProgress(sent / file.size);
  }
  // Completing twice returns the same file, so a lost answer is safe to ask for again.
  return withRetries(control, () => expectStatus(send(control, "POST", `${uploads}${session.id}/complete`, null), 201));
}

/** Upload one file: multipart below the threshold, resumable chunks above it. */
function uploadFile(file, { onProgress, onRetrying }) {
  const control = {
    aborted: false,
    xhr: null,
    wake: null,
    onRetrying,
    abort() {
      this.aborted = true;
      this.xhr?.abort();
      this.wake?.();
    },
  };
  const name = file.name || "pasted-file";
  let done;
  if (file.size > config.chunkedUploadBytes) {
    done = uploadInChunks(file, name, onProgress, control);
  } else {
    const form = new FormData();
    form.append("file", file, name);
    done = expectStatus(send(control, "POST", `${config.apiRoot}files/`, form, { onProgress: (loaded) => onProgress(loaded / Math.max(1, file.size)) }), 201);
  }
  return { control, done };
}

const composers = new Set();
// attachment.updated frames by id: the scan can finish (and be pushed) before the upload's own
// response arrives, so a finishing upload looks here for news it would otherwise miss.
const scans = new Map();

/** Why the scan of my upload failed (`scan_failure`), in words: it is never shared. */
function scanFailureText(code) {
  if (code === "limit_exceeded") {
    return gettext(
      "This file could not be fully checked for viruses (an archive too large or too deeply nested), so it cannot be shared.",
    );
  }
  if (code === "scanner_unverified") {
    return gettext(
      "The virus scanner is not set up to check archives safely, so this file cannot be shared. Tell your administrator.",
    );
  }
  return gettext("This file could not be checked for viruses, so it cannot be shared. Try again later.");
}

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
    this.uploads = []; // {key, file, state: "uploading"|"done"|"error", progress, retrying, attachment, error, control}
    this.sendWhenReady = null; // the send that Enter asked for while a file was still uploading
    this.chips = h("ul", { class: "upload-chips", "aria-label": gettext("Attached files"), hidden: true });
    // Always in the page, so that a screen reader announces what appears in it.
    this.waitNote = h("p", { class: "upload-wait", role: "status" });
    form.before(this.chips, this.waitNote);
    this.input = h("input", { type: "file", multiple: true, class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    const label = gettext("Attach files");
    this.button = h("button", { type: "button", class: "icon-button composer-attach", "aria-label": label, title: label }, icon("paperclip"));
    form.prepend(this.input, this.button);
    this.button.addEventListener("click", () => this.input.click());
    // Back to the message box once a file is chosen (or the picker closed): there, Enter sends
    // instead of opening the picker again.
    const textarea = form.querySelector("textarea");
    this.input.addEventListener("change", () => {
      this.add(this.input.files);
      this.input.value = "";
      textarea.focus();
    });
    this.input.addEventListener("cancel", () => textarea.focus());
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
    } else if (attachment.status === "failed") {
      upload.state = "error";
      upload.error = scanFailureText(attachment.scan_failure);
    } else if (attachment.status === "deleted") {
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
      const upload = { key: uuid(), file, state: "uploading", progress: 0, retrying: false, attachment: null, error: "", control: null };
      this.uploads.push(upload);
      const { control, done } = uploadFile(file, {
        onProgress: (fraction) => {
          upload.progress = Math.min(1, fraction);
          this.render();
        },
        onRetrying: (retrying) => {
          if (upload.retrying === retrying) return;
          upload.retrying = retrying;
          this.render();
        },
      });
      upload.control = control;
      done.then(
        (attachment) => {
          upload.state = "done";
          upload.attachment = attachment;
          // The answer may already carry the verdict (or a push brought it first).
          this.scanned(scans.get(attachment.id) ?? attachment);
          this.render();
          this.settle();
        },
        (error) => {
          if (error.code === "aborted") return;
          upload.state = "error";
          upload.error = error.message;
          this.render();
          this.settle();
        },
      );
    }
    this.render();
  }

  remove(key) {
    const upload = this.uploads.find((u) => u.key === key);
    if (!upload) return;
    if (upload.state === "uploading") upload.control.abort();
    // Removed before sending: delete it, or it would count against my quota (best effort).
    if (upload.attachment) api.delete(`files/${upload.attachment.id}/`).catch(() => {});
    this.uploads = this.uploads.filter((u) => u !== upload);
    this.render();
    this.settle();
  }

  /** Another conversation: the files not sent here are dropped (and deleted). */
  clear() {
    this.sendWhenReady = null;
    for (const upload of [...this.uploads]) this.remove(upload.key);
  }

  /** Enter while files upload: `send` runs once none is uploading; the composer says it waits. */
  waitThenSend(send) {
    this.sendWhenReady = send;
    this.render();
  }

  /** An upload ended or went away: run the send that waited for it, unless a file failed. */
  settle() {
    if (!this.sendWhenReady || this.busy) return;
    const send = this.sendWhenReady;
    this.sendWhenReady = null;
    this.render();
    // A failed file keeps the message back: its chip says why, and Enter sends without it.
    if (!this.uploads.some((u) => u.state === "error")) send();
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
    this.waitNote.textContent = this.sendWhenReady
      ? gettext("Your message will be sent when the upload has finished.")
      : "";
    this.chips.hidden = !this.uploads.length;
    this.chips.replaceChildren(
      ...this.uploads.map((upload) => {
        const name = upload.file.name || gettext("Pasted file");
        let status;
        if (upload.state === "uploading" && upload.retrying) {
          status = h("span", { class: "upload-retrying", role: "status", text: gettext("Connection lost, retrying…") });
        } else if (upload.state === "uploading") {
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
