#!/usr/bin/env node
// The local stack: PostgreSQL + postrust (PostgREST) + Miniflare running every
// built function, wired with the config of tests/stack/config.mjs.
//
//   node tests/stack/stack.mjs dev                 fixed ports, persistent database,
//                                                  logs on stdout, Ctrl-C stops all
//   node tests/stack/stack.mjs test [pattern...]   free ports, fresh database, runs
//                                                  `node --test` on tests/e2e, stops
//
// Both write a stack.env (KEY=VALUE, shell-sourceable): dev to .local/stack.env,
// test to its own run folder, exported to the tests as HANGAR_STACK_ENV.
// Functions must be built first (scripts/build-functions.sh).

import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { LOCAL_DIR, ROOT, rateLimits, resolveConfig } from "./config.mjs";
import * as pg from "./pg.mjs";

const mode = process.argv[2];
if (mode !== "dev" && mode !== "test") {
  console.error("usage: stack.mjs dev | test [test files or globs...]");
  process.exit(2);
}
const DEV = mode === "dev";
const t0 = Date.now();
const say = (msg) => console.log(`[stack] ${msg}`);
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

// ---- where things go -----------------------------------------------------------
const runDir = DEV ? join(LOCAL_DIR, "dev") : join(LOCAL_DIR, `test-${process.pid}`);
const envFile = DEV ? join(LOCAL_DIR, "stack.env") : join(runDir, "stack.env");
mkdirSync(runDir, { recursive: true });

// Worker and postrust output: stdout in dev (the JSON request logs are the point);
// a file in test mode, so that the test report stays readable (FUNCTIONS_LOG in
// stack.env; printed on failure, or always with HANGAR_STACK_VERBOSE=1).
const functionsLog = join(runDir, "functions.log");
const postrustLog = join(runDir, "postrust.log");
const logSink = (file, prefix = "") => {
  if (DEV || process.env.HANGAR_STACK_VERBOSE) return { write: (l) => process.stdout.write(prefix + l), end() {} };
  const s = createWriteStream(file, { flags: "a" });
  return { write: (l) => s.write(l), end: () => s.end() };
};

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// dev: fixed defaults (overridable); test: whatever is free.
const port = async (name, fallback) =>
  DEV ? Number(process.env[name] || fallback) : await freePort();
const ports = {
  functions: await port("FUNCTIONS_PORT", 8787),
  postgrest: await port("POSTGREST_PORT", 54321),
  postgres: await port("PGPORT", 54322),
  runner: await port("RUNNER_PORT", 8790),
  // Between the functions and postrust: counts every PostgREST request by path, so the
  // benchmark can report round trips per function call.
  postgrestProxy: await port("POSTGREST_PROXY_PORT", 54320),
};

const functionsUrl = `http://127.0.0.1:${ports.functions}`;
const postgrestOrigin = `http://127.0.0.1:${ports.postgrest}`;
// In test mode the addresses are the stack's own: a FUNCTIONS_URL left in the
// environment by a sourced dev stack.env must not leak in.
const envForConfig = { ...process.env };
if (!DEV) for (const k of ["FUNCTIONS_URL", "SUPABASE_URL", "POSTGREST_URL"]) delete envForConfig[k];
const runnerUrl = `http://127.0.0.1:${ports.runner}/`;
if (!DEV) delete envForConfig.RUNNER_URL;
const { vars, privateKeyFile, publicKeyFile } = resolveConfig({ functionsUrl, postgrestOrigin, runnerUrl, test: !DEV }, envForConfig);
// What the Workers use: the counting proxy in front of postrust (stack.env keeps the
// direct URL for tests that talk to PostgREST themselves).
const workerVars = { ...vars, POSTGREST_URL: vars.POSTGREST_URL.replace(postgrestOrigin, `http://127.0.0.1:${ports.postgrestProxy}`) };

