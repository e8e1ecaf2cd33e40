// Feature flags (gray release) of the signed-in user: which new features this user gets yet.
// The page hands them over in a JSON script tag (#feature-flags, not executed: the CSP holds);
// `refresh()` reads them again from GET /api/v1/features/. A flag that is not there is off.
// Hiding a feature here only shapes the interface: its REST routes and socket operations
// check the same flag on the server (404 `feature_disabled`).

import { api } from "./api.js";

let flags = readPageFlags();

function readPageFlags() {
  const element = document.getElementById("feature-flags");
  if (!element) return {};
  try {
    const parsed = JSON.parse(element.textContent);
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

/** Whether the feature flag `name` is on for this user. */
export function isEnabled(name) {
  return Object.hasOwn(flags, name) && flags[name] === true;
}

/** Read the flags from the server again (after an admin widened a rollout, say). */
export async function refresh() {
  const data = await api.get("features/");
  flags = data && typeof data.flags === "object" && data.flags !== null ? data.flags : {};
  return flags;
}
