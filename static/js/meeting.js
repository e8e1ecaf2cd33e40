// A meeting or live classroom this tab is in (meeting-entry.js starts and joins them: the
// header's button, the conversation's bar, the sidebar's mark). Enclave keeps the meeting's state
// (apps/calls: start, join, leave, hand, stage, and the host's mute all, remove, end, as socket
// operations; `call.updated`, `call.ended`, `call.muted`, `call.removed` as pushes); the media
// goes through Janus' VideoRoom, which this tab talks to directly (janus.js) with the room, pin
// and token the server's join answer hands over.
//
// In Janus, each of us is one publisher (camera and microphone, the camera in three simulcast
// layers) and one multistream subscriber that receives every other publisher's streams. A
// screen share is a second publisher of the same session, so that the others see it beside the
// camera as a tile of its own (and a viewer who gets the camera at a low layer still gets the
// screen in full), and stopping it leaves the camera untouched. A classroom's listeners join as
// publishers that publish nothing (Janus tells them of every publisher) until the host brings
// them on stage.
//
// Who is muted is read from the media: a feed whose audio stops arriving shows muted (a muted
// microphone sends nothing here: its sender's track is taken off), and the loudest feed
// (getStats' audioLevel) is the active speaker. The same statistics say how good my connection
// and each other person's is (meeting-quality.js).
//
// A network blip does not end the meeting. When a connection's ICE goes disconnected or failed,
// it is restarted (a new offer with fresh ICE credentials: Janus' `configure` with `restart`
// for the subscriber). When Janus' socket closes (or ICE restarts do not help), the view stays
// and says "Reconnecting…": with backoff, for the join answer's `reconnect_seconds`, the page
// asks the server for fresh access (POST calls/{id}/join/: a new token and publisher ids, the
// old ones revoked), opens a new session, publishes the same camera, microphone and screen
// (muted stays muted) and subscribes to the publishers there; only then does it give up. A
// removal or the end (a push, or the call's state read before each attempt) ends it at once.

import { ApiError, api } from "./api.js";
import { emit, on } from "./bus.js";
import { h } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import { JanusSession } from "./janus.js";
import { classify, lossBetween, qualityLabel, worse } from "./meeting-quality.js";
import { notify, notifyError } from "./notices.js";
import * as socket from "./socket.js";
import { channelLabel, store, userName } from "./store.js";

