// How good a meeting's connection is (static/js/meeting.js shows it: mine in the header, each
// other person's on their tile). A sample is what getStats() said over the last few seconds:
// packet loss, round-trip time, jitter, the bitrate the browser thinks it may send, and the
// frame rate of a camera that is on. Each measure is good, fair or poor against the thresholds
// below; the worst one is the connection's, and the measures at that level say why.

import { gettext, interpolate, language } from "./i18n.js";

// [fair from, poor from]: a measure at or past the first is fair, at or past the second poor.
// Loss and the time measures grow worse upwards; bitrate and frame rate downwards.
export const THRESHOLDS = {
  loss: [0.03, 0.1], // fraction of packets lost
  rtt: [0.3, 0.6], // seconds
  jitter: [0.03, 0.08], // seconds
  outgoingBitrate: [250_000, 100_000], // bits per second, while sending video
  fps: [10, 5], // frames per second of a camera that is on
};
const LOWER_IS_WORSE = new Set(["outgoingBitrate", "fps"]);
const LEVELS = ["good", "fair", "poor"];

const percent = new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 0 });
const milliseconds = new Intl.NumberFormat(language, { style: "unit", unit: "millisecond", maximumFractionDigits: 0 });
const kilobits = new Intl.NumberFormat(language, { style: "unit", unit: "kilobit-per-second", maximumFractionDigits: 0 });
const list = new Intl.ListFormat(language, { type: "conjunction" });

function levelOf(name, value) {
  const [fair, poor] = THRESHOLDS[name];
  if (LOWER_IS_WORSE.has(name)) return value <= poor ? "poor" : value <= fair ? "fair" : "good";
  return value >= poor ? "poor" : value >= fair ? "fair" : "good";
}

function describe(name, value) {
  if (name === "loss") return interpolate(gettext("%(loss)s packet loss"), { loss: percent.format(value) }, true);
  if (name === "rtt") return interpolate(gettext("%(time)s round-trip time"), { time: milliseconds.format(value * 1000) }, true);
  if (name === "jitter") return interpolate(gettext("%(time)s jitter"), { time: milliseconds.format(value * 1000) }, true);
  if (name === "outgoingBitrate") return interpolate(gettext("only %(rate)s to send"), { rate: kilobits.format(value / 1000) }, true);
  return interpolate(gettext("%(fps)s frames per second"), { fps: Math.round(value) }, true);
}

/**
 * The level of a sample ({loss, rtt, jitter, outgoingBitrate, fps}, each a number or absent
 * when not measured) and why: the measures at that level, in words ("12% packet loss"), or
 * "" when it is good.
 */
export function classify(sample) {
  let level = "good";
  let reasons = [];
  for (const name of Object.keys(THRESHOLDS)) {
    const value = sample[name];
    if (typeof value !== "number" || !Number.isFinite(value)) continue;
    const measured = levelOf(name, value);
    if (measured === "good") continue;
    if (LEVELS.indexOf(measured) > LEVELS.indexOf(level)) {
      level = measured;
      reasons = [];
    }
    if (measured === level) reasons.push(describe(name, value));
  }
  return { level, why: list.format(reasons) };
}

function levelText(level) {
  if (level === "poor") return gettext("poor");
  if (level === "fair") return gettext("fair");
  return gettext("good");
}

/** What the indicator says of `quality` (from classify): my own connection when `name` is
 * null, else that person's. */
export function qualityLabel(quality, name = null) {
  const values = { quality: levelText(quality.level), why: quality.why, name };
  if (name === null) {
    return quality.why
      ? interpolate(gettext("Your connection: %(quality)s (%(why)s)"), values, true)
      : interpolate(gettext("Your connection: %(quality)s"), values, true);
  }
  return quality.why
    ? interpolate(gettext("%(name)s's connection: %(quality)s (%(why)s)"), values, true)
    : interpolate(gettext("%(name)s's connection: %(quality)s"), values, true);
}

/** Packets lost of all packets sent between two readings of an RTP stream's counters
 * ({packetsReceived, packetsLost}), or null with nothing to compare. */
export function lossBetween(before, now) {
  if (!before) return null;
  const lost = Math.max(0, (now.packetsLost ?? 0) - (before.packetsLost ?? 0));
  const received = Math.max(0, (now.packetsReceived ?? 0) - (before.packetsReceived ?? 0));
  return lost + received > 0 ? lost / (lost + received) : null;
}

/** The larger of two optional measures. */
export function worse(a, b) {
  if (typeof a !== "number") return b;
  if (typeof b !== "number") return a;
  return Math.max(a, b);
}
