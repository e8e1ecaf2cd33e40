// 1:1 voice and video calls in a direct message (behind the `calls` feature flag): the call
// buttons in the DM's header, the incoming-call ring (accept / decline), the in-call panel
// (mute, camera, hang up) and the WebRTC connection. The server keeps the call's state
// (apps/calls): start, accept, decline, cancel, hang up and signalling are socket operations,
// and `call.ringing`, `call.accepted`, `call.ended`, `call.signal` arrive as pushes to every
// tab of both people; only the tab that holds the call (`current`) acts on signalling.
// ICE servers (STUN, TURN with short-lived credentials) come from GET /api/v1/calls/ice-servers/.
// A missed call shows in the conversation as the call record message, which also raises the
// usual desktop notification when the tab is hidden (notifications.js).

import { api } from "./api.js";
import { on } from "./bus.js";
import { h } from "./dom.js";
import { isEnabled } from "./features.js";
import { gettext, interpolate } from "./i18n.js";
import { notify } from "./notices.js";
import * as socket from "./socket.js";
import { dmPartners, store, userName } from "./store.js";

const FLAG = "calls";
const HEARTBEAT_MS = 15_000;
const ENDED_SHOWN_MS = 4_000;
// A connection that drops (a laptop docked, a VPN up, Wi-Fi to cable, a TURN server restarted)
// gathers its candidates again and renegotiates (an ICE restart), as often as ICE_RESTARTS; one
// that stays "disconnected" for DISCONNECTED_GRACE_MS is restarted without waiting for "failed".
// The callee waits RECOVER_MS for the caller's restart before it hangs up.
const ICE_RESTARTS = 3;
const DISCONNECTED_GRACE_MS = 4_000;
const RECOVER_MS = 30_000;

// The call this tab is in (placing, answering or talking), and a call ringing for me here.
let current = null;
let incoming = null;

// --- the interface -------------------------------------------------------------------------------

const audioButton = h("button", {
  type: "button",
  class: "icon-button call-start",
  id: "call-audio",
  hidden: true,
  "aria-label": gettext("Start a voice call"),
  title: gettext("Start a voice call"),
  text: "📞",
});
const videoButton = h("button", {
  type: "button",
  class: "icon-button call-start",
  id: "call-video",
  hidden: true,
  "aria-label": gettext("Start a video call"),
  title: gettext("Start a video call"),
  text: "🎥",
});

const statusLine = h("p", { class: "call-status", id: "call-status", "aria-live": "polite" });
const remoteVideo = h("video", { class: "call-remote", id: "call-remote-video", autoplay: true, playsinline: true });
const localVideo = h("video", { class: "call-local", id: "call-local-video", autoplay: true, playsinline: true });
localVideo.muted = true;
const acceptButton = h("button", { type: "button", class: "button call-accept", id: "call-accept", text: gettext("Accept") });
const declineButton = h("button", { type: "button", class: "button call-decline", id: "call-decline", text: gettext("Decline") });
const muteButton = h("button", { type: "button", class: "button", id: "call-mute", "aria-pressed": "false", text: gettext("Mute") });
const cameraButton = h("button", { type: "button", class: "button", id: "call-camera", "aria-pressed": "false", text: gettext("Camera off") });
const deviceSelect = h("select", { class: "call-device", id: "call-device", "aria-label": gettext("Microphone") });
const hangupButton = h("button", { type: "button", class: "button call-hangup", id: "call-hangup", text: gettext("Hang up") });
const panel = h(
  "section",
  { class: "call-panel", id: "call-panel", hidden: true, role: "dialog", "aria-label": gettext("Call") },
  statusLine,
  h("div", { class: "call-videos" }, remoteVideo, localVideo),
  h("div", { class: "call-controls" }, acceptButton, declineButton, muteButton, cameraButton, deviceSelect, hangupButton),
);
document.body.append(panel);
document.querySelector(".conversation-tools")?.prepend(audioButton, videoButton);

function activeDmPartner() {
  const channel = store.channels.get(store.activeChannelId);
  if (channel?.kind !== "direct" || !channel.membership) return null;
  const partners = dmPartners(channel);
  return partners.length === 1 ? partners[0] : null;
}

