// Dates, times and names as people read them: the page language, the user's own time zone.

import { gettext, language } from "./i18n.js";

let timeZone; // undefined = the browser's

/** Use the profile's time zone when the browser knows it. */
export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    timeZone = zone;
  } catch {
    timeZone = undefined;
  }
}

const formatters = new Map();
function formatter(key, options, locale = language) {
  const cacheKey = `${key}|${timeZone}|${locale}`;
  let result = formatters.get(cacheKey);
  if (!result) {
    try {
      result = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    } catch {
      result = new Intl.DateTimeFormat(undefined, { ...options, timeZone });
    }
    formatters.set(cacheKey, result);
  }
  return result;
}

/** "2025-03-14" in the user's time zone: the key of day separators and grouping. */
export function dayKey(date) {
  return formatter("day", { year: "numeric", month: "2-digit", day: "2-digit" }, "en-CA").format(date);
}

export function formatDay(date) {
  const key = dayKey(date);
  const now = new Date();
  if (key === dayKey(now)) return gettext("Today");
  if (key === dayKey(new Date(now.getTime() - 86_400_000))) return gettext("Yesterday");
  const sameYear = key.slice(0, 4) === dayKey(now).slice(0, 4);
  return formatter(sameYear ? "day-long" : "day-long-year", {
    weekday: "long",
    month: "long",
    day: "numeric",
    year: sameYear ? undefined : "numeric",
  }).format(date);
}

export function formatTime(date) {
  return formatter("time", { hour: "numeric", minute: "2-digit" }).format(date);
}

export function formatDateTime(date) {
  return formatter("full", { dateStyle: "full", timeStyle: "short" }).format(date);
}

const RELATIVE_FOR_MS = 60 * 60_000; // "5 minutes ago" for the last hour, then the clock time
const relativeFormatters = new Map();
function relativeFormatter() {
  let result = relativeFormatters.get(language);
  if (!result) {
    try {
      result = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
    } catch {
      result = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    }
    relativeFormatters.set(language, result);
  }
  return result;
}

/** "now" / "5 minutes ago" ("5分钟前" in Chinese) for the last hour; null for older times. */
export function formatRelative(date, now = Date.now()) {
  const ago = now - date.getTime();
  if (ago < -60_000 || ago >= RELATIVE_FOR_MS) return null; // a skewed clock: show the time
  const minutes = Math.max(0, Math.floor(ago / 60_000));
  return minutes === 0 ? relativeFormatter().format(0, "second") : relativeFormatter().format(-minutes, "minute");
}

/** A message time as shown in its row: relative while recent, else the clock time. */
export function formatMessageTime(date, now = Date.now()) {
  return formatRelative(date, now) ?? formatTime(date);
}

/** A count in the page language's digits and grouping ("1,234", "1 234"). */
export function formatNumber(value) {
  try {
    return new Intl.NumberFormat(language).format(value);
  } catch {
    return String(value);
  }
}

/** "Today 14:05" / "Mar 3, 14:05" for "last reply" lines. */
export function formatWhen(date) {
  if (dayKey(date) === dayKey(new Date())) return formatTime(date);
  return formatter("when", { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" }).format(date);
}

/** One or two letters for an avatar: "AC" for Alice Chen, "张" for 张伟. */
export function initials(name) {
  const words = (name || "?").trim().split(/\s+/).filter(Boolean);
  const first = [...(words[0] ?? "?")][0] ?? "?";
  if (/[\u3400-\u9fff\uac00-\ud7af\u3040-\u30ff]/.test(first)) return first;
  const second = words.length > 1 ? [...words[words.length - 1]][0] : "";
  return (first + second).toUpperCase();
}

/** A stable colour class (avatar--c0 … avatar--c7) per user. */
export function colourClass(userId) {
  return `avatar--c${Math.abs(Number(userId) || 0) % 8}`;
}
