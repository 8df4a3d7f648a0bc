// A plain `EventSource` from the npm `eventsource` package, reporting what it sees as
// JSON lines on stdout: {"kind": "open" | "message" | "error", "state", "data"}.
// Usage: node eventsource-client.mjs URL
import { EventSource } from "eventsource";

const es = new EventSource(process.argv[2]);
const say = (kind, data) =>
  process.stdout.write(JSON.stringify({ kind, state: es.readyState, data }) + "\n");
es.onopen = () => say("open");
es.onmessage = (e) => say("message", e.data);
es.onerror = () => say("error");
process.stdin.on("end", () => { es.close(); process.exit(0); });
process.stdin.resume();