const PLUGIN = "janus.plugin.videoroom";
const HEARTBEAT_MS = 15_000;
const STATS_MS = 1_000;
// Starting or joining waits on Janus (a room made, a token added) on the server.
const JOIN_TIMEOUT_MS = 30_000;
// A speaker is someone whose audio level (0..1) is above this.
const SPEAKING_LEVEL = 0.02;
// A feed whose audio sent no packet for this many stats rounds shows muted.
const SILENT_ROUNDS = 2;
// Losing Janus: the waits between attempts to get back in (the last one repeats until the
// join answer's `reconnect_seconds` are over).
const RECONNECT_DELAYS_MS = [1_000, 2_000, 4_000, 8_000];
// ICE "disconnected" often heals by itself: restart it after this; "failed" at once. After
// ICE_RESTARTS restarts that did not bring it back within ICE_RESTART_WAIT_MS, reconnect.
const ICE_DISCONNECTED_MS = 3_000;
const ICE_RESTART_WAIT_MS = 8_000;
const ICE_RESTARTS = 2;
// The connection's quality is judged over this many stats rounds (a second's loss is noise).
const QUALITY_ROUNDS = 3;
// After a slow-link report, the subscriber stays on the lowest layers for this long.
const SLOW_LINK_MS = 15_000;
// Simulcast layers of the camera (Janus' substreams 2, 1, 0).
const SIMULCAST = [
  { rid: "h", active: true, maxBitrate: 900_000 },
  { rid: "m", active: true, maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  { rid: "l", active: true, maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];

/** The meeting this tab is in. */
let meeting = null;
let joining = false;

// --- the interface -------------------------------------------------------------------------------

function button(id, text, extra = {}) {
  return h("button", { type: "button", class: "button", id, text, ...extra });
}

const title = h("h2", { class: "meeting-title", id: "meeting-title" });
const status = h("p", { class: "meeting-status", id: "meeting-status", "aria-live": "polite" });
const ownQuality = h("span", { class: "meeting-quality", id: "meeting-quality", role: "img", hidden: true });
const tiles = h("div", { class: "meeting-tiles", id: "meeting-tiles", dataset: { layout: "grid" } });
const peopleList = h("ul", { class: "meeting-people-list", id: "meeting-people-list" });
const people = h(
  "aside",
  { class: "meeting-people", id: "meeting-people", hidden: true, "aria-label": gettext("Participants") },
  h("h3", { text: gettext("Participants") }),
  peopleList,
);
const micSelect = h("select", { id: "meeting-mic-select", "aria-label": gettext("Microphone") });
const cameraSelect = h("select", { id: "meeting-camera-select", "aria-label": gettext("Camera") });
const devices = h(
  "div",
  { class: "meeting-devices", id: "meeting-devices", hidden: true },
  h("label", { text: gettext("Microphone") }, micSelect),
  h("label", { text: gettext("Camera") }, cameraSelect),
);
const micButton = button("meeting-mic", gettext("Mute"), { "aria-pressed": "false" });
const cameraButton = button("meeting-camera", gettext("Camera off"), { "aria-pressed": "false" });
const screenButton = button("meeting-screen", gettext("Share screen"), { "aria-pressed": "false" });
const handButton = button("meeting-hand", gettext("Raise hand"), { "aria-pressed": "false" });
const layoutButton = button("meeting-layout", gettext("Speaker view"), { "aria-pressed": "false" });
const peopleButton = button("meeting-people-toggle", gettext("Participants"), { "aria-expanded": "false", "aria-controls": "meeting-people" });
const devicesButton = button("meeting-devices-toggle", gettext("Devices"), { "aria-expanded": "false", "aria-controls": "meeting-devices" });
const muteAllButton = button("meeting-mute-all", gettext("Mute everyone"));
const endButton = button("meeting-end", gettext("End for everyone"), { class: "button meeting-danger" });
const leaveButton = button("meeting-leave", gettext("Leave"), { class: "button meeting-danger" });

const view = h(
  "section",
  { class: "meeting-view", id: "meeting-view", hidden: true, role: "region", "aria-labelledby": "meeting-title" },
  h("header", { class: "meeting-head" }, title, ownQuality, status),
  h("div", { class: "meeting-body" }, tiles, people),
  devices,
  h(
    "div",
    { class: "meeting-controls" },
    micButton,
    cameraButton,
    screenButton,
    handButton,
    layoutButton,
    peopleButton,
    devicesButton,
    muteAllButton,
    endButton,
    leaveButton,
  ),
);
document.body.append(view);

function setStatus(text) {
  status.textContent = text;
}

// --- tiles ---------------------------------------------------------------------------------------

/** The tile of a user's camera ("camera") or screen ("screen"); `local` for my own. */
function tileFor(userId, kind, { create = true } = {}) {
  const key = `${userId}/${kind}`;
  let tile = meeting.tiles.get(key);
  if (tile || !create) return tile;
  const local = userId === store.me.id;
  const video = h("video", { autoplay: true, playsinline: true });
  video.muted = local; // my own sound is not played back to me
  const name = local
    ? interpolate(gettext("%(name)s (you)"), { name: store.me.name }, true)
    : userName(userId);
  const label = kind === "screen" ? interpolate(gettext("%(name)s's screen"), { name }, true) : name;
  tile = {
    key,
    userId,
    kind,
    stream: new MediaStream(),
    silentRounds: 0,
    element: h(
      "figure",
      {
        class: "meeting-tile",
        dataset: { userId, kind, video: "off", initial: Array.from(name.trim())[0]?.toUpperCase() ?? "?", ...(local ? { local: "true" } : {}) },
      },
      video,
      h(
        "figcaption",
        {},
        h("span", { class: "meeting-tile-name", text: label }),
        h("span", { class: "meeting-tile-hand", "aria-label": gettext("Hand raised"), text: "✋" }),
        h("span", { class: "meeting-tile-muted", "aria-label": gettext("Muted"), text: "🔇" }),
        local ? null : h("span", { class: "meeting-quality meeting-tile-quality", role: "img", hidden: true }),
      ),
    ),
  };
  video.srcObject = tile.stream;
  meeting.tiles.set(key, tile);
  tiles.append(tile.element);
  arrangeTiles();
  return tile;
}

function removeTile(key) {
  const tile = meeting?.tiles.get(key);
  if (!tile) return;
  tile.element.querySelector("video").srcObject = null;
  tile.element.remove();
  meeting.tiles.delete(key);
  arrangeTiles();
}

function setTileTrack(tile, track) {
  for (const old of tile.stream.getTracks().filter((t) => t.kind === track.kind)) tile.stream.removeTrack(old);
  tile.stream.addTrack(track);
  // A new stream object makes the element pick the new track up.
  tile.element.querySelector("video").srcObject = new MediaStream(tile.stream.getTracks());
}

/** Speaker layout: a screen share, else the active speaker, is the big tile. */
function arrangeTiles() {
  if (!meeting) return;
  tiles.dataset.count = String(meeting.tiles.size);
  const all = [...meeting.tiles.values()];
  const featured =
    all.find((t) => t.kind === "screen") ?? all.find((t) => t.userId === meeting.speaker && !t.element.dataset.local) ?? all.find((t) => !t.element.dataset.local) ?? all[0];
  for (const tile of all) tile.element.classList.toggle("is-featured", tile === featured);
  chooseLayers();
}

// --- joining and leaving -------------------------------------------------------------------------

/** The meeting this tab is in (its call id), or null. */
export function currentMeetingId() {
  return meeting?.call.id ?? null;
}

/** Whether this tab is in a meeting or joining one (no second one meanwhile). */
export function meetingBusy() {
  return meeting !== null || joining;
}

/** Start a meeting in the channel (`media`, `mode`), or join the one going on (`callId`). */
export async function joinMeeting(channelId, callId = null, { media = "video", mode = "meeting" } = {}) {
  if (meetingBusy()) return;
  joining = true;
  emit("meeting", {});
  let joined;
  try {
    const frame = callId ? { type: "call.join", call_id: callId } : { type: "call.meeting_start", channel_id: channelId, media, mode };
    joined = await socket.request(frame, { timeout: JOIN_TIMEOUT_MS });
  } catch (error) {
    notifyError(error);
    return;
  } finally {
    joining = false;
    emit("meeting", {});
  }
  meeting = {
    call: joined.call,
    access: joined.janus,
    channelId: joined.call.channel_id,
    session: null,
    publisher: null, // {handle, pc, stream}
    screen: null, // {handle, pc, stream}
    subscriber: null, // {handle, pc, streams: Map(mid -> stream info)}
    subscriberQueue: Promise.resolve(),
    feeds: new Map(), // Janus publisher id -> {userId, kind}: the ones subscribed to
    announced: new Set(), // publisher ids Janus announced, allowed or not (yet)
    tiles: new Map(),
    iceConfig: null,
    micOff: false,
    cameraOff: false,
    hand: false,
    speaker: null,
    slowUntil: 0,
    leaving: false,
    connected: false, // the media was up once: losing it now is a blip to recover from
    reconnecting: false,
    devicesAsked: false, // my camera and microphone were asked for (publishing, or refused)
    counters: new Map(), // inbound-rtp stat id -> its packet counters at the last judgement
    statsRound: 0,
    heartbeat: setInterval(() => heartbeat(joined.call.id), HEARTBEAT_MS),
    statsTimer: null,
    askedAbout: new Set(), // announced publishers the call state did not allow, asked about once
  };
  openView();
  setStatus(gettext("Connecting to the meeting…"));
  try {
    await connectMedia();
  } catch (error) {
    console.warn("meeting: could not connect", error);
    await leave(gettext("The media server could not be reached."));
  }
}

/** I am still here: over the socket, or over HTTP while the socket reconnects. */
function heartbeat(callId) {
  if (!socket.send({ type: "call.heartbeat", call_id: callId })) api.post(`calls/${callId}/heartbeat/`, {}).catch(() => {});
}

function openView() {
  const channel = store.channels.get(meeting.channelId);
  title.textContent = interpolate(
    meeting.call.mode === "classroom" ? gettext("Live classroom in %(name)s") : gettext("Meeting in %(name)s"),
    { name: channelLabel(channel) },
    true,
  );
  tiles.replaceChildren();
  ownQuality.hidden = true;
  delete view.dataset.iceRestarts;
  view.hidden = false;
  view.dataset.state = "connecting";
  view.dataset.mode = meeting.call.mode;
  renderControls();
  renderPeople();
  emit("meeting", {});
}

async function connectMedia() {
  const current = meeting;
  current.iceConfig = await api.get("calls/ice-servers/").catch(() => ({ ice_servers: [] }));
  const publishers = await openSession(current);
  if (meeting !== current) return;
  current.connected = true;
  view.dataset.state = "connected";
  setStatus("");
  try {
    if (current.access.publish) await publishCamera(current);
    else renderControls();
    notePublishers(current, publishers);
  } catch (error) {
    // Janus went away meanwhile: reconnecting (started by the session's close) takes over.
    if (!current.reconnecting) throw error;
  }
  current.statsTimer = setInterval(() => pollStats(current), STATS_MS);
  fillDevices().catch(() => {});
}

/** A Janus session with my publisher joined to the room (publishing nothing yet); resolves
 * with the publishers already there. */
async function openSession(current) {
  const session = new JanusSession({ url: current.access.url, token: current.access.token });
  current.session = session;
  session.onclose = () => {
    if (meeting === current && current.session === session && current.connected) reconnect(current);
  };
  await session.connect();
  if (meeting !== current) {
    session.destroy();
    return [];
  }
  const handle = await session.attach(PLUGIN, current.access.opaque_id);
  handle.onevent = (data, jsep) => onPublisherEvent(current, data, jsep);
  const { data } = await handle.message({
    request: "join",
    ptype: "publisher",
    room: current.access.room,
    pin: current.access.pin,
    id: current.access.feed_id,
    display: String(store.me.id),
  });
  // My camera and microphone are kept across a reconnection.
  current.publisher = { handle, pc: null, stream: current.publisher?.stream ?? null };
  current.privateId = data.private_id;
  return data.publishers ?? [];
}

// --- reconnecting ----------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Janus is lost (its socket closed, or ICE would not come back): keep the view, and get the
 * media back within the join answer's `reconnect_seconds`, else leave saying so. */
async function reconnect(current) {
  if (current.reconnecting || meeting !== current) return;
  current.reconnecting = true;
  view.dataset.state = "reconnecting";
  setStatus(gettext("Reconnecting…"));
  ownQuality.hidden = true;
  dropMedia(current);
  renderControls();
  const deadline = Date.now() + (current.access.reconnect_seconds ?? 40) * 1000;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    // The last attempt at the deadline.
    await sleep(Math.min(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)], deadline - Date.now()));
    if (meeting !== current) return;
    try {
      await rejoin(current);
      return;
    } catch (error) {
      if (meeting !== current) return;
      if (error instanceof ApiError && !error.retryable) {
        const text = error.code === "call_ended" ? gettext("The meeting has ended.") : gettext("You are no longer in the meeting.");
        leave(text, { tellServer: false });
        return;
      }
      console.warn("meeting: reconnecting failed", error);
      dropMedia(current);
    }
  }
  if (meeting === current) leave(gettext("The connection to the meeting could not be restored, so you have left it."));
}

