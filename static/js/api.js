// REST client for /api/v1/: JSON in and out, the CSRF header on writes, errors normalised to
// ApiError {status, code, message, details} (the server's `{"code","message","details"}`).

import { config } from "./config.js";
import { gettext } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Network failures and server hiccups: worth retrying with the same request. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** The CSRF token for writes that do not go through `request` (multipart uploads). */
export function csrfToken() {
  return cookie("csrftoken");
}

function signedOut() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`${config.loginUrl}?next=${next}`);
}

function urlFor(path, query) {
  const url = new URL(/^(https?:)?\//.test(path) ? path : config.apiRoot + path, location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  return url;
}

export async function request(method, path, { body, query } = {}) {
  const headers = { Accept: "application/json" };
  const multipart = body instanceof FormData; // the browser sets the boundary itself
  if (body !== undefined && !multipart) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
  let response;
  try {
    response = await fetch(urlFor(path, query), {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined || multipart ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network_error", gettext("The server cannot be reached. Check your connection."));
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 || data?.code === "not_authenticated") signedOut();
    throw new ApiError(
      response.status,
      data?.code ?? `http_${response.status}`,
      data?.message || gettext("Something went wrong. Please try again."),
      data?.details ?? {},
    );
  }
  return data;
}

export const api = {
  get: (path, query) => request("GET", path, { query }),
  post: (path, body = {}) => request("POST", path, { body }),
  patch: (path, body = {}) => request("PATCH", path, { body }),
  put: (path, body = {}) => request("PUT", path, { body }),
  delete: (path, query) => request("DELETE", path, { query }),
};

/** Every row of a cursor-paginated list (`{next, results}`), following `next` up to `maxPages`. */
export async function getAll(path, query, maxPages = 20) {
  const rows = [];
  let page = await api.get(path, query);
  rows.push(...page.results);
  for (let n = 1; page.next && n < maxPages; n += 1) {
    page = await api.get(page.next);
    rows.push(...page.results);
  }
  return rows;
}
