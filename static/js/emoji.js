// The emoji offered by the composer's ":" autocomplete and the reaction picker, with the names
// people search them by.

// Shortcode names as the server's emoji library spells them (":thumbs_up:" also works typed).
export const EMOJI = [
  ["thumbs_up", "👍"], ["thumbs_down", "👎"], ["ok_hand", "👌"], ["clap", "👏"], ["pray", "🙏"],
  ["muscle", "💪"], ["wave", "👋"], ["raised_hands", "🙌"], ["point_up", "☝️"], ["handshake", "🤝"],
  ["smile", "😄"], ["grin", "😁"], ["joy", "😂"], ["rofl", "🤣"], ["slightly_smiling_face", "🙂"],
  ["wink", "😉"], ["blush", "😊"], ["heart_eyes", "😍"], ["thinking", "🤔"], ["neutral_face", "😐"],
  ["sweat_smile", "😅"], ["cry", "😢"], ["sob", "😭"], ["angry", "😠"], ["scream", "😱"],
  ["sunglasses", "😎"], ["upside_down", "🙃"], ["shrug", "🤷"], ["facepalm", "🤦"], ["eyes", "👀"],
  ["heart", "❤️"], ["broken_heart", "💔"], ["fire", "🔥"], ["star", "⭐"], ["sparkles", "✨"],
  ["tada", "🎉"], ["confetti_ball", "🎊"], ["rocket", "🚀"], ["100", "💯"], ["check", "✅"],
  ["white_check_mark", "✅"], ["x", "❌"], ["warning", "⚠️"], ["question", "❓"], ["exclamation", "❗"],
  ["bulb", "💡"], ["memo", "📝"], ["calendar", "📅"], ["clock", "🕒"], ["hourglass", "⏳"],
  ["coffee", "☕"], ["tea", "🍵"], ["beer", "🍺"], ["cake", "🍰"], ["pizza", "🍕"],
  ["bug", "🐛"], ["wrench", "🔧"], ["hammer", "🔨"], ["gear", "⚙️"], ["lock", "🔒"],
  ["key", "🔑"], ["link", "🔗"], ["chart", "📈"], ["package", "📦"], ["ship", "🚢"],
  ["sun", "☀️"], ["rain", "🌧️"], ["snowflake", "❄️"], ["rainbow", "🌈"], ["moon", "🌙"],
  ["red_envelope", "🧧"], ["lantern", "🏮"], ["dumpling", "🥟"], ["party", "🥳"], ["zzz", "💤"],
];
