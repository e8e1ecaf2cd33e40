// A small client of Janus' WebSocket API (the SFU of meetings: apps/calls/janus.py is the
// server's side). One WebSocket per meeting with the subprotocol "janus-protocol": a session
// (create, keepalive every KEEPALIVE_MS), handles attached to a plugin, requests matched to
// their answers by `transaction`, and the events Janus sends a handle unasked (a publisher
// joined, the media is up, the handle was hung up).
//
// Every request carries the participant's token (Janus' stored tokens: apps/calls/janus.py
// adds one per participant and removes it when they leave, so a removed person's requests fail
// and their session is destroyed by the server).

const PROTOCOL = "janus-protocol";
// Janus ends a session it has not heard of for session_timeout (60 s by default, 30 in tests).
const KEEPALIVE_MS = 25_000;
const REQUEST_TIMEOUT_MS = 20_000;

export class JanusError extends Error {
  constructor(message, code = null) {
    super(message);
    this.name = "JanusError";
    this.code = code;
  }
}

/** The WebSocket URL of ENCLAVE_JANUS_PUBLIC_URL, which may be relative to our own host. */
export function janusSocketUrl(url) {
  const absolute = new URL(url, location.href);
  if (absolute.protocol === "http:") absolute.protocol = "ws:";
  if (absolute.protocol === "https:") absolute.protocol = "wss:";
  return absolute.href;
}

function transactionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class JanusSession {
  constructor({ url, token }) {
    this.url = janusSocketUrl(url);
    this.token = token;
    this.id = null;
    this.ws = null;
    this.handles = new Map(); // handle id -> JanusHandle
    this.pending = new Map(); // transaction -> {resolve, reject, timer, keep}
    this.keepalive = null;
    this.closed = false;
    /** Called once when the session is gone (socket closed, timed out, destroyed by the server). */
    this.onclose = () => {};
  }

  /** Open the socket and create the session. */
  async connect() {
    this.ws = new WebSocket(this.url, PROTOCOL);
    await new Promise((resolve, reject) => {
      this.ws.addEventListener("open", resolve, { once: true });
      this.ws.addEventListener("error", () => reject(new JanusError("media server unreachable")), { once: true });
    });
    this.ws.addEventListener("message", (event) => this.#receive(event.data));
    this.ws.addEventListener("close", () => this.#gone("socket closed"));
    const created = await this.#request({ janus: "create" });
    this.id = created.data.id;
    this.keepalive = setInterval(() => {
      this.#request({ janus: "keepalive", session_id: this.id }, { ack: true }).catch(() => {});
    }, KEEPALIVE_MS);
    return this;
  }

  /** Attach a handle to `plugin`, tagged with `opaqueId` (the server drops sessions by it). */
  async attach(plugin, opaqueId) {
    const attached = await this.#request({ janus: "attach", session_id: this.id, plugin, opaque_id: opaqueId });
    const handle = new JanusHandle(this, attached.data.id);
    this.handles.set(handle.id, handle);
    return handle;
  }

  /** Destroy the session and close the socket (leaving: every handle goes with it). */
  async destroy() {
    if (this.closed) return;
    try {
      if (this.ws?.readyState === WebSocket.OPEN && this.id) {
        await this.#request({ janus: "destroy", session_id: this.id }, { timeout: 3_000 });
      }
    } catch {
      // Gone already (removed by the host, the server restarted): nothing left to destroy.
    }
    this.#gone("destroyed", { quiet: true });
    this.ws?.close();
  }

  /** Send `message` and resolve with Janus' answer (`success`, or for a plugin's asynchronous
   * request the `event` that follows its `ack`). */
  request(message, options) {
    return this.#request(message, options);
  }

  // `ack`: the request is answered by its `ack` alone (keepalive, trickle).
  #request(message, { timeout = REQUEST_TIMEOUT_MS, ack = false } = {}) {
    if (this.closed || this.ws?.readyState !== WebSocket.OPEN) {
      return Promise.reject(new JanusError("not connected to the media server"));
    }
    const transaction = transactionId();
    const frame = { ...message, transaction, token: this.token };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new JanusError(`no answer to ${message.janus}`, "timeout"));
      }, timeout);
      this.pending.set(transaction, { resolve, reject, timer, ack });
      this.ws.send(JSON.stringify(frame));
    });
  }

  #receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const waiting = frame.transaction ? this.pending.get(frame.transaction) : undefined;
    // Asynchronous plugin requests are answered twice: an `ack` now, the `event` later.
    if (waiting && (frame.janus !== "ack" || waiting.ack)) {
      this.pending.delete(frame.transaction);
      clearTimeout(waiting.timer);
      const data = frame.plugindata?.data;
      if (frame.janus === "error") {
        waiting.reject(new JanusError(frame.error?.reason ?? "media server error", frame.error?.code));
      } else if (data?.error_code) {
        waiting.reject(new JanusError(data.error ?? "media server error", data.error_code));
      } else {
        waiting.resolve(frame);
      }
      // An answer that is also an event of the handle (a jsep offer) is handled by the caller.
      return;
    }
    if (frame.janus === "ack" || frame.janus === "success") return;
    if (frame.janus === "timeout") {
      this.#gone("session timed out");
      return;
    }
    const handle = this.handles.get(frame.sender);
    if (!handle) return;
    if (frame.janus === "event") handle.onevent(frame.plugindata?.data ?? {}, frame.jsep ?? null);
    else if (frame.janus === "webrtcup") handle.onwebrtcup();
    else if (frame.janus === "slowlink") handle.onslowlink(frame);
    else if (frame.janus === "hangup") handle.onhangup(frame.reason);
    else if (frame.janus === "detached") {
      this.handles.delete(handle.id);
      handle.onhangup("detached");
    }
  }

  #gone(reason, { quiet = false } = {}) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new JanusError(reason, "closed"));
    }
    this.pending.clear();
    if (!quiet) this.onclose(reason);
  }
}

export class JanusHandle {
  constructor(session, id) {
    this.session = session;
    this.id = id;
    // Set by the owner: the plugin's events (data, jsep), media up, slow link, hang-up.
    this.onevent = () => {};
    this.onwebrtcup = () => {};
    this.onslowlink = () => {};
    this.onhangup = () => {};
  }

  /** A plugin request (`body`, with an SDP as `jsep`): resolves with {data, jsep}. */
  async message(body, jsep = null) {
    const frame = { janus: "message", session_id: this.session.id, handle_id: this.id, body };
    if (jsep) frame.jsep = jsep;
    const answer = await this.session.request(frame);
    return { data: answer.plugindata?.data ?? {}, jsep: answer.jsep ?? null };
  }

  /** Trickle an ICE candidate to Janus (null: gathering completed). */
  trickle(candidate) {
    const frame = {
      janus: "trickle",
      session_id: this.session.id,
      handle_id: this.id,
      candidate: candidate ? candidate.toJSON() : { completed: true },
    };
    this.session.request(frame, { ack: true }).catch(() => {});
  }

  async detach() {
    this.session.handles.delete(this.id);
    await this.session.request({ janus: "detach", session_id: this.session.id, handle_id: this.id }).catch(() => {});
  }
}