// ---- shutdown: whatever happens, nothing stays running ---------------------------
// Miniflare installs its own SIGINT/SIGTERM handlers that kill workerd and call
// process.exit() at once, so the rest of the cleanup is synchronous and also runs
// from the 'exit' event: postrust gets SIGTERM, pg_ctl stop runs to completion.
let mf, postrust, runner, paths, sinks = [];
let stopped = false;
function stopSync() {
  if (stopped) return;
  stopped = true;
  if (postrust && postrust.exitCode === null && postrust.signalCode === null) postrust.kill("SIGTERM");
  stopRunnerSync();
  if (paths) {
    try {
      pg.stopCluster(paths);
    } catch (e) {
      say(`postgres stop: ${e.message}`);
    }
  }
  for (const s of sinks) s.end();
  if (!DEV && !process.env.HANGAR_KEEP_STACK) {
    rmSync(runDir, { recursive: true, force: true });
    if (paths && !paths.base.startsWith(runDir)) rmSync(paths.base, { recursive: true, force: true });
  }
}
async function stop() {
  const m = mf;
  mf = undefined;
  if (m) await m.dispose().catch((e) => say(`miniflare dispose: ${e.message}`));
  stopSync();
}
process.on("exit", stopSync);
const onExit = (child) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let testChild;
// Registered before Miniflare's, so these run first.
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    testChild?.kill(sig);
    stopSync();
    stop().finally(() => process.exit(code));
  });
}