/** Close the media of a lost session; my camera, microphone and screen streams and the tiles
 * stay for the next one. */
function dropMedia(current) {
  const old = current.session;
  current.session = null;
  if (old) {
    old.onclose = () => {};
    old.destroy();
  }
  for (const part of [current.publisher, current.screen, current.subscriber]) {
    part?.pc?.close();
    if (part) part.pc = null;
  }
  current.subscriber = null;
  current.subscriberQueue = Promise.resolve();
  current.feeds.clear();
  current.announced.clear();
  current.counters.clear();
}

/** One attempt to get back in: throws to be tried again, an ApiError not worth retrying
 * (the meeting ended, I am no longer in it) included. */
async function rejoin(current) {
  const callId = current.call.id;
  // Pushes missed while the sockets were down: the meeting may have ended, or I may have been
  // removed; joining again would undo that.
  const call = await api.get(`calls/${callId}/`);
  if (meeting !== current) return;
  if (call.state === "ended") {
    ended(call);
    return;
  }
  if (call.participants.find((p) => p.user_id === store.me.id)?.state !== "joined") {
    leave(gettext("You are no longer in the meeting."), { tellServer: false });
    return;
  }
  const joined = await api.post(`calls/${callId}/join/`, {});
  if (meeting !== current) return;
  current.call = joined.call;
  current.access = joined.janus;
  // TURN credentials expire: fresh ones with the fresh access.
  current.iceConfig = await api.get("calls/ice-servers/").catch(() => current.iceConfig);
  const publishers = await openSession(current);
  if (meeting !== current) return;
  const stream = current.publisher.stream;
  if (stream && current.access.publish) {
    current.publisher.pc = await publish(current, current.publisher, stream, { simulcast: true });
    if (current.micOff) await setSending(current, "audio", false);
    if (current.cameraOff) await setSending(current, "video", false);
  } else if (stream) {
    // Sent back to the audience meanwhile.
    for (const track of stream.getTracks()) track.stop();
    current.publisher.stream = null;
    removeTile(`${store.me.id}/camera`);
  } else if (current.access.publish && !current.devicesAsked) {
    // Brought on stage meanwhile.
    await publishCamera(current);
  }
  if (current.screen) await shareScreen(current, current.screen.stream);
  if (meeting !== current) return;
  current.reconnecting = false;
  notePublishers(current, publishers);
  // Whoever left meanwhile is not coming back in this session.
  for (const tile of [...current.tiles.values()]) {
    if (tile.userId === store.me.id) continue;
    if (![...current.feeds.values()].some((feed) => feed.userId === tile.userId && feed.kind === tile.kind)) removeTile(tile.key);
  }
  view.dataset.state = "connected";
  setStatus("");
  renderControls();
  renderPeople();
  notify(gettext("You are connected to the meeting again."), { kind: "info" });
}

/** Watch a connection's ICE: restart it when it goes disconnected (after a grace) or failed;
 * when restarts do not bring it back, reconnect the whole session. */
