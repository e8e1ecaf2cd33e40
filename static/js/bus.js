// App-wide event bus: modules announce state changes ("channels", "messages", "push", ...)
// without importing each other's internals.

const target = new EventTarget();

/** Subscribe to `type`; returns the unsubscribe function. */
export function on(type, handler) {
  const listener = (event) => handler(event.detail);
  target.addEventListener(type, listener);
  return () => target.removeEventListener(type, listener);
}

export function emit(type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}