// Leftovers of runs that were killed outright (SIGKILL): their Postgres, their
// postrust and, for test runs, their folder.
function reapStale() {
  if (!existsSync(LOCAL_DIR)) return;
  if (DEV && existsSync(envFile)) {
    const pid = Number(/^HANGAR_STACK_PID=(\d+)$/m.exec(readFileSync(envFile, "utf8"))?.[1]);
    if (pid && pid !== process.pid && alive(pid) && readProc(pid).includes("stack.mjs")) {
      throw new Error(`a dev stack is already running (pid ${pid}); stop it first`);
    }
  }
  for (const d of readdirSync(LOCAL_DIR)) {
    const m = /^test-(\d+)$/.exec(d);
    const dir = join(LOCAL_DIR, d);
    if (d === "dev" ? !DEV : !m || alive(Number(m[1]))) continue;
    for (const [file, name] of [["postrust.pid", "postrust"], ["runner.pid", "hangar-runner"], ["workerd.pid", "workerd"], ["tests.pid", "--test"]]) {
      const pidFile = join(dir, file);
      if (!existsSync(pidFile)) continue;
      for (const pid of readFileSync(pidFile, "utf8").split(/\s+/).filter(Boolean).map(Number)) {
        if (alive(pid) && readProc(pid).includes(name)) process.kill(pid, "SIGKILL");
      }
    }
    const p = pg.clusterPaths(dir);
    if (pg.clusterExists(p) && pg.isRunning(p)) pg.stopCluster(p);
    if (m) {
      rmSync(dir, { recursive: true, force: true });
      rmSync(p.base, { recursive: true, force: true });
    }
  }
}
// Direct children of this process whose command name is `name` (from /proc).
function childPids(name) {
  const pids = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && m[1] === name && Number(m[2]) === process.pid) pids.push(Number(d));
    } catch {}
  }
  return pids;
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
function readProc(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

// ---- PostgreSQL -----------------------------------------------------------------
async function startPostgres() {
  paths = pg.clusterPaths(runDir);
  // A cluster left running by a killed run (dev) is stopped first: known state.
  if (pg.clusterExists(paths) && pg.isRunning(paths)) pg.stopCluster(paths);
  const fresh = !pg.clusterExists(paths);
  if (fresh) pg.initCluster(paths, { templateDir: join(LOCAL_DIR, "pg-template") });
  pg.configureCluster(paths, { port: ports.postgres, fast: !DEV });
  pg.startCluster(paths);
  const opts = {
    bootstrapFile: join(ROOT, "tests/stack/bootstrap.sql"),
    migrationsDir: join(ROOT, "migrations"),
    log: say,
  };
  try {
    pg.applyMigrations(paths, ports.postgres, opts);
  } catch (e) {
    if (!(e instanceof pg.MigrationChanged)) throw e;
    // Dev database built from an older version of a migration: start over.
    say(`${e.message}: recreating the dev database`);
    pg.stopCluster(paths);
    pg.initCluster(paths, { templateDir: join(LOCAL_DIR, "pg-template") });
    pg.configureCluster(paths, { port: ports.postgres, fast: !DEV });
    pg.startCluster(paths);
    pg.applyMigrations(paths, ports.postgres, opts);
  }
  say(`postgres on ${ports.postgres} (${relative(ROOT, paths.pgdata) || paths.pgdata}${fresh ? ", new" : ""}) at ${since()}`);
}

// ---- postrust (PostgREST) ---------------------------------------------------------
async function startPostrust() {
  const dbUri = `postgres://authenticator@127.0.0.1:${ports.postgres}/postgres`;
  // A clean environment: postrust reads DATABASE_URL *over* PGRST_DB_URI, and a
  // DATABASE_URL inherited from a sourced stack.env (the superuser's) would
  // silently bypass RLS.
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: dbUri,
    PGRST_DB_URI: dbUri,
    PGRST_DB_ANON_ROLE: "anon",
    PGRST_DB_SCHEMAS: "public",
    PGRST_JWT_SECRET: vars.SUPABASE_JWT_SECRET,
    // Tokens with aud=authenticated (sessions, Supabase Auth) and tokens with no
    // aud (anon / service_role keys) pass; any other aud is 401.
    PGRST_JWT_AUD: "authenticated",
    PGRST_SERVER_HOST: "127.0.0.1",
    PGRST_SERVER_PORT: String(ports.postgrest),
    // `NOTIFY pgrst, 'reload schema'` after a manual migration reloads the cache.
    PGRST_DB_CHANNEL_ENABLED: "true",
    // PostgREST's response shapes (RPC results unwrapped, database errors as
    // PostgREST reports them), which is what Supabase serves.
    PGRST_COMPAT_MODE: process.env.PGRST_COMPAT_MODE ?? "true",
    PGRST_DB_POOL_TIMEOUT: "5",
    PGRST_LOG_LEVEL: process.env.PGRST_LOG_LEVEL ?? "warn",
    NO_COLOR: "1",
  };
  const sink = logSink(postrustLog, "[postrust] ");
  sinks.push(sink);
  postrust = spawn("postrust", [], { env, stdio: ["ignore", "pipe", "pipe"] });
  if (postrust.pid) writeFileSync(join(runDir, "postrust.pid"), String(postrust.pid));
  for (const s of [postrust.stdout, postrust.stderr]) createInterface({ input: s }).on("line", (l) => sink.write(l + "\n"));
  const spawnError = new Promise((_, rej) => postrust.once("error", (e) => rej(new Error(`postrust: ${e.message} (run scripts/setup.sh)`))));
  const died = onExit(postrust).then(() => {
    if (!stopped) throw new Error(`postrust exited (${postrust.exitCode ?? postrust.signalCode}); see ${postrustLog}`);
  });
  // Ready = its pool reaches the database.
  const ready = (async () => {
    for (let i = 0; i < 300; i++) {
      try {
        const r = await fetch(`${postgrestOrigin}/_/ready`);
        if (r.ok) return;
      } catch {}
      await sleep(100);
    }
    throw new Error("postrust did not become ready in 30s");
  })();
  await Promise.race([ready, spawnError, died]);
  died.catch((e) => {
    console.error(`[stack] ${e.message}`);
    stop().finally(() => process.exit(1));
  });
  say(`postrust on ${ports.postgrest} at ${since()}`);
}

