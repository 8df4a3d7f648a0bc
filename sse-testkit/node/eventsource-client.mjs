// Plain `EventSource`s from the npm `eventsource` package, reporting what each sees as
// JSON lines on stdout: {"i": which, "kind": "open" | "message" | "error", "state",
// "data"}. Usage: node eventsource-client.mjs URL [COUNT]
import { EventSource } from "eventsource";

const count = Number(process.argv[3] || 1);
for (let i = 0; i < count; i++) {
  const es = new EventSource(process.argv[2]);
  const say = (kind, data) =>
    process.stdout.write(JSON.stringify({ i, kind, state: es.readyState, data }) + "\n");
  es.onopen = () => say("open");
  es.onmessage = (e) => say("message", e.data);
  es.onerror = () => say("error");
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
