// An upstream that answers instantly: a stand-in for PostgREST that returns a canned
// outcome for the two RPCs the CPU benchmark exercises, so that the Workers' own cost
// is what the benchmark sees. Run as its own process (tests/bench/cpu.mjs pins it to
// another core than workerd):
//
//   node tests/bench/upstream.mjs PORT        prints "listening PORT" when ready
//
// POST …/rpc/hangar_get_machine      {"ok":true,"data":<a machine with 10 events>}
// POST …/rpc/hangar_machine_action   {"ok":true,"data":{"machine":…,"changed":true,"delivery":null}}
// A body naming the machine FAIL_ID gets 503 with an empty body (the upstream-failure path).
// Anything else: 404 {"message":"no such canned RPC"}.
import { createServer } from "node:http";

export const MACHINE_ID = "6e603a27-0dc1-484d-a15e-5a13e402ded0";
export const FAIL_ID = "00000000-0000-4000-8000-000000000503";

const at = "2026-11-22T02:20:08.406123+00:00";
const machine = {
  id: MACHINE_ID,
  name: "bench-machine",
  status: "running",
  tier: "dev.small",
  provider: "aws",
  region: "us-east-1",
  image: "ubuntu-24.04",
  projectId: null,
  ipAddress: "203.0.113.10",
  configuration: {},
  createdAt: at,
  updatedAt: at,
};
const events = Array.from({ length: 10 }, (_, i) => ({
  id: `0b8e7a52-5d1c-4c3e-9f4e-${String(i).padStart(12, "0")}`,
  eventType: i % 2 ? "status_changed" : "job_dispatched",
  level: "info",
  details: { from: "stopped", to: "running", attempt: i },
  createdAt: at,
}));
const canned = {
  hangar_get_machine: Buffer.from(JSON.stringify({ ok: true, data: { ...machine, events } })),
  hangar_machine_action: Buffer.from(
    JSON.stringify({ ok: true, data: { machine: { ...machine, status: "starting" }, changed: true, delivery: null } }),
  ),
};
const notFound = Buffer.from(JSON.stringify({ message: "no such canned RPC" }));
const failMarker = Buffer.from(FAIL_ID);

export function startUpstream(port, host = "127.0.0.1") {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const fn = req.url.slice(req.url.lastIndexOf("/") + 1).split("?")[0];
      const body = Buffer.concat(chunks);
      if (body.includes(failMarker)) {
        res.writeHead(503, { "content-length": 0 });
        return res.end();
      }
      const out = canned[fn];
      res.writeHead(out ? 200 : 404, { "content-type": "application/json", "content-length": (out ?? notFound).length });
      res.end(out ?? notFound);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => server.once("error", reject).listen(port, host, () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startUpstream(Number(process.argv[2] || 0));
  console.log(`listening ${server.address().port}`);
  // Stops with its parent: a benchmark never leaves it behind.
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}