// ---- the counting proxy in front of postrust ----------------------------------------
const postgrestCalls = new Map();
// Fault injection (control endpoint /postgrest/fault): while a fault is set, matching
// requests are NOT forwarded; the proxy answers garbage instead, so that a test sees
// what the functions make of a broken PostgREST (API.md §1: 502 upstream_error, the
// body never reaches the client). Every garbage body carries `marker`.
let postgrestFault = null; // { mode, match, remaining, marker, served }
let lastFault = null; // the latest fault, also once a `count` has run out
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
function serveFault(res) {
  const f = postgrestFault;
  f.served += 1;
  if (f.remaining !== null && --f.remaining <= 0) postgrestFault = null;
  if (f.mode === "reset") return res.socket?.destroy();
  const [status, type, body] = FAULT_MODES[f.mode](f.marker);
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
async function startPostgrestProxy() {
  const proxy = createHttpServer(async (req, res) => {
    const path = new URL(req.url, "http://proxy").pathname;
    postgrestCalls.set(path, (postgrestCalls.get(path) ?? 0) + 1);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (postgrestFault && (!postgrestFault.match || path.includes(postgrestFault.match))) return serveFault(res);
    try {
      const headers = { ...req.headers };
      delete headers.host;
      delete headers["content-length"];
      const body = ["GET", "HEAD"].includes(req.method) ? undefined : Buffer.concat(chunks);
      const upstream = await fetch(`${postgrestOrigin}${req.url}`, { method: req.method, headers, body });
      const out = Buffer.from(await upstream.arrayBuffer());
      const h = Object.fromEntries([...upstream.headers].filter(([k]) => !["content-encoding", "content-length", "transfer-encoding", "connection"].includes(k)));
      res.writeHead(upstream.status, h);
      res.end(out);
    } catch (e) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `proxy: ${e.message}` }));
    }
  });
  await new Promise((resolve, reject) => proxy.once("error", reject).listen(ports.postgrestProxy, "127.0.0.1", resolve));
  proxy.unref();
}

// ---- the runner (simulate mode) -----------------------------------------------------
// Started as its own process so that a test can stop it (an outage) and start it again
// through the control endpoint; its journal lives in RUNNER_WORKDIR across restarts.
const runnerBin = process.env.HANGAR_RUNNER_BIN || join(ROOT, "target", "debug", "hangar-runner");
const runnerWorkdir = join(runDir, "runner");
const runnerLog = join(runDir, "runner.log");
let runnerSink;
async function startRunner() {
  if (!existsSync(runnerBin)) throw new Error(`${runnerBin} is not built (cargo build -p hangar-runner)`);
  runnerSink ??= logSink(runnerLog, "[runner] ");
  if (!sinks.includes(runnerSink)) sinks.push(runnerSink);
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RUNNER_SECRET: vars.RUNNER_SECRET,
    RUNNER_LISTEN: `127.0.0.1:${ports.runner}`,
    RUNNER_WORKDIR: runnerWorkdir,
    RUNNER_SIMULATE: "true",
    RUNNER_SIM_DELAY_MS: process.env.RUNNER_SIM_DELAY_MS ?? (DEV ? "500" : "50"),
    RUNNER_CONCURRENCY: process.env.RUNNER_CONCURRENCY ?? "8",
  };
  runner = spawn(runnerBin, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  if (runner.pid) writeFileSync(join(runDir, "runner.pid"), String(runner.pid));
  for (const st of [runner.stdout, runner.stderr]) createInterface({ input: st }).on("line", (l) => runnerSink.write(l + "\n"));
  for (let i = 0; i < 200; i++) {
    if (runner.exitCode !== null) throw new Error(`runner exited (${runner.exitCode}); see ${runnerLog}`);
    try {
      if ((await fetch(`${runnerUrl}health`)).ok) return;
    } catch {}
    await sleep(50);
  }
  throw new Error("runner did not become ready in 10s");
}
function stopRunnerSync() {
  if (runner && runner.exitCode === null && runner.signalCode === null) runner.kill("SIGTERM");
}
async function stopRunner() {
  const r = runner;
  if (!r) return;
  stopRunnerSync();
  await onExit(r);
  runner = undefined;
}