function watchIce(current, pc, restart) {
  let timer = null;
  let restarts = 0;
  const healthy = () => pc.iceConnectionState === "connected" || pc.iceConnectionState === "completed";
  const check = () => {
    timer = null;
    if (meeting !== current || current.reconnecting || pc.signalingState === "closed" || healthy()) return;
    if (restarts >= ICE_RESTARTS) {
      reconnect(current);
      return;
    }
    restarts += 1;
    view.dataset.iceRestarts = String(Number(view.dataset.iceRestarts ?? 0) + 1);
    restart().catch((error) => console.warn("meeting: ICE restart failed", error));
    timer = setTimeout(check, ICE_RESTART_WAIT_MS);
  };
  pc.addEventListener("iceconnectionstatechange", () => {
    if (healthy()) {
      restarts = 0;
      clearTimeout(timer);
      timer = null;
      return;
    }
    const state = pc.iceConnectionState;
    if ((state === "disconnected" || state === "failed") && timer === null) {
      timer = setTimeout(check, state === "failed" ? 0 : ICE_DISCONNECTED_MS);
    }
  });
}

/** ICE restart of a publisher (`part`: my camera's or my screen's): a new offer with fresh ICE
 * credentials, Janus' answer. */
async function restartPublisher(current, part, pc) {
  if (part.pc !== pc || meeting !== current) return;
  await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
  const { jsep } = await part.handle.message({ request: "configure", restart: true }, { type: pc.localDescription.type, sdp: pc.localDescription.sdp });
  if (jsep && part.pc === pc) await pc.setRemoteDescription(jsep);
}

/** ICE restart of my subscription: Janus offers again with fresh ICE credentials. */
function restartSubscriber(current) {
  return new Promise((resolve, reject) => {
    queueSubscriber(current, async () => {
      try {
        const subscriber = current.subscriber;
        if (!subscriber || meeting !== current) return resolve();
        const { jsep } = await subscriber.handle.message({ request: "configure", restart: true });
        if (jsep) await answerSubscriber(current, jsep);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  });
}

function peerConnection(current) {
  return new RTCPeerConnection({
    iceServers: current.iceConfig.ice_servers ?? [],
    iceTransportPolicy: current.iceConfig.ice_transport_policy ?? "all",
  });
}

/** Publish `stream` on the handle of `part` (my camera's or my screen's publisher): a sendonly
 * offer, Janus' answer. The camera goes in simulcast. */
async function publish(current, part, stream, { simulcast }) {
  const { handle } = part;
  const pc = peerConnection(current);
  pc.addEventListener("icecandidate", ({ candidate }) => handle.trickle(candidate));
  watchIce(current, pc, () => restartPublisher(current, part, pc));
  for (const track of stream.getTracks()) {
    const init = { direction: "sendonly", streams: [stream] };
    if (track.kind === "video" && simulcast) {
      try {
        pc.addTransceiver(track, { ...init, sendEncodings: SIMULCAST });
        continue;
      } catch {
        // No simulcast in this browser: one layer.
      }
    }
    pc.addTransceiver(track, init);
  }
  await pc.setLocalDescription(await pc.createOffer());
  const { jsep } = await handle.message({ request: "publish" }, { type: pc.localDescription.type, sdp: pc.localDescription.sdp });
  if (meeting !== current) {
    pc.close();
    return null;
  }
  await pc.setRemoteDescription(jsep);
  return pc;
}

async function publishCamera(current) {
  current.devicesAsked = true;
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: current.call.media === "video" });
  } catch {
    notify(gettext("Enclave may not use your microphone or camera: you take part without them."));
  }
  if (meeting !== current) {
    for (const track of stream?.getTracks() ?? []) track.stop();
    return;
  }
  current.publisher.stream = stream;
  tileFor(store.me.id, "camera");
  if (stream) {
    const tile = tileFor(store.me.id, "camera");
    for (const track of stream.getVideoTracks()) setTileTrack(tile, track);
    current.publisher.pc = await publish(current, current.publisher, stream, { simulcast: true });
    if (current.micOff) await setSending(current, "audio", false);
  }
  renderControls();
}

async function unpublishCamera(current) {
  const { publisher } = current;
  if (!publisher?.pc) return;
  await publisher.handle.message({ request: "unpublish" }).catch(() => {});
  publisher.pc.close();
  publisher.pc = null;
  for (const track of publisher.stream?.getTracks() ?? []) track.stop();
  publisher.stream = null;
  removeTile(`${store.me.id}/camera`);
  if (current.screen) await stopScreen();
  renderControls();
}

/** Leave the meeting: tell the server (unless it told us), close the media, say why. */
async function leave(reason = null, { tellServer = true } = {}) {
  const current = meeting;
  if (!current) return;
  current.leaving = true;
  meeting = null;
  clearInterval(current.heartbeat);
  clearInterval(current.statsTimer);
  for (const part of [current.publisher, current.screen, current.subscriber]) {
    part?.pc?.close();
    for (const track of part?.stream?.getTracks() ?? []) track.stop();
  }
  for (const tile of current.tiles.values()) tile.element.querySelector("video").srcObject = null;
  current.session?.destroy();
  view.hidden = true;
  view.dataset.state = "left";
  tiles.replaceChildren();
  peopleList.replaceChildren();
  emit("meeting", {});
  if (reason) notify(reason, { kind: "info" });
  if (tellServer) await socket.request({ type: "call.hangup", call_id: current.call.id }).catch(() => {});
}

// --- Janus events ----------------------------------------------------------------------------------

/**
 * The publishers the server lets publish now (joined and on stage), by Janus publisher id.
 * A publisher is known by the id the server issued, never by its `display`, which its own
 * browser chose: a listener who publishes anyway, or a display naming somebody else, is not
 * watched (the server kicks a listener's publishers too).
 */
function allowedFeeds(call) {
  const allowed = new Map();
  for (const p of call.participants) {
    if (p.camera_feed_id) allowed.set(p.camera_feed_id, { userId: p.user_id, kind: "camera" });
    if (p.screen_feed_id) allowed.set(p.screen_feed_id, { userId: p.user_id, kind: "screen" });
  }
  return allowed;
}

function onPublisherEvent(current, data, jsep) {
  if (meeting !== current) return;
  if (data.publishers) notePublishers(current, data.publishers);
  // A publisher that stopped, left, or was kicked by the host (their media is gone).
  for (const gone of [data.unpublished, data.leaving, data.kicked]) {
    if (gone !== undefined && gone !== "ok") {
      current.announced.delete(gone);
      dropFeed(current, gone);
    }
  }
  if (data.leaving === "ok" && data.reason === "kicked") {
    setStatus(gettext("The host removed you from the meeting."));
  }
  if (jsep?.type === "answer") current.publisher?.pc?.setRemoteDescription(jsep).catch(() => {});
}

