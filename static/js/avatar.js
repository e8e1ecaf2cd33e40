// A person's picture where one is set, else their initials on a colour of their own. A picture
// that fails to load turns back into initials.

import { h } from "./dom.js";
import { colourClass, initials } from "./format.js";
import { store } from "./store.js";

function initialsBadge(userId, name, sizeClass) {
  return h("span", { class: `avatar${sizeClass} ${colourClass(userId)}`, "aria-hidden": "true", text: initials(name) });
}

/**
 * @param userId  whose picture (looked up in the store)
 * @param name    for the initials when there is no picture
 * @param size    "" (36px), "small" or "large"
 * @param url     the picture when the caller has a fresher user row than the store
 */
export function avatarElement(userId, name, { size = "", url } = {}) {
  const sizeClass = size ? ` avatar--${size}` : "";
  if (url === undefined) {
    url = store.users.get(Number(userId))?.avatar_url ?? (store.me?.id === Number(userId) ? store.me.avatar_url : null);
  }
  if (!url) return initialsBadge(userId, name, sizeClass);
  const image = h("img", { class: `avatar${sizeClass}`, src: url, alt: "", loading: "lazy", decoding: "async" });
  image.addEventListener("error", () => image.replaceWith(initialsBadge(userId, name, sizeClass)), { once: true });
  return image;
}