// ---- Miniflare: one worker per function --------------------------------------------
async function startFunctions() {
  const wrangler = parseToml(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
  const envs = wrangler.env ?? {};
  const names = Object.keys(envs).filter((n) => existsSync(join(ROOT, "functions", n, "Cargo.toml")));
  const missing = names.filter((n) => !existsSync(join(ROOT, "functions", n, "build", "index.js")));
  if (missing.length) throw new Error(`not built: ${missing.join(", ")} (run scripts/build-functions.sh)`);
  const unlisted = [...listFunctionCrates()].filter((n) => !envs[n]);
  if (unlisted.length) say(`warning: not in wrangler.toml (run \`make wrangler\`): ${unlisted.join(", ")}`);

  crons = Object.fromEntries(names.map((n) => [n, envs[n].triggers?.crons ?? []]));
  const bindings = { ...workerVars };
  // Paths relative to the working directory and without "..": workerd refuses
  // module paths that climb out of its starting directory.
  process.chdir(ROOT);
  const workers = [
    // First in the list: Miniflare sends every request no route matches here.
    { name: "hangar-not-found", modules: true, script: NOT_FOUND_WORKER, bindings, compatibilityDate: wrangler.compatibility_date },
    ...names.map((n) => ({
      name: envs[n].name ?? `hangar-${n}`,
      modules: true,
      scriptPath: `functions/${n}/build/entry.js`,
      modulesRoot: `functions/${n}/build`,
      modulesRules: [
        { type: "ESModule", include: ["**/*.js"] },
        { type: "CompiledWasm", include: ["**/*.wasm"] },
      ],
      routes: (envs[n].routes ?? []).map((r) => (typeof r === "string" ? r : r.pattern)),
      // Cron-only workers still get a route-less slot; see the control endpoint.
      compatibilityDate: envs[n].compatibility_date ?? wrangler.compatibility_date,
      compatibilityFlags: envs[n].compatibility_flags ?? wrangler.compatibility_flags ?? [],
      bindings,
      // The rate-limiting bindings wrangler.toml declares, with this stack's limits.
      ratelimits: Object.fromEntries(
        rateLimits(n, vars).map((rl) => [rl.name, { namespace_id: rl.namespaceId, simple: { limit: rl.limit, period: 60 } }]),
      ),
    })),
  ];
  const sink = logSink(functionsLog);
  sinks.push(sink);
  const options = {
    host: "127.0.0.1",
    port: ports.functions,
    workers,
    // workerd's stdout/stderr carry the workers' console.log lines.
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) createInterface({ input: s }).on("line", (l) => sink.write(l + "\n"));
    },
  };
  mf = new Miniflare(options);
  await mf.ready;
  // Recorded so that a later run can reap it if this one is SIGKILLed.
  writeFileSync(join(runDir, "workerd.pid"), childPids("workerd").join(" "));
  if (DEV) reloadOnRebuild(names, options);
  say(`functions on ${ports.functions} at ${since()}: ${names.join(", ")}`);
  return names;
}

// dev: `make build` in another terminal rewrites functions/<name>/build; reload
// the workers when a build stamp changes (polling: the folders are replaced).
function reloadOnRebuild(names, options) {
  const stampOf = (n) => {
    try {
      return statSync(join(ROOT, "functions", n, "build", ".hangar-stamp")).mtimeMs;
    } catch {
      return 0;
    }
  };
  let seen = names.map(stampOf).join();
  let busy = false;
  setInterval(async () => {
    const now = names.map(stampOf).join();
    if (now === seen || busy || !mf) return;
    if (names.some((n) => !existsSync(join(ROOT, "functions", n, "build", "index.js")))) return; // mid-copy
    busy = true;
    seen = now;
    try {
      await mf.setOptions(options);
      writeFileSync(join(runDir, "workerd.pid"), childPids("workerd").join(" "));
      say("functions rebuilt: reloaded");
    } catch (e) {
      say(`reload failed: ${e.message}`);
    } finally {
      busy = false;
    }
  }, 1000).unref();
}

function e2eFiles() {
  const dir = join(ROOT, "tests", "e2e");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .filter((f) => /\.test\.m?js$/.test(f) && !f.split("/").includes("node_modules"))
    .sort()
    .map((f) => join("tests", "e2e", f));
}

function* listFunctionCrates() {
  const dir = join(ROOT, "functions");
  if (!existsSync(dir)) return;
  for (const n of readdirSync(dir)) if (existsSync(join(dir, n, "Cargo.toml"))) yield n;
}

// The 404 for paths no function serves, in the API's error envelope, with CORS.
const NOT_FOUND_WORKER = `
export default {
  fetch(request, env) {
    const id = request.headers.get("cf-ray") || crypto.randomUUID();
    const origin = request.headers.get("origin");
    const allowed = (env.ALLOWED_ORIGINS || "").split(",").map((s) => s.trim());
    const headers = { "content-type": "application/json", "x-request-id": id };
    if (allowed.includes("*")) headers["access-control-allow-origin"] = "*";
    else if (origin && allowed.includes(origin)) {
      headers["access-control-allow-origin"] = origin;
      headers["vary"] = "Origin";
    }
    return new Response(JSON.stringify({
      success: false, error_code: "not_found", message: "No such function",
      timestamp: new Date().toISOString().replace(/\\.\\d{3}Z$/, "Z"), request_id: id,
    }), { status: 404, headers });
  },
};`;