function dropFeed(current, feedId) {
  const feed = current.feeds.get(feedId);
  if (!feed) return;
  current.feeds.delete(feedId);
  removeTile(`${feed.userId}/${feed.kind}`);
}

/** Publishers that appeared: remember them, and subscribe to those the server allows. */
function notePublishers(current, publishers) {
  for (const publisher of publishers) current.announced.add(publisher.id);
  subscribeAllowed(current);
}

/** Subscribe to every announced publisher the server allows that is not subscribed yet
 * (not to my own camera or screen: Janus announces my screen's publisher to me too). */
function subscribeAllowed(current) {
  if (current.reconnecting) return; // done once the new session is there
  const allowed = allowedFeeds(current.call);
  const fresh = [];
  let unknown = false;
  for (const id of current.announced) {
    const feed = allowed.get(id);
    if (!feed && !current.askedAbout.has(id)) {
      current.askedAbout.add(id); // once per publisher: never a loop of requests
      unknown = true;
    }
    if (!feed || current.feeds.has(id) || feed.userId === store.me.id) continue;
    current.feeds.set(id, feed);
    tileFor(feed.userId, feed.kind);
    fresh.push(id);
  }
  if (fresh.length) queueSubscriber(current, () => subscribe(current, fresh));
  // A publisher the call state does not know yet: someone who (re)joined after the state I
  // hold was made (a rejoin gives new feed ids, and a join answer can be older than the push
  // of another's rejoin). Ask for the state once; it subscribes to them if they may be seen.
  if (unknown) refreshCall(current);
}

function refreshCall(current) {
  if (current.refreshingCall) return;
  current.refreshingCall = true;
  api
    .get(`calls/${current.call.id}/`)
    .then((call) => {
      if (meeting === current && call.state !== "ended") updateMeeting(call);
    })
    .catch(() => {})
    .finally(() => {
      current.refreshingCall = false;
    });
}

/** Subscriber changes one at a time: each is an offer from Janus and our answer. */
function queueSubscriber(current, task) {
  current.subscriberQueue = current.subscriberQueue.then(task).catch((error) => {
    if (meeting === current) console.warn("meeting: subscription failed", error);
  });
}

async function subscribe(current, feedIds) {
  if (meeting !== current) return;
  const streams = feedIds.filter((id) => current.feeds.has(id)).map((feed) => ({ feed }));
  if (!streams.length) return;
  if (!current.subscriber) {
    const handle = await current.session.attach(PLUGIN, current.access.opaque_id);
    const pc = peerConnection(current);
    current.subscriber = { handle, pc, streams: new Map() };
    pc.addEventListener("icecandidate", ({ candidate }) => handle.trickle(candidate));
    pc.addEventListener("track", ({ track, transceiver }) => onRemoteTrack(current, track, transceiver.mid));
    pc.addEventListener("connectionstatechange", () => {
      view.dataset.connection = pc.connectionState;
    });
    watchIce(current, pc, () => restartSubscriber(current));
    handle.onevent = (data, jsep) => {
      if (meeting !== current) return;
      if (data.streams) noteStreams(current, data.streams);
      if (jsep) queueSubscriber(current, () => answerSubscriber(current, jsep));
    };
    handle.onslowlink = () => {
      current.slowUntil = Date.now() + SLOW_LINK_MS;
      chooseLayers();
    };
    const { data, jsep } = await handle.message({
      request: "join",
      ptype: "subscriber",
      room: current.access.room,
      pin: current.access.pin,
      private_id: current.privateId,
      streams,
    });
    noteStreams(current, data.streams ?? []);
    if (jsep) await answerSubscriber(current, jsep);
    return;
  }
  const { data, jsep } = await current.subscriber.handle.message({ request: "subscribe", streams });
  if (data.streams) noteStreams(current, data.streams);
  if (jsep) await answerSubscriber(current, jsep);
}

function noteStreams(current, streams) {
  current.subscriber.streams = new Map(streams.filter((s) => s.active !== false).map((s) => [s.mid, s]));
}

async function answerSubscriber(current, jsep) {
  if (meeting !== current) return;
  const { pc, handle } = current.subscriber;
  await pc.setRemoteDescription(jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await handle.message({ request: "start" }, { type: pc.localDescription.type, sdp: pc.localDescription.sdp });
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.mid && transceiver.receiver.track && transceiver.currentDirection !== "inactive") {
      onRemoteTrack(current, transceiver.receiver.track, transceiver.mid);
    }
  }
  chooseLayers();
}

function onRemoteTrack(current, track, mid) {
  const stream = current.subscriber?.streams.get(mid);
  const feed = stream && current.feeds.get(stream.feed_id);
  if (!feed || meeting !== current) return;
  const tile = tileFor(feed.userId, feed.kind);
  if (!tile.stream.getTracks().includes(track)) setTileTrack(tile, track);
}

/** Simulcast: the featured tile (or every tile of a small grid) at the top layer, the others
 * lower; everything at the lowest layer for a while after Janus reports a slow link. */
function chooseLayers() {
  const current = meeting;
  const subscriber = current?.subscriber;
  if (!subscriber) return;
  const speakerLayout = tiles.dataset.layout === "speaker";
  const slow = Date.now() < current.slowUntil;
  const streams = [];
  for (const [mid, info] of subscriber.streams) {
    if (info.type !== "video" || !info.simulcast) continue;
    const feed = current.feeds.get(info.feed_id);
    const tile = feed && current.tiles.get(`${feed.userId}/${feed.kind}`);
    let substream = current.tiles.size <= 4 ? 2 : 1;
    if (speakerLayout) substream = tile?.element.classList.contains("is-featured") ? 2 : 0;
    if (slow) substream = 0;
    if (info.substream !== substream) {
      info.substream = substream;
      streams.push({ mid, substream });
    }
  }
  if (streams.length) subscriber.handle.message({ request: "configure", streams }).catch(() => {});
}

// --- statistics: who speaks, who is muted ----------------------------------------------------------