function renderButtons() {
  const show = isEnabled(FLAG) && activeDmPartner() !== null;
  audioButton.hidden = videoButton.hidden = !show;
  audioButton.disabled = videoButton.disabled = current !== null || incoming !== null;
}

function render(state, text) {
  panel.hidden = state === "idle";
  panel.dataset.state = state;
  statusLine.textContent = text ?? "";
  const talking = state === "calling" || state === "connecting" || state === "connected";
  acceptButton.hidden = declineButton.hidden = state !== "ringing";
  hangupButton.hidden = !talking;
  muteButton.hidden = deviceSelect.hidden = !talking;
  cameraButton.hidden = !talking || current?.call.media !== "video";
  remoteVideo.hidden = localVideo.hidden = !talking || current?.call.media !== "video";
  renderButtons();
}

function peerName(call) {
  const other = call.initiator_id === store.me.id ? call.participants.find((p) => p.user_id !== store.me.id)?.user_id : call.initiator_id;
  return userName(other);
}

// --- placing and answering -------------------------------------------------------------------------

async function localMedia(media) {
  return navigator.mediaDevices.getUserMedia({ audio: true, video: media === "video" });
}

function stopMedia(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

async function startCall(media) {
  const channelId = store.activeChannelId;
  if (current || incoming || activeDmPartner() === null) return;
  let stream;
  try {
    stream = await localMedia(media);
  } catch {
    notify(gettext("Enclave may not use your microphone or camera: allow it in the browser to call."));
    return;
  }
  let call;
  try {
    call = (await socket.request({ type: "call.start", channel_id: channelId, media })).call;
  } catch (error) {
    stopMedia(stream);
    notify(error.message);
    return;
  }
  if (call.state === "ended") {
    stopMedia(stream);
    notify(interpolate(gettext("%(name)s is in another call."), { name: peerName(call) }, true), { kind: "info" });
    return;
  }
  current = newCall(call, stream, { polite: false });
  // When the ring is over, the caller's give-up is recorded as a missed call by the server.
  const ringMs = Date.parse(call.ring_deadline) - Date.parse(call.started_at);
  current.ringTimer = setTimeout(() => hangup(), ringMs + 1_000);
  render("calling", interpolate(gettext("Calling %(name)s…"), { name: peerName(call) }, true));
}

function newCall(call, stream, { polite }) {
  const peerId = call.initiator_id === store.me.id ? call.participants.find((p) => p.user_id !== store.me.id).user_id : call.initiator_id;
  localVideo.srcObject = stream;
  delete panel.dataset.iceRestarts;
  const heartbeat = setInterval(() => socket.send({ type: "call.heartbeat", call_id: call.id }), HEARTBEAT_MS);
  return {
    call,
    stream,
    peerId,
    polite,
    pc: null,
    pending: [],
    makingOffer: false,
    ignoreOffer: false,
    heartbeat,
    ringTimer: null,
    tracksAdded: false,
    restarts: 0,
    graceTimer: null,
  };
}

async function accept() {
  const call = incoming;
  if (!call) return;
  let stream;
  try {
    stream = await localMedia(call.media);
  } catch {
    notify(gettext("Enclave may not use your microphone or camera: allow it in the browser to call."));
    return;
  }
  try {
    await socket.request({ type: "call.accept", call_id: call.id });
  } catch (error) {
    stopMedia(stream);
    incoming = null;
    render("idle");
    notify(error.message);
    return;
  }
  incoming = null;
  current = newCall(call, stream, { polite: true });
  render("connecting", interpolate(gettext("Connecting to %(name)s…"), { name: peerName(call) }, true));
  await connectPeer();
}

async function decline() {
  const call = incoming;
  if (!call) return;
  incoming = null;
  render("idle");
  await socket.request({ type: "call.decline", call_id: call.id }).catch(() => {});
}

async function hangup() {
  if (!current) return;
  const { call } = current;
  finish(gettext("Call ended"));
  await socket.request({ type: "call.hangup", call_id: call.id }).catch(() => {});
}

function finish(text) {
  if (current) {
    clearInterval(current.heartbeat);
    clearTimeout(current.ringTimer);
    clearTimeout(current.graceTimer);
    current.pc?.close();
    stopMedia(current.stream);
    current = null;
  }
  localVideo.srcObject = null;
  remoteVideo.srcObject = null;
  render("ended", text);
  setTimeout(() => {
    if (!current && !incoming) render("idle");
  }, ENDED_SHOWN_MS);
}

// --- WebRTC (perfect negotiation: the callee is the polite peer) ---------------------------------

async function connectPeer() {
  const call = current;
  let config = { ice_servers: [] };
  try {
    config = await api.get("calls/ice-servers/");
  } catch {
    // Without ICE servers, host candidates still connect people on the same network.
  }
  if (current !== call) return;
  const pc = new RTCPeerConnection({
    iceServers: config.ice_servers,
    iceTransportPolicy: config.ice_transport_policy ?? "all",
  });
  call.pc = pc;
  pc.addEventListener("icecandidate", ({ candidate }) => signal(call, { candidate: candidate ? candidate.toJSON() : null }));
  pc.addEventListener("track", ({ streams }) => {
    remoteVideo.srcObject = streams[0];
  });
  pc.addEventListener("connectionstatechange", () => {
    panel.dataset.connection = pc.connectionState;
    if (current !== call) return;
    clearTimeout(call.graceTimer);
    if (pc.connectionState === "connected") {
      render("connected", interpolate(gettext("In a call with %(name)s"), { name: peerName(call.call) }, true));
    } else if (pc.connectionState === "disconnected") {
      call.graceTimer = setTimeout(() => restartIce(call), DISCONNECTED_GRACE_MS);
    } else if (pc.connectionState === "failed") {
      restartIce(call);
    }
  });
  pc.addEventListener("negotiationneeded", async () => {
    try {
      call.makingOffer = true;
      await pc.setLocalDescription();
      signal(call, { sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    } catch (error) {
      console.warn("call: offer failed", error);
    } finally {
      call.makingOffer = false;
    }
  });
  // The caller offers and the callee answers with its tracks: offers made at once by both
  // ("glare") are settled by perfect negotiation, but Chromium then sometimes gathers no
  // candidates for the rolled-back side's answer, and the call never connects.
  if (!call.polite) addTracks(call);
  const pending = call.pending.splice(0);
  for (const payload of pending) await onSignal(call, payload);
}

function addTracks(call) {
  if (call.tracksAdded) return;
  call.tracksAdded = true;
  for (const track of call.stream.getTracks()) call.pc.addTrack(track, call.stream);
}

function restartIce(call) {
  if (current !== call || call.pc.connectionState === "connected") return;
  if (call.restarts >= ICE_RESTARTS) {
    hangup();
    return;
  }
  call.restarts += 1;
  panel.dataset.iceRestarts = String(call.restarts);
  render("connecting", interpolate(gettext("Reconnecting to %(name)s…"), { name: peerName(call.call) }, true));
  if (!call.polite) {
    // New ICE credentials on the next offer (negotiationneeded). Only the caller offers, so
    // that the two sides' offers do not cross (see connectPeer).
    call.pc.restartIce();
  } else {
    // The callee answers the caller's restart; a caller that is gone leaves it alone.
    call.graceTimer = setTimeout(() => {
      if (current === call && call.pc.connectionState !== "connected") hangup();
    }, RECOVER_MS);
  }
}

function signal(call, payload) {
  socket.request({ type: "call.signal", call_id: call.call.id, to_user_id: call.peerId, payload }).catch((error) => {
    console.warn("call: signal refused", error.code);
  });
}

async function onSignal(call, payload) {
  const pc = call.pc;
  if (!pc) {
    call.pending.push(payload);
    return;
  }
  try {
    if (payload.sdp) {
      const collision = payload.sdp.type === "offer" && (call.makingOffer || pc.signalingState !== "stable");
      call.ignoreOffer = !call.polite && collision;
      if (call.ignoreOffer) return;
      await pc.setRemoteDescription(payload.sdp);
      if (payload.sdp.type === "offer") {
        addTracks(call); // the callee's tracks join the offered transceivers: no new offer
        await pc.setLocalDescription();
        signal(call, { sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      }
    } else if ("candidate" in payload) {
      try {
        await pc.addIceCandidate(payload.candidate ?? undefined);
      } catch (error) {
        if (!call.ignoreOffer) throw error;
      }
    }
  } catch (error) {
    console.warn("call: signalling failed", error);
  }
}

// --- in-call controls ------------------------------------------------------------------------------

function toggleTracks(kind, button, onText, offText) {
  if (!current) return;
  const tracks = kind === "audio" ? current.stream.getAudioTracks() : current.stream.getVideoTracks();
  const off = button.getAttribute("aria-pressed") !== "true";
  for (const track of tracks) track.enabled = !off;
  button.setAttribute("aria-pressed", String(off));
  button.textContent = off ? offText : onText;
}

async function fillDevices() {
  const devices = await navigator.mediaDevices?.enumerateDevices?.().catch(() => []) ?? [];
  const microphones = devices.filter((device) => device.kind === "audioinput");
  deviceSelect.replaceChildren(
    ...microphones.map((device, index) =>
      h("option", { value: device.deviceId, text: device.label || interpolate(gettext("Microphone %(n)s"), { n: index + 1 }, true) }),
    ),
  );
}

async function switchMicrophone() {
  if (!current?.pc) return;
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: deviceSelect.value } } });
  const [track] = stream.getAudioTracks();
  const sender = current.pc.getSenders().find((s) => s.track?.kind === "audio");
  await sender?.replaceTrack(track);
  for (const old of current.stream.getAudioTracks()) {
    current.stream.removeTrack(old);
    old.stop();
  }
  current.stream.addTrack(track);
}

audioButton.addEventListener("click", () => startCall("audio"));
videoButton.addEventListener("click", () => startCall("video"));
acceptButton.addEventListener("click", () => accept());
declineButton.addEventListener("click", () => decline());
hangupButton.addEventListener("click", () => hangup());
muteButton.addEventListener("click", () => toggleTracks("audio", muteButton, gettext("Mute"), gettext("Unmute")));
cameraButton.addEventListener("click", () => toggleTracks("video", cameraButton, gettext("Camera off"), gettext("Camera on")));
deviceSelect.addEventListener("change", () => switchMicrophone().catch(() => notify(gettext("That microphone could not be used."))));

// --- pushes ----------------------------------------------------------------------------------------

function ringNotification(call) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" && document.hasFocus()) return;
  const text = call.media === "video" ? gettext("Incoming video call") : gettext("Incoming call");
  const notification = new Notification(peerName(call), { body: text, tag: `enclave-call-${call.id}`, lang: document.documentElement.lang });
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
  });
}