// ---- control endpoint: what a test cannot do over HTTP on Cloudflare -------------------
// POST {STACK_CONTROL_URL}/scheduled/<function>[?cron=...] runs that worker's
// scheduled handler once (the `scheduler` cron) and answers its outcome as JSON.
let control;
let crons = {};
async function startControl() {
  const port = DEV ? Number(process.env.STACK_CONTROL_PORT || 8786) : await freePort();
  control = createHttpServer(async (req, res) => {
    const reply = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url, "http://control");
    // POST /runner/stop | /runner/start: a runner outage, and its end.
    const r = /^\/runner\/(stop|start)$/.exec(url.pathname);
    if (req.method === "POST" && r) {
      try {
        if (r[1] === "stop") await stopRunner();
        else if (!runner) await startRunner();
        return reply(200, { runner: r[1] === "stop" ? "stopped" : "running" });
      } catch (e) {
        return reply(500, { error: e.message });
      }
    }
    // POST /postgrest/fault?mode=<mode>[&match=<path substring>][&count=<n>][&marker=<s>]:
    // the counting proxy answers garbage (FAULT_MODES) instead of forwarding, to every
    // request whose path contains `match` (default: all), for the next `count` requests
    // (default: until cleared). mode=off clears it. GET /postgrest/fault: the state.
    // Answers { fault: {...} | null, served } (served: garbage answers of the last fault).
    if (url.pathname === "/postgrest/fault" && (req.method === "POST" || req.method === "GET")) {
      if (req.method === "GET") return reply(200, { fault: postgrestFault, modes: Object.keys(FAULT_MODES) });
      const mode = url.searchParams.get("mode") ?? "";
      if (mode === "off") {
        const served = lastFault?.served ?? 0;
        postgrestFault = null;
        return reply(200, { fault: null, served });
      }
      if (!(mode in FAULT_MODES)) return reply(400, { error: `mode must be off or one of ${Object.keys(FAULT_MODES).join(", ")}` });
      const count = url.searchParams.get("count");
      postgrestFault = {
        mode,
        match: url.searchParams.get("match") || null,
        remaining: count === null ? null : Math.max(1, Number(count) || 1),
        marker: url.searchParams.get("marker") || "hangar-garbage-canary",
        served: 0,
      };
      lastFault = postgrestFault;
      return reply(200, { fault: postgrestFault, served: 0 });
    }
    // GET /postgrest-calls: PostgREST requests made by the functions, by path.
    if (req.method === "GET" && url.pathname === "/postgrest-calls") {
      return reply(200, Object.fromEntries(postgrestCalls));
    }
    const m = /^\/scheduled\/([\w-]+)$/.exec(url.pathname);
    if (req.method !== "POST" || !m) return reply(404, { error: "POST /scheduled/<function>" });
    try {
      const worker = await mf.getWorker(`hangar-${m[1]}`);
      const cron = url.searchParams.get("cron") ?? crons[m[1]]?.[0] ?? "* * * * *";
      reply(200, await worker.scheduled({ cron, scheduledTime: new Date() }));
    } catch (e) {
      reply(500, { error: e.message });
    }
  });
  await new Promise((resolve, reject) => control.once("error", reject).listen(port, "127.0.0.1", resolve));
  control.unref();
  return `http://127.0.0.1:${port}`;
}

