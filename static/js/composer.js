// The message box: Enter sends, Shift+Enter adds a line, nothing is sent while an IME is
// composing (event.isComposing / keyCode 229). Grows with its text, keeps a draft per channel
// and thread in localStorage, announces typing, and hands messages to the outbox.
// ArrowUp in an empty box edits my last message.

import { ComposerAttachments } from "./attachments.js";
import { Autocomplete } from "./autocomplete.js";
import { emit } from "./bus.js";
import { debounce, isComposing } from "./dom.js";
import * as outbox from "./outbox.js";
import { store } from "./store.js";
import { noteTyping, resetTyping } from "./typing.js";

const MAX_HEIGHT_PX = 240;

function draftKey(target) {
  return `enclave:draft:${store.me.id}:${target.channelId}:${target.threadRootId ?? "main"}`;
}

function readDraft(target) {
  try {
    return localStorage.getItem(draftKey(target)) ?? "";
  } catch {
    return "";
  }
}

function writeDraft(target, text) {
  try {
    if (text.trim()) localStorage.setItem(draftKey(target), text);
    else localStorage.removeItem(draftKey(target));
  } catch {
    // Storage full or disabled: drafts are a convenience.
  }
}

export class Composer {
  /** @param pane id of the message list this composer writes into (for "edit my last message") */
  constructor(form, { pane }) {
    this.form = form;
    this.input = form.querySelector("textarea");
    this.pane = pane;
    this.target = null; // {channelId, threadRootId}
    this.saveDraftSoon = debounce(() => this.saveDraft(), 400);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.attachments = new ComposerAttachments(form, {
      canAttach: () => Boolean(this.target) && !this.input.disabled && !this.form.hidden,
      dropZone: form.closest("main, aside"),
    });
    this.autocomplete = new Autocomplete(this.input, { channelOf: () => this.target?.channelId });
    this.input.addEventListener("keydown", (event) => this.onKeyDown(event));
    this.input.addEventListener("input", () => this.onInput());
    window.addEventListener("pagehide", () => this.saveDraft());
  }

  /** Point the composer at a channel (and thread); saves the old draft, restores the new one. */
  setTarget(target, { placeholder = "", enabled = true } = {}) {
    if (this.target) this.saveDraft();
    this.saveDraftSoon.cancel();
    this.autocomplete.close();
    if (this.target?.channelId !== target?.channelId || this.target?.threadRootId !== target?.threadRootId) {
      this.attachments.clear();
    }
    this.target = target;
    this.input.value = target ? readDraft(target) : "";
    this.input.placeholder = placeholder;
    this.input.disabled = !enabled;
    this.form.querySelector("button[type=submit]").disabled = !enabled;
    this.attachments.button.disabled = !enabled;
    this.form.hidden = !target;
    this.autosize();
  }

  focus() {
    if (!this.input.disabled && this.input.offsetParent !== null) this.input.focus();
  }

  saveDraft() {
    if (this.target) writeDraft(this.target, this.input.value);
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }

  onInput() {
    this.autosize();
    this.saveDraftSoon();
    if (this.target && this.input.value.trim()) noteTyping(this.target.channelId, this.target.threadRootId);
  }

  onKeyDown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !isComposing(event)) {
      event.preventDefault();
      this.submit();
    } else if (event.key === "ArrowUp" && !event.altKey && !this.input.value && !isComposing(event) && this.target) {
      event.preventDefault();
      emit("edit:last", { ...this.target, pane: this.pane });
    }
  }

  submit() {
    const body = this.input.value;
    if (!this.target || this.input.disabled) return;
    // Files still uploading (or being scanned inside their upload) hold the message back until
    // they are ready; the composer says so meanwhile.
    if (this.attachments.busy) {
      this.attachments.waitThenSend(() => this.submit());
      return;
    }
    const attachmentIds = this.attachments.readyIds();
    if (!body.trim() && !attachmentIds.length) return;
    outbox.send({ channelId: this.target.channelId, threadRootId: this.target.threadRootId, body, attachmentIds });
    this.attachments.sent();
    this.input.value = "";
    this.saveDraftSoon.cancel();
    writeDraft(this.target, "");
    resetTyping();
    this.autosize();
    emit("composer:sent", { ...this.target });
  }
}