on("push", (frame) => {
  if (!frame.type?.startsWith("call.")) return;
  if (frame.type === "call.signal") {
    if (current && current.call.id === frame.call_id && frame.from_user_id === current.peerId) onSignal(current, frame.payload);
    return;
  }
  const call = frame.call;
  if (frame.type === "call.ringing") {
    if (call.initiator_id === store.me.id || current || incoming) return;
    incoming = call;
    const text = call.media === "video" ? gettext("%(name)s is video calling you") : gettext("%(name)s is calling you");
    render("ringing", interpolate(text, { name: peerName(call) }, true));
    ringNotification(call);
  } else if (frame.type === "call.accepted") {
    if (incoming?.id === call.id) {
      incoming = null; // answered in another tab or device
      render("idle");
    } else if (current?.call.id === call.id && !current.polite) {
      clearTimeout(current.ringTimer);
      current.call = call;
      render("connecting", interpolate(gettext("Connecting to %(name)s…"), { name: peerName(call) }, true));
      connectPeer();
    }
  } else if (frame.type === "call.ended") {
    if (incoming?.id === call.id) {
      incoming = null;
      render("idle");
    } else if (current?.call.id === call.id) {
      const texts = {
        declined: interpolate(gettext("%(name)s declined the call."), { name: peerName(call) }, true),
        missed: interpolate(gettext("%(name)s did not answer."), { name: peerName(call) }, true),
        busy: interpolate(gettext("%(name)s is in another call."), { name: peerName(call) }, true),
      };
      finish(texts[call.end_reason] ?? gettext("Call ended"));
    }
  }
});

on("active", renderButtons);
on("channels", renderButtons);
on("users", renderButtons);
on("socket:open", () => fillDevices().catch(() => {}));