// ---- stack.env --------------------------------------------------------------------
function writeStackEnv(names, controlUrl) {
  const entries = {
    FUNCTIONS_URL: functionsUrl,
    POSTGREST_URL: vars.POSTGREST_URL,
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${ports.postgres}/postgres`,
    PGDATA: paths.pgdata,
    PGHOST: paths.sockDir,
    PGPORT: String(ports.postgres),
    PGUSER: "postgres",
    PGDATABASE: "postgres",
    PG_BIN: pg.pgBin(),
    PG_LOG: paths.log,
    PRIVY_PRIVATE_KEY_FILE: privateKeyFile,
    PRIVY_VERIFICATION_KEY_FILE: publicKeyFile,
    FUNCTIONS_LOG: DEV ? "" : functionsLog,
    POSTRUST_LOG: DEV ? "" : postrustLog,
    HANGAR_FUNCTIONS: names.join(","),
    STACK_CONTROL_URL: controlUrl,
    RUNNER_PORT: String(ports.runner),
    RUNNER_WORKDIR: runnerWorkdir,
    RUNNER_LOG: DEV ? "" : runnerLog,
    RUNNER_BIN: runnerBin,
    HANGAR_STACK_MODE: mode,
    HANGAR_STACK_PID: String(process.pid),
  };
  // Every single-line config value too (the PEM key has its own file).
  for (const [k, v] of Object.entries(vars)) if (!(k in entries) && !v.includes("\n")) entries[k] = v;
  const quote = (v) => (/^[\w.,:/@%+=-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  const body = Object.entries(entries).map(([k, v]) => `${k}=${quote(v)}`).join("\n");
  writeFileSync(envFile, `# Written by tests/stack/stack.mjs (${mode}); source with: set -a; . ${envFile}; set +a\n${body}\n`);
  return entries;
}

function banner(names) {
  const rel = relative(process.cwd(), envFile);
  console.log(`
Hangar local stack is up
  functions  ${functionsUrl}/functions/v1/<name>   (${names.join(", ")})
  PostgREST  ${vars.POSTGREST_URL}
  runner     ${runnerUrl}   (simulate mode)
  Postgres   postgresql://postgres@127.0.0.1:${ports.postgres}/postgres
  env        ${rel}   (set -a; . ${rel}; set +a)
  anon key   ${vars.SUPABASE_ANON_KEY}
  token      make token   (mints a Privy token and calls exchange)
  cron       curl -X POST ${/STACK_CONTROL_URL=(.*)/.exec(readFileSync(envFile, "utf8"))?.[1]}/scheduled/scheduler
Ctrl-C stops everything.
`);
}

// ---- test mode: node --test against the running stack --------------------------------
async function runTests() {
  // Files one at a time, in name order: some tests stop Postgres for everyone
  // (zz-health-outage.test.mjs sorts last on purpose).
  const given = process.argv.slice(3);
  const files = given.length ? given : e2eFiles();
  if (!files.length) throw new Error("no tests/e2e/**/*.test.mjs files");
  const args = ["--test-concurrency=1", ...files];
  const env = { ...process.env };
  for (const line of readFileSync(envFile, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/s, "$1");
  }
  env.HANGAR_STACK_ENV = envFile;
  say(`node --test ${given.length ? args.join(" ") : `--test-concurrency=1 (${files.length} files in tests/e2e)`}`);
  testChild = spawn(process.execPath, ["--test", ...args], { stdio: "inherit", env, cwd: ROOT });
  if (testChild.pid) writeFileSync(join(runDir, "tests.pid"), String(testChild.pid));
  const code = await new Promise((r) => testChild.once("exit", (c, s) => r(c ?? (s ? 1 : 0))));
  if (code !== 0) {
    for (const [label, file] of [["functions", functionsLog], ["postrust", postrustLog]]) {
      if (!existsSync(file)) continue;
      const lines = readFileSync(file, "utf8").trimEnd().split("\n").slice(-60);
      if (lines.join("")) console.log(`\n[stack] last ${lines.length} lines of the ${label} log:\n${lines.join("\n")}`);
    }
  }
  say(`tests ${code === 0 ? "passed" : `failed (exit ${code})`}; total ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return code;
}

// ---- main (last: the helpers and constants above are initialised by now) ----------
try {
  reapStale();
  await startPostgres();
  await startPostrust();
  await startPostgrestProxy();
  await startRunner();
  say(`runner on ${ports.runner} (simulate) at ${since()}`);
  const names = await startFunctions();
  writeStackEnv(names, await startControl());
  say(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  if (DEV) {
    banner(names);
    setInterval(() => {}, 1 << 30); // keep the loop alive until a signal
    await new Promise(() => {});
  } else {
    process.exitCode = await runTests();
  }
} catch (e) {
  console.error(`[stack] ${e.stack || e.message}`);
  process.exitCode = 1;
} finally {
  if (!DEV || process.exitCode) await stop();
}