async function pollStats(current) {
  if (meeting !== current || current.reconnecting) return;
  current.statsRound += 1;
  const judge = current.statsRound % QUALITY_ROUNDS === 0;
  const mine = {}; // my connection: both ways, through Janus
  const theirs = new Map(); // tile -> its sample
  const levels = new Map(); // user id -> audio level
  const heard = new Set(); // tiles whose audio has a stat this round
  const subscriber = current.subscriber;
  if (subscriber?.pc) {
    const report = await subscriber.pc.getStats().catch(() => null);
    const rtt = report ? selectedPair(report)?.currentRoundTripTime : undefined;
    mine.rtt = rtt;
    for (const stat of report?.values() ?? []) {
      if (stat.type !== "inbound-rtp") continue;
      const info = subscriber.streams.get(stat.mid);
      const feed = info && current.feeds.get(info.feed_id);
      const tile = feed && current.tiles.get(`${feed.userId}/${feed.kind}`);
      if (!tile) continue;
      if (judge) {
        const loss = lossBetween(current.counters.get(stat.id), stat);
        current.counters.set(stat.id, { packetsReceived: stat.packetsReceived, packetsLost: stat.packetsLost });
        const sample = theirs.get(tile) ?? { rtt };
        sample.loss = worse(sample.loss, loss);
        sample.jitter = worse(sample.jitter, stat.jitter);
        if (stat.kind === "video" && tile.element.dataset.video === "on") sample.fps = stat.framesPerSecond;
        theirs.set(tile, sample);
        mine.loss = worse(mine.loss, loss);
        mine.jitter = worse(mine.jitter, stat.jitter);
      }
      if (stat.kind === "video") {
        // A camera turned off sends no frames: the tile shows the person's initial.
        const frames = stat.framesDecoded ?? 0;
        tile.stillRounds = frames === tile.lastFrames ? (tile.stillRounds ?? 0) + 1 : 0;
        tile.lastFrames = frames;
        tile.element.dataset.video = tile.stillRounds >= SILENT_ROUNDS ? "off" : "on";
        continue;
      }
      const packets = stat.packetsReceived ?? 0;
      tile.silentRounds = packets === tile.lastPackets ? tile.silentRounds + 1 : 0;
      tile.lastPackets = packets;
      tile.element.dataset.muted = String(tile.silentRounds >= SILENT_ROUNDS);
      heard.add(tile);
      levels.set(feed.userId, stat.audioLevel ?? 0);
    }
    // Audio that never sent a packet (muted before it was subscribed to) has no stat at all.
    for (const info of subscriber.streams.values()) {
      const feed = info.type === "audio" ? current.feeds.get(info.feed_id) : null;
      const tile = feed && current.tiles.get(`${feed.userId}/${feed.kind}`);
      if (!tile || heard.has(tile)) continue;
      tile.silentRounds += 1;
      tile.element.dataset.muted = String(tile.silentRounds >= SILENT_ROUNDS);
    }
  }
  if (judge && current.publisher?.pc) await measureSending(current, mine);
  if (meeting !== current || current.reconnecting) return;
  if (judge) showQualities(current, mine, theirs);
  const [speaker, level] = [...levels].sort((a, b) => b[1] - a[1])[0] ?? [null, 0];
  const next = level >= SPEAKING_LEVEL ? speaker : current.speaker;
  for (const tile of current.tiles.values()) {
    tile.element.classList.toggle("is-speaking", tile.kind === "camera" && tile.userId === speaker && level >= SPEAKING_LEVEL);
  }
  if (next !== current.speaker) {
    current.speaker = next;
    arrangeTiles();
  }
}

