// Follows one instance's events with the built client (dist/) and prints one JSON line per
// event or connection status, for tests/integration/test_client_resume.py: the test kills and
// restarts the API under it, and checks that the feed resumed from its cursor (every seq once,
// in order). Usage: node test/follow.mjs URL USER PASSWORD INSTANCE_ID
import WebSocket from "ws";

import { createWorkflowClient } from "../dist/index.js";

const [url, user, password, instanceId] = process.argv.slice(2);
const client = createWorkflowClient({
  url,
  webSocketImpl: WebSocket,
  retry: { initialDelayMs: 100, maxDelayMs: 1000, maxAttempts: 60 },
  keepAliveMs: 1000,
  onStatus: (status) => console.log(JSON.stringify({ status })),
});
await client.login(user, password);
const done = new Promise((resolve, reject) => {
  client.live.instanceEvents(Number(instanceId), {
    next: (event) => console.log(JSON.stringify({ seq: event.seq, type: event.type })),
    error: reject,
    complete: resolve,
  });
});
try {
  await done;
  console.log(JSON.stringify({ completed: true }));
  await client.dispose();
  process.exit(0);
} catch (error) {
  console.error(error);
  process.exit(1);
}
