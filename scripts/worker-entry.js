// The entry of every function's Worker (copied next to worker-build's output as
// entry.js): the Rust Worker, and a last line of defence for a panic. wasm is built
// with panic = "abort", so a panic traps and no Rust code can answer that request (the
// trap happens in a promise callback: the request would hang); worker-build's shim
// resets the instance for the next one. The Rust panic hook calls
// globalThis.__hangarPanicked, and every request in flight on the poisoned instance is
// answered with the API.md §1 error envelope and the CORS headers that
// shared/src/cors.rs gives every response, with a JSON log line.
import Worker from "./index.js";
import { WorkerEntrypoint } from "cloudflare:workers";

const ALLOW_HEADERS = "authorization, x-client-info, apikey, content-type, idempotency-key";
const EXPOSE_HEADERS = "x-request-id, retry-after";

function panicked(request, env, error) {
  const requestId = request.headers.get("cf-ray") || crypto.randomUUID();
  const origins = String(env.ALLOWED_ORIGINS || "*").split(",").map((o) => o.trim().replace(/\/$/, "")).filter(Boolean);
  const origin = (request.headers.get("origin") || "").replace(/\/$/, "");
  const headers = new Headers({
    "content-type": "application/json; charset=utf-8",
    "x-request-id": requestId,
    "access-control-allow-headers": ALLOW_HEADERS,
    "access-control-expose-headers": EXPOSE_HEADERS,
  });
  if (origins.includes("*")) headers.set("access-control-allow-origin", "*");
  else {
    headers.set("vary", "Origin");
    if (origin && origins.includes(origin)) headers.set("access-control-allow-origin", origin);
  }
  console.log(JSON.stringify({ level: "error", request_id: requestId, event: "panic", status: 500,
    path: new URL(request.url).pathname, error: String(error?.message ?? error).slice(0, 500) }));
  const body = { success: false, error_code: "internal_error", message: "Internal error",
    timestamp: new Date().toISOString(), request_id: requestId };
  return new Response(JSON.stringify(body), { status: 500, headers });
}

// Requests in flight on this instance: a panic fails them all (the instance is lost).
const inFlight = new Set();
globalThis.__hangarPanicked = () => {
  for (const fail of inFlight) fail(new Error("panic in the Rust handler"));
  inFlight.clear();
};

class Entry extends WorkerEntrypoint {
  async fetch(request) {
    let fail;
    const panic = new Promise((_, reject) => { fail = reject; });
    inFlight.add(fail);
    try {
      // workers-rs reads `request.cf` into every request it is given, and workerd builds
      // that object on first access; no Hangar code uses it (measured in `make bench`: a
      // few percent of a request's CPU).
      Object.defineProperty(request, "cf", { value: undefined });
      return await Promise.race([new Worker(this.ctx, this.env).fetch(request), panic]);
    } catch (error) {
      return panicked(request, this.env, error);
    } finally {
      inFlight.delete(fail);
    }
  }
}
if (typeof Worker.prototype.scheduled === "function") {
  Entry.prototype.scheduled = function (event) {
    return new Worker(this.ctx, this.env).scheduled(event);
  };
}
export default Entry;
