// matrix-js-sdk (Element Call's engine) as a receiver beside Vestibule in `benches/matrix.rs`:
// it signs in as a new device, syncs as the SDK does by default, and tells on stdout, one JSON
// object per line, when it is ready and when each call notification reaches it.
//
// Environment: VESTIBULE_PEER_HOMESERVER, VESTIBULE_PEER_USER, VESTIBULE_PEER_PASSWORD.
// Output: {"ready":true,"rooms":N} once the first sync is processed, then per notification
// {"event_id":"$...","room_id":"!...","at_ms":<wall clock, ms since the epoch, fractional>}.
// Run through `scripts/js-peer.sh run`.

import * as sdk from "matrix-js-sdk";

// The SDK logs to the console: that goes to stderr, stdout is the protocol above.
for (const level of ["log", "info", "debug", "warn", "trace", "error"]) {
  console[level] = (...args) => process.stderr.write(args.join(" ") + "\n");
}

const NOTIFICATION_TYPES = new Set([
  "org.matrix.msc4075.rtc.notification",
  "org.matrix.msc4075.call.notify",
  "m.rtc.notification",
]);

const baseUrl = process.env.VESTIBULE_PEER_HOMESERVER;
const user = process.env.VESTIBULE_PEER_USER;
const password = process.env.VESTIBULE_PEER_PASSWORD;
if (!baseUrl || !user || !password) {
  process.stderr.write("VESTIBULE_PEER_HOMESERVER, _USER and _PASSWORD are needed\n");
  process.exit(2);
}

const wallMs = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const login = await fetch(new URL("/_matrix/client/v3/login", baseUrl), {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
    initial_device_display_name: "matrix-js-sdk bench peer",
  }),
});
if (!login.ok) {
  process.stderr.write(`login failed: ${login.status} ${await login.text()}\n`);
  process.exit(1);
}
const { access_token: accessToken, user_id: userId, device_id: deviceId } = await login.json();

const client = sdk.createClient({ baseUrl, accessToken, userId, deviceId });
client.on(sdk.RoomEvent.Timeline, (event, room, toStartOfTimeline, removed, data) => {
  if (toStartOfTimeline || !data?.liveEvent || !NOTIFICATION_TYPES.has(event.getType())) return;
  say({ event_id: event.getId(), room_id: room?.roomId ?? event.getRoomId(), at_ms: wallMs() });
});
client.on(sdk.ClientEvent.Sync, (state, prev) => {
  if (state === "PREPARED") say({ ready: true, rooms: client.getRooms().length });
});
await client.startClient({ threadSupport: false });
// Stops with the process (SIGTERM from the benchmark).
process.on("SIGTERM", () => {
  client.stopClient();
  process.exit(0);
});
