// The tab's one WebSocket to /ws/: connects, answers requests by `ref` (ack / error), pings to
// detect dead connections, and reconnects with exponential backoff and jitter.
// Announces on the bus: "socket:state" {state, retryAt}, "socket:open" {hello, reconnect},
// "socket:closed", "socket:refused" {attempt}, "socket:unauthenticated", and every server push
// as "push".

import { emit } from "./bus.js";
import { config } from "./config.js";
import { gettext } from "./i18n.js";

const PING_EVERY_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const CLOSE_UNAUTHENTICATED = 4401;
// Every frame carries it (apps/core/events.py PROTOCOL_VERSION); others are refused.
const PROTOCOL_VERSION = 1;

export class SocketError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = "SocketError";
    this.code = code;
    this.details = details;
  }

  /**
   * Nothing reached the server (or we cannot know), or the server could not reach its database
   * ("unavailable": restarting, failing over): resending the same operation is safe.
   */
  get retryable() {
    return ["disconnected", "timeout", "rate_limited", "unavailable"].includes(this.code);
  }
}

let socket = null;
let ready = false; // true between the server's "hello" and the close
let everReady = false;
let attempt = 0;
let reconnectTimer = null;
let pingTimer = null;
let pongTimer = null;
let nextRef = 1;
let stopped = false;
const inflight = new Map(); // ref -> {resolve, reject, timer}

export const isReady = () => ready;

export function connect() {
  if (stopped) return;
  clearTimeout(reconnectTimer);
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  emit("socket:state", { state: everReady ? "reconnecting" : "connecting" });
  const ws = new WebSocket(config.socketUrl);
  socket = ws;
  ws.addEventListener("message", (event) => {
    if (ws === socket) onFrame(event.data);
  });
  ws.addEventListener("close", (event) => {
    if (ws === socket) onClose(event.code);
  });
}

/** Reconnect at once (the banner's "Retry now", the browser coming back online). */
export function reconnectNow() {
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  attempt = 0;
  connect();
}

/** Send a fire-and-forget frame (typing, presence). Returns false when the socket is down. */
export function send(frame) {
  if (!ready) return false;
  // The envelope last: the server refuses a frame that is not version 1.
  socket.send(JSON.stringify({ ref: null, ...frame, v: PROTOCOL_VERSION }));
  return true;
}

/** Send an operation and resolve with its ack; reject with SocketError on error/timeout/close. */
export function request(frame, { timeout = REQUEST_TIMEOUT_MS } = {}) {
  if (!ready) {
    return Promise.reject(new SocketError("disconnected", gettext("Not connected.")));
  }
  const ref = nextRef++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      inflight.delete(ref);
      reject(new SocketError("timeout", gettext("The server did not answer in time.")));
    }, timeout);
    inflight.set(ref, { resolve, reject, timer });
    socket.send(JSON.stringify({ ...frame, v: PROTOCOL_VERSION, ref }));
  });
}

function onFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  if (frame.type === "hello") {
    ready = true;
    attempt = 0;
    const reconnect = everReady;
    everReady = true;
    startPing();
    emit("socket:state", { state: "open" });
    emit("socket:open", { hello: frame, reconnect });
    return;
  }
  if (frame.type === "pong") {
    clearTimeout(pongTimer);
  }
  if (frame.type === "ack" || frame.type === "error" || frame.type === "pong") {
    const waiting = frame.ref === null || frame.ref === undefined ? null : inflight.get(frame.ref);
    if (waiting) {
      inflight.delete(frame.ref);
      clearTimeout(waiting.timer);
      if (frame.type === "error") {
        waiting.reject(new SocketError(frame.code, frame.message, frame.details));
      } else {
        waiting.resolve(frame);
      }
    } else if (frame.type === "error") {
      console.warn("Enclave socket error", frame.code, frame.message);
    }
    return;
  }
  emit("push", frame);
}

function onClose(code) {
  const wasReady = ready;
  ready = false;
  socket = null;
  stopPing();
  for (const [ref, waiting] of inflight) {
    clearTimeout(waiting.timer);
    waiting.reject(new SocketError("disconnected", gettext("The connection was lost.")));
    inflight.delete(ref);
  }
  if (code === CLOSE_UNAUTHENTICATED) {
    stopped = true;
    emit("socket:unauthenticated", {});
    return;
  }
  if (wasReady) emit("socket:closed", {});
  // Refused before "hello": the server may be down, or the session may have ended (a refused
  // handshake reaches the browser as code 1006, whatever the server said).
  else emit("socket:refused", { attempt });
  // Exponential backoff with "equal jitter": half the window fixed, half random, so a server
  // restart is not met by every client at the same instant.
  const window = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  const delay = (attempt === 0 ? 300 : window / 2) + Math.random() * (window / 2);
  attempt += 1;
  const retryAt = Date.now() + delay;
  emit("socket:state", { state: "waiting", retryAt });
  reconnectTimer = setTimeout(connect, delay);
}

function startPing() {
  stopPing();
  pingTimer = setInterval(() => {
    if (!ready) return;
    socket.send(JSON.stringify({ v: PROTOCOL_VERSION, type: "ping", ref: null }));
    clearTimeout(pongTimer);
    // No pong: the connection is half-open (laptop sleep, proxy drop). Close and reconnect.
    pongTimer = setTimeout(dropConnection, PONG_TIMEOUT_MS);
  }, PING_EVERY_MS);
}

/** Give up on the current socket now, without waiting for a closing handshake that may never come. */
function dropConnection() {
  const ws = socket;
  if (!ws) return;
  onClose(1006);
  ws.close(4000, "pong timeout");
}

function stopPing() {
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
}

window.addEventListener("online", reconnectNow);
