// The entry of every function's Worker (copied next to worker-build's output as
// entry.js): the Rust Worker, and a last line of defence for a panic. wasm is built
// with panic = "abort", so a panic traps and no Rust code can answer that request (the
// trap happens in a promise callback: the request would hang); worker-build's shim
// resets the instance for the next one. The Rust panic hook calls
// globalThis.__hangarPanicked, and every request in flight on the poisoned instance is
// answered with the API.md §1 error envelope and the CORS headers that
// shared/src/cors.rs gives every response, with a JSON log line.
import Worker from "./index.js";

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

// wasm-bindgen-futures wakes each Rust task with the global `queueMicrotask`, which costs
// workerd a few µs per call where a resolved promise's `then` costs next to nothing
// (`make bench`: about 20 µs per POST, 3-4 wakes). The same microtask queue, in the same
// order; a callback that throws is still reported as queueMicrotask reports it.
const queueMicrotaskOfRuntime = globalThis.queueMicrotask;
const resolved = Promise.resolve();
globalThis.queueMicrotask = (callback) => {
  resolved.then(() => {
    try {
      callback();
    } catch (error) {
      queueMicrotaskOfRuntime(() => { throw error; });
    }
  });
};

// Requests in flight on this instance: a panic fails them all (the instance is lost).
const inFlight = new Set();
globalThis.__hangarPanicked = () => {
  for (const fail of inFlight) fail(new Error("panic in the Rust handler"));
  inFlight.clear();
};

// worker-build's class is a Proxy that guards every call: it re-creates the wasm instance
// after a trap (`__worker_init_state.criticalError`, set by its error handler) and wraps
// the instance and each method it hands out in Proxies of their own, per request. Its
// fetch reads nothing but `this.env` and `this.ctx`, so while no trap is pending it is
// called directly with those (`make bench`: about 10 µs less per request), and through the
// class otherwise, so that the recovery after a panic stays worker-build's own. The entry
// is a plain object: workerd constructs no WorkerEntrypoint per request for it.
const rustFetch = Worker.prototype.fetch;
const initState = globalThis.__worker_init_state;
const direct = typeof rustFetch === "function" && typeof initState === "object" && initState !== null;

const Entry = {
  async fetch(request, env, ctx) {
    let fail;
    const panic = new Promise((_, reject) => { fail = reject; });
    inFlight.add(fail);
    try {
      // workers-rs reads `request.cf` into every request it is given, and workerd builds
      // that object on first access; no Hangar code uses it (measured in `make bench`: a
      // few percent of a request's CPU).
      Object.defineProperty(request, "cf", { value: undefined });
      const answer = direct && !initState.criticalError
        ? rustFetch.call({ env, ctx }, request)
        : new Worker(ctx, env).fetch(request);
      return await Promise.race([answer, panic]);
    } catch (error) {
      return panicked(request, env, error);
    } finally {
      inFlight.delete(fail);
    }
  },
};
if (typeof Worker.prototype.scheduled === "function") {
  Entry.scheduled = (event, env, ctx) => new Worker(ctx, env).scheduled(event);
}
export default Entry;
