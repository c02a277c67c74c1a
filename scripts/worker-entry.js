// The entry of every function's Worker (copied next to worker-build's output as
// entry.js): the Rust Worker, and a last line of defence for a panic. wasm is built
// with panic = "abort", so a panic traps and no Rust code can answer that request;
// worker-build's shim resets the instance for the next one. This answers the trapped
// request with the API.md §1 error envelope and the CORS headers that
// shared/src/cors.rs gives every response, and logs a JSON line with the request id.
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

class Entry extends WorkerEntrypoint {
  async fetch(request) {
    try {
      return await new Worker(this.ctx, this.env).fetch(request);
    } catch (error) {
      return panicked(request, this.env, error);
    }
  }
}
if (typeof Worker.prototype.scheduled === "function") {
  Entry.prototype.scheduled = function (event) {
    return new Worker(this.ctx, this.env).scheduled(event);
  };
}
export default Entry;