/** The candidate pair a connection uses now. */
function selectedPair(report) {
  for (const stat of report.values()) {
    if (stat.type === "transport" && stat.selectedCandidatePairId) return report.get(stat.selectedCandidatePairId);
  }
  return [...report.values()].find((stat) => stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded");
}

/** Add what my camera's connection says to `sample`: the loss, jitter and round trip Janus
 * reports of what I send, the bitrate the browser may send and my camera's frame rate. */
async function measureSending(current, sample) {
  const report = await current.publisher.pc?.getStats().catch(() => null);
  if (!report) return;
  const pair = selectedPair(report);
  sample.rtt = worse(sample.rtt, pair?.currentRoundTripTime);
  const camera = !current.cameraOff && current.publisher.stream?.getVideoTracks().length > 0;
  if (camera) sample.outgoingBitrate = pair?.availableOutgoingBitrate;
  for (const stat of report.values()) {
    if (stat.type === "remote-inbound-rtp") {
      sample.loss = worse(sample.loss, stat.fractionLost);
      sample.jitter = worse(sample.jitter, stat.jitter);
      sample.rtt = worse(sample.rtt, stat.roundTripTime);
    } else if (camera && stat.type === "outbound-rtp" && stat.kind === "video") {
      // Simulcast: the top layer that sends says how well the camera goes out.
      sample.fps = worse(sample.fps, stat.framesPerSecond);
    }
  }
}

function showQuality(element, sample, name = null) {
  if (!element) return;
  if (!Object.values(sample).some((value) => typeof value === "number")) return; // nothing measured yet
  const quality = classify(sample);
  const label = qualityLabel(quality, name);
  element.hidden = false;
  element.dataset.quality = quality.level;
  element.setAttribute("aria-label", label);
  element.title = label;
}

function showQualities(current, mine, theirs) {
  showQuality(ownQuality, mine);
  for (const [tile, sample] of theirs) {
    if (current.tiles.get(tile.key) !== tile) continue;
    showQuality(tile.element.querySelector(".meeting-tile-quality"), sample, userName(tile.userId));
  }
}

// --- my microphone, camera, screen, hand -----------------------------------------------------------

function sender(current, kind) {
  return current.publisher?.pc?.getTransceivers().find((t) => t.sender.track?.kind === kind || t.receiver.track?.kind === kind)?.sender;
}

/** Send my `kind` track or not: a muted microphone sends nothing (not silence), so the others'
 * and the server's view of the media say muted too. */
async function setSending(current, kind, on) {
  const track = kind === "audio" ? current.publisher?.stream?.getAudioTracks()[0] : current.publisher?.stream?.getVideoTracks()[0];
  if (!track) return;
  track.enabled = on;
  await sender(current, kind)?.replaceTrack(on ? track : null);
}

async function setMic(off) {
  const current = meeting;
  if (!current) return;
  current.micOff = off;
  renderControls();
  await setSending(current, "audio", !off);
}

async function setCamera(off) {
  const current = meeting;
  if (!current) return;
  current.cameraOff = off;
  renderControls();
  await setSending(current, "video", !off);
}

async function startScreen() {
  const current = meeting;
  if (!current || current.screen || current.reconnecting) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch {
    return; // the person chose not to share
  }
  // The browser's own "Stop sharing" ends the track.
  stream.getVideoTracks()[0].addEventListener("ended", () => stopScreen());
  try {
    await shareScreen(current, stream);
  } catch (error) {
    if (current.reconnecting) return; // shared again once reconnected
    console.warn("meeting: screen share failed", error);
    notify(gettext("Your screen could not be shared."));
    await stopScreen();
  }
}

/** Publish my screen's `stream` as a second publisher of the session (sharing, or sharing
 * again after reconnecting). */
async function shareScreen(current, stream) {
  current.screen = { handle: null, pc: null, stream, feedId: null };
  const screen = current.screen;
  renderControls();
  screen.handle = await current.session.attach(PLUGIN, current.access.opaque_id);
  const { data } = await screen.handle.message({
    request: "join",
    ptype: "publisher",
    room: current.access.room,
    pin: current.access.pin,
    id: current.access.screen_feed_id,
    display: `${store.me.id}/screen`,
  });
  screen.feedId = data.id;
  setTileTrack(tileFor(store.me.id, "screen"), stream.getVideoTracks()[0]);
  screen.pc = await publish(current, screen, stream, { simulcast: false });
}

async function stopScreen() {
  const current = meeting;
  const screen = current?.screen;
  if (!screen) return;
  current.screen = null;
  removeTile(`${store.me.id}/screen`);
  renderControls();
  for (const track of screen.stream.getTracks()) track.stop();
  screen.pc?.close();
  if (!screen.handle || current.reconnecting) return;
  await screen.handle.message({ request: "leave" }).catch(() => {});
  await screen.handle.detach();
}

async function setHand(raised) {
  if (!meeting) return;
  try {
    await socket.request({ type: "call.hand", call_id: meeting.call.id, raised });
  } catch (error) {
    notifyError(error);
  }
}

async function fillDevices() {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  const options = (kind, fallback) =>
    all
      .filter((device) => device.kind === kind)
      .map((device, index) => h("option", { value: device.deviceId, text: device.label || interpolate(fallback, { n: index + 1 }, true) }));
  micSelect.replaceChildren(...options("audioinput", gettext("Microphone %(n)s")));
  cameraSelect.replaceChildren(...options("videoinput", gettext("Camera %(n)s")));
  const inUse = (kind) => meeting?.publisher?.stream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
  if (inUse("audio")) micSelect.value = inUse("audio");
  if (inUse("video")) cameraSelect.value = inUse("video");
}

async function switchDevice(kind, deviceId) {
  const current = meeting;
  const stream = current?.publisher?.stream;
  if (!stream) return;
  const fresh = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
  const [track] = kind === "audio" ? fresh.getAudioTracks() : fresh.getVideoTracks();
  for (const old of stream.getTracks().filter((t) => t.kind === track.kind)) {
    stream.removeTrack(old);
    old.stop();
  }
  stream.addTrack(track);
  const off = kind === "audio" ? current.micOff : current.cameraOff;
  track.enabled = !off;
  await sender(current, track.kind)?.replaceTrack(off ? null : track);
  if (kind === "video") setTileTrack(tileFor(store.me.id, "camera"), track);
}

// --- the controls and the participant list ---------------------------------------------------------

function myParticipant() {
  return meeting?.call.participants.find((p) => p.user_id === store.me.id);
}

function renderControls() {
  if (!meeting) return;
  const mine = myParticipant();
  const host = meeting.call.host_id === store.me.id;
  // While reconnecting, my controls stay: what they change applies once back.
  const publishing = Boolean(meeting.publisher?.pc || (meeting.reconnecting && meeting.publisher?.stream));
  micButton.hidden = cameraButton.hidden = screenButton.hidden = devicesButton.hidden = !publishing;
  cameraButton.hidden ||= meeting.call.media !== "video";
  micButton.setAttribute("aria-pressed", String(meeting.micOff));
  micButton.textContent = meeting.micOff ? gettext("Unmute") : gettext("Mute");
  cameraButton.setAttribute("aria-pressed", String(meeting.cameraOff));
  cameraButton.textContent = meeting.cameraOff ? gettext("Camera on") : gettext("Camera off");
  screenButton.setAttribute("aria-pressed", String(Boolean(meeting.screen)));
  screenButton.textContent = meeting.screen ? gettext("Stop sharing") : gettext("Share screen");
  screenButton.hidden ||= !navigator.mediaDevices?.getDisplayMedia;
  const raised = Boolean(mine?.hand_raised_at);
  handButton.setAttribute("aria-pressed", String(raised));
  handButton.textContent = raised ? gettext("Lower hand") : gettext("Raise hand");
  handButton.hidden = mine?.role === "host";
  muteAllButton.hidden = endButton.hidden = !host;
  const own = meeting.tiles.get(`${store.me.id}/camera`);
  if (own) {
    own.element.dataset.muted = String(meeting.micOff || !publishing);
    const camera = meeting.publisher?.stream?.getVideoTracks().length > 0;
    own.element.dataset.video = camera && !meeting.cameraOff ? "on" : "off";
  }
  const screen = meeting.tiles.get(`${store.me.id}/screen`);
  if (screen) screen.element.dataset.video = "on";
  if (!publishing) devices.hidden = true;
}

function roleText(participant) {
  if (participant.role === "host") return gettext("Host");
  if (meeting.call.mode !== "classroom") return "";
  return participant.role === "presenter" ? gettext("On stage") : gettext("Listener");
}

function renderPeople() {
  if (!meeting) return;
  const host = meeting.call.host_id === store.me.id;
  const joined = meeting.call.participants.filter((p) => p.state === "joined");
  // Raised hands first, in the order they went up.
  joined.sort((a, b) => (a.hand_raised_at ?? "~").localeCompare(b.hand_raised_at ?? "~") || userName(a.user_id).localeCompare(userName(b.user_id)));
  peopleButton.textContent = interpolate(gettext("Participants (%(count)s)"), { count: joined.length }, true);
  peopleList.replaceChildren(
    ...joined.map((participant) => {
      const name = userName(participant.user_id);
      const actions = [];
      if (host && participant.user_id !== store.me.id) {
        if (meeting.call.mode === "classroom" && participant.role !== "host") {
          const onStage = participant.role === "presenter";
          const stage = h("button", {
            type: "button",
            class: "button button--small meeting-stage",
            text: onStage ? gettext("Back to the audience") : gettext("Bring on stage"),
          });
          stage.addEventListener("click", () => hostAction({ type: "call.stage", user_id: participant.user_id, on_stage: !onStage }));
          actions.push(stage);
        }
        const remove = h("button", {
          type: "button",
          class: "button button--small meeting-remove",
          "aria-label": interpolate(gettext("Remove %(name)s from the meeting"), { name }, true),
          text: gettext("Remove"),
        });
        remove.addEventListener("click", () => hostAction({ type: "call.remove", user_id: participant.user_id }));
        actions.push(remove);
      }
      return h(
        "li",
        { dataset: { userId: participant.user_id, role: participant.role, ...(participant.hand_raised_at ? { hand: "raised" } : {}) } },
        h("span", { class: "meeting-person-name", text: name }),
        participant.hand_raised_at ? h("span", { class: "meeting-person-hand", "aria-label": gettext("Hand raised"), text: "✋" }) : null,
        h("span", { class: "meeting-person-role", text: roleText(participant) }),
        ...actions,
      );
    }),
  );
  for (const tile of meeting.tiles.values()) {
    const participant = joined.find((p) => p.user_id === tile.userId);
    tile.element.dataset.hand = participant?.hand_raised_at && tile.kind === "camera" ? "raised" : "";
  }
}

async function hostAction(frame) {
  if (!meeting) return false;
  try {
    await socket.request({ ...frame, call_id: meeting.call.id }, { timeout: JOIN_TIMEOUT_MS });
    return true;
  } catch (error) {
    notifyError(error);
    return false;
  }
}

/** A new state of my meeting from the server: the list, and a classroom's stage for me. */
function updateMeeting(call) {
  const current = meeting;
  const before = myParticipant()?.role;
  current.call = call;
  const mine = myParticipant();
  if (mine && mine.state !== "joined") return;
  if (current.reconnecting) {
    // The new session starts from the state the server hands over with it.
    renderPeople();
    return;
  }
  // Whoever left, was removed or went back to the audience is gone from the tiles, whatever
  // Janus said of them yet; whoever came on stage is subscribed to.
  const allowed = allowedFeeds(call);
  for (const feedId of [...current.feeds.keys()]) {
    if (!allowed.has(feedId)) dropFeed(current, feedId);
  }
  subscribeAllowed(current);
  if (call.mode === "classroom" && mine && before !== mine.role) {
    if (mine.role !== "listener" && !current.publisher?.pc) {
      notify(gettext("You are on stage: the others see and hear you."), { kind: "info" });
      publishCamera(current).catch((error) => console.warn("meeting: publishing failed", error));
    } else if (mine.role === "listener" && current.publisher?.pc) {
      notify(gettext("You are back in the audience."), { kind: "info" });
      unpublishCamera(current).catch(() => {});
    }
  }
  renderControls();
  renderPeople();
}

micButton.addEventListener("click", () => setMic(!meeting?.micOff));
cameraButton.addEventListener("click", () => setCamera(!meeting?.cameraOff));
screenButton.addEventListener("click", () => (meeting?.screen ? stopScreen() : startScreen()));
handButton.addEventListener("click", () => setHand(!myParticipant()?.hand_raised_at));
layoutButton.addEventListener("click", () => {
  const speaker = tiles.dataset.layout !== "speaker";
  tiles.dataset.layout = speaker ? "speaker" : "grid";
  layoutButton.setAttribute("aria-pressed", String(speaker));
  layoutButton.textContent = speaker ? gettext("Grid view") : gettext("Speaker view");
  arrangeTiles();
});
peopleButton.addEventListener("click", () => {
  people.hidden = !people.hidden;
  peopleButton.setAttribute("aria-expanded", String(!people.hidden));
});
devicesButton.addEventListener("click", () => {
  devices.hidden = !devices.hidden;
  devicesButton.setAttribute("aria-expanded", String(!devices.hidden));
  if (!devices.hidden) fillDevices().catch(() => {});
});
micSelect.addEventListener("change", () => switchDevice("audio", micSelect.value).catch(() => notify(gettext("That microphone could not be used."))));
cameraSelect.addEventListener("change", () => switchDevice("video", cameraSelect.value).catch(() => notify(gettext("That camera could not be used."))));
muteAllButton.addEventListener("click", async () => {
  if (await hostAction({ type: "call.mute_all" })) notify(gettext("Everyone else is muted."), { kind: "info" });
});
endButton.addEventListener("click", () => {
  if (meeting) hostAction({ type: "call.end" });
});
leaveButton.addEventListener("click", () => leave());

// --- pushes ----------------------------------------------------------------------------------------

function ended(call) {
  leave(call.mode === "classroom" ? gettext("The live classroom has ended.") : gettext("The meeting has ended."), { tellServer: false });
}

on("push", (frame) => {
  if (!frame.type?.startsWith("call.") || !meeting) return;
  if (frame.type === "call.updated" || frame.type === "call.ended") {
    if (frame.call.id !== meeting.call.id) return;
    if (frame.call.state === "ended") ended(frame.call);
    else updateMeeting(frame.call);
  } else if (frame.type === "call.removed" && meeting?.call.id === frame.call_id) {
    leave(gettext("You were removed from the meeting."), { tellServer: false });
  } else if (frame.type === "call.muted" && meeting?.call.id === frame.call_id) {
    setMic(true);
    notify(interpolate(gettext("%(name)s muted everyone."), { name: userName(frame.by_user_id) }, true), { kind: "info" });
  }
});

// Pushes missed while the socket was down: my meeting may have ended, or changed.
on("socket:open", async () => {
  const current = meeting;
  if (!current) return;
  const call = await api.get(`calls/${current.call.id}/`).catch(() => null);
  if (meeting !== current || !call) return;
  if (call.state === "ended") ended(call);
  else if (call.participants.find((p) => p.user_id === store.me.id)?.state !== "joined") {
    leave(gettext("You are no longer in the meeting."), { tellServer: false });
  } else updateMeeting(call);
});
on("users", () => renderPeople());
