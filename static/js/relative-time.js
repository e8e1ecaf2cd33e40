// Keeps relative message times ("5 minutes ago") true: every minute, each <time data-relative>
// on the page is rewritten from its datetime. Past the relative window it shows the clock time
// and is no longer visited.

import { formatMessageTime, formatRelative } from "./format.js";

const REFRESH_MS = 60_000;

export function refreshRelativeTimes(root = document) {
  const now = Date.now();
  for (const element of root.querySelectorAll("time[data-relative]")) {
    const date = new Date(element.dateTime);
    if (Number.isNaN(date.getTime())) continue;
    element.textContent = formatMessageTime(date, now);
    if (formatRelative(date, now) === null) delete element.dataset.relative;
  }
}

setInterval(() => refreshRelativeTimes(), REFRESH_MS);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshRelativeTimes();
});
