// What a test cannot do over HTTP on Cloudflare, and what it needs to see:
//   - the counting proxy between the functions and postrust: counts every PostgREST
//     request by path (the benchmark reports round trips per function call), and answers
//     garbage instead of forwarding while a fault is set;
//   - the control endpoint (STACK_CONTROL_URL in stack.env):
//       POST /scheduled/<function>[?cron=...]  runs that worker's scheduled handler once
//                                              (the `scheduler` cron); its outcome as JSON
//       POST /runner/stop | /runner/start      a runner outage, and its end (outages are
//                                              counted: see runner.mjs)
//       POST /postgrest/fault?mode=…           a PostgREST fault (below); GET: the state
//       GET  /postgrest-calls                  PostgREST requests made by the functions, by path

import { Agent, createServer, request } from "node:http";

// While a fault is set, matching requests are NOT forwarded; the proxy answers garbage
// instead, so that a test sees what the functions make of a broken PostgREST (API.md §1:
// 502 upstream_error, the body never reaches the client). Every garbage body carries `marker`.
const FAULT_MODES = {
  // 500 with an HTML page quoting a SQL error (a proxy or gateway in front of PostgREST).
  "html-500": (k) => [500, "text/html; charset=utf-8",
    `<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>` +
    `<pre>ERROR:  relation "hangar_secret_canary" does not exist at character 15 (SQLSTATE 42P01) ${k}</pre></body></html>`],
  // A PostgREST-style error body with SQL details.
  "json-500": (k) => [500, "application/json",
    JSON.stringify({ code: "42P01", message: 'relation "hangar_secret_canary" does not exist', details: k, hint: "PGRST canary" })],
  // 200 whose body is not JSON at all.
  "text-200": (k) => [200, "application/json", `this is not JSON ${k} <html>`],
  // 200 with JSON cut in the middle.
  "truncated-200": (k) => [200, "application/json", `{"ok":true,"data":{"id":"${k}","machines":[{"id":"${k}","na`],
  // 200 with valid JSON of the wrong shape.
  "shape-200": (k) => [200, "application/json", JSON.stringify([{ unexpected: k, ok: "yes" }])],
  // The connection is dropped without an answer.
  reset: null,
};

const listen = (server, port) =>
  new Promise((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));

/** The counting proxy on `port` in front of `upstream` (postrust's origin). */
export async function startPostgrestProxy({ port, upstream }) {
  const calls = new Map();
  const state = { fault: null, last: null }; // fault: { mode, match, remaining, marker, served }; last: also once a count has run out
  const target = new URL(upstream);
  // Requests and answers are streamed through as they are (no decoding, no buffering): the
  // proxy costs little CPU beside the fuzz's thousands of requests.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  function serveFault(req, res) {
    const f = state.fault;
    f.served += 1;
    if (f.remaining !== null && --f.remaining <= 0) state.fault = null;
    req.resume();
    req.once("end", () => {
      if (f.mode === "reset") return res.socket?.destroy();
      const [status, type, body] = FAULT_MODES[f.mode](f.marker);
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  }
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://proxy").pathname;
    calls.set(path, (calls.get(path) ?? 0) + 1);
    if (state.fault && (!state.fault.match || path.includes(state.fault.match))) return serveFault(req, res);
    const headers = { ...req.headers, host: target.host };
    delete headers.connection;
    // Supabase's path for PostgREST (`/rest/v1`, what supabase-js's `from()` calls) onto
    // postrust's (`/api`): SUPABASE_URL of the stack is this proxy.
    const upstreamPath = req.url.startsWith("/rest/v1/") ? `${target.pathname.replace(/\/$/, "")}/api/${req.url.slice("/rest/v1/".length)}` : req.url;
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: upstreamPath, headers, agent }, (answer) => {
      const h = { ...answer.headers };
      for (const k of ["connection", "keep-alive", "transfer-encoding"]) delete h[k];
      res.writeHead(answer.statusCode, h);
      answer.pipe(res);
    });
    up.on("error", (e) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `proxy: ${e.message}` }));
    });
    req.pipe(up);
  });
  await listen(server, port);
  server.unref();
  return { origin: `http://127.0.0.1:${port}`, calls, state };
}

/** The control endpoint on `port`; its URL. */
export async function startControl({ port, runner, functions, proxy }) {
  const server = createServer(async (req, res) => {
    const reply = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url, "http://control");
    const r = /^\/runner\/(stop|start)$/.exec(url.pathname);
    if (req.method === "POST" && r) {
      try {
        await (r[1] === "stop" ? runner.stop() : runner.end());
        return reply(200, { runner: runner.outages ? "stopped" : "running", outages: runner.outages });
      } catch (e) {
        return reply(500, { error: e.message });
      }
    }
    // POST /postgrest/fault?mode=<mode>[&match=<path substring>][&count=<n>][&marker=<s>]:
    // garbage (FAULT_MODES) instead of forwarding, to every request whose path contains
    // `match` (default: all), for the next `count` requests (default: until cleared).
    // mode=off clears it. Answers { fault: {...} | null, served } (served: garbage
    // answers of the last fault).
    if (url.pathname === "/postgrest/fault" && (req.method === "POST" || req.method === "GET")) {
      const s = proxy.state;
      if (req.method === "GET") return reply(200, { fault: s.fault, modes: Object.keys(FAULT_MODES) });
      const mode = url.searchParams.get("mode") ?? "";
      if (mode === "off") {
        const served = s.last?.served ?? 0;
        s.fault = null;
        return reply(200, { fault: null, served });
      }
      if (!(mode in FAULT_MODES)) return reply(400, { error: `mode must be off or one of ${Object.keys(FAULT_MODES).join(", ")}` });
      const count = url.searchParams.get("count");
      s.fault = s.last = {
        mode,
        match: url.searchParams.get("match") || null,
        remaining: count === null ? null : Math.max(1, Number(count) || 1),
        marker: url.searchParams.get("marker") || "hangar-garbage-canary",
        served: 0,
      };
      return reply(200, { fault: s.fault, served: 0 });
    }
    if (req.method === "GET" && url.pathname === "/postgrest-calls") {
      return reply(200, Object.fromEntries(proxy.calls));
    }
    const m = /^\/scheduled\/([\w-]+)$/.exec(url.pathname);
    if (req.method !== "POST" || !m) return reply(404, { error: "POST /scheduled/<function>" });
    try {
      reply(200, await functions().scheduled(m[1], url.searchParams.get("cron") ?? undefined));
    } catch (e) {
      reply(500, { error: e.message });
    }
  });
  await listen(server, port);
  server.unref();
  return `http://127.0.0.1:${port}`;
}
