// Page configuration handed over by the server template through data-* attributes on #app.

const root = document.getElementById("app");
const data = root ? root.dataset : {};

export const config = {
  root,
  userId: Number(data.userId),
  initialChannelId: data.initialChannel ? Number(data.initialChannel) : null,
  homeUrl: data.homeUrl || "/",
  loginUrl: data.loginUrl || "/accounts/login/",
  apiRoot: "/api/v1/",
  /** ENCLAVE_MAX_MESSAGE_CHARS on the server. */
  maxMessageChars: Number(data.maxMessageChars) || 10000,
  /** ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES: larger files go up in resumable chunks. */
  chunkedUploadBytes: Number(data.chunkedUploadBytes) || 8 * 1024 * 1024,
  socketUrl: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`,
  /** URL of a channel's page: the template gives it for id 0. */
  channelUrl(channelId) {
    return (data.channelUrl || "/c/0/").replace(/\/0\/$/, `/${channelId}/`);
  },
};
