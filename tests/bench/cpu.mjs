// Worker CPU cost: the Rust Workers, the TypeScript Worker written as a Supabase Edge
// Function usually is (tests/bench/ts-worker) and a trivial Worker that answers a
// constant, each alone in Miniflare (workerd), against an upstream that answers
// instantly (tests/bench/upstream.mjs), driven to saturation by wrk; best of 3 runs.
// A Worker's own cost is its time per request above the trivial Worker's: the CPU time the
// workerd process spends per request (read from /proc, so that whatever else runs on the
// machine does not count), best of 3 runs.
//
//   node tests/bench/cpu.mjs --rust DIR --ts FILE [--out FILE.json]
//
// DIR holds one worker-build output per function (DIR/<name>/entry.js, release); FILE
// is the bundled TypeScript Worker. Run it pinned to one core (scripts/bench.sh:
// `taskset -c 0`): workerd inherits that core, while wrk and the upstream run on the
// other one, so each run measures workerd's time per request alone.
//
// What each step costs is measured by requests that stop after that step (all on the
// same Worker, so the differences are that step's cost), plus a variant whose
// console.log is a no-op:
//   options        preflight: request id, configuration, CORS, empty answer (and, in the Rust
//                  Worker, the log line: the TypeScript one answers OPTIONS before logging)
//   no-token       401 before any JWT work: + the error envelope
//   bad-signature  401: + parsing the JWT and its HMAC
//   bad-input      400: + a valid JWT (claims decoded and checked) and the query parsed
//   upstream-503   503: + the fetch to the upstream (an empty 503 answer)
//   full           200: + the outcome decoded (a machine, 10 events) and re-encoded
//   full, no log   full with console.log a no-op: what writing the log line costs
//   full, rate limit  (Rust) full with the RATE_LIMITER binding production declares
// Env: BENCH_CPU_SECONDS (per run, default 3), BENCH_CPU_CONNECTIONS (default 16),
// BENCH_CPU_RUNS (default 3).
import { spawn, execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { createHmac } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { FAIL_ID, MACHINE_ID } from "./upstream.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUST_DIR = arg("rust", join(ROOT, ".local", "bench", "rust"));
const TS_FILE = arg("ts", join(ROOT, "tests", "bench", "ts-worker", "dist", "index.js"));
const OUT = arg("out");
// Development: --only rust|ts, --steps full,options (comma-separated step names).
const ONLY = arg("only");
const ONLY_STEPS = arg("steps")?.split(",");
const SECONDS = Number(process.env.BENCH_CPU_SECONDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CPU_CONNECTIONS || 16);
const RUNS = Number(process.env.BENCH_CPU_RUNS || 3);
const SECRET = "bench-jwt-secret-with-at-least-32-characters";
const ANON = "bench-anon-key";

// Two cores or more: workerd on the core this process is pinned to, the load on another.
// (`nproc --all`: this process may itself be pinned to one core.)
const cores = Number(execFileSync("nproc", ["--all"], { encoding: "utf8" }).trim());
const pinned = (cmd, args) => (cores >= 2 && hasTaskset() ? ["taskset", ["-c", "1", cmd, ...args]] : [cmd, args]);
function hasTaskset() {
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// ---- tokens ---------------------------------------------------------------------------
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
function hs256(claims, secret = SECRET) {
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}
const now = Math.floor(Date.now() / 1000);
const claims = {
  sub: "4b1c6f7e-2f4c-4a8e-9d2b-1f0e3c5a7b9d",
  role: "authenticated",
  aud: "authenticated",
  iss: "hangar",
  session_id: "9a7c2f1e-3b4d-4e5f-8a6b-7c8d9e0f1a2b",
  jti: "2c9f1b7e-6d5a-4c3b-8e2f-1a0b9c8d7e6f",
  iat: now,
  exp: now + 3600,
};
const TOKEN = hs256(claims);
const FORGED = hs256(claims, "another-secret-with-at-least-32-characters!");

// ---- the requests ----------------------------------------------------------------------
const STATUS = "/functions/v1/get-machine-status";
const START = "/functions/v1/start-machine";
const auth = (t) => ({ Authorization: `Bearer ${t}` });
const STEPS = [
  { step: "options", fn: "get-machine-status", method: "OPTIONS", path: STATUS, status: 204 },
  { step: "no-token", fn: "get-machine-status", path: `${STATUS}?machineId=${MACHINE_ID}`, status: 401 },
  { step: "bad-signature", fn: "get-machine-status", path: `${STATUS}?machineId=${MACHINE_ID}`, headers: auth(FORGED), status: 401 },
  { step: "bad-input", fn: "get-machine-status", path: `${STATUS}?machineId=nope`, headers: auth(TOKEN), status: 400 },
  { step: "upstream-503", fn: "get-machine-status", path: `${STATUS}?machineId=${FAIL_ID}`, headers: auth(TOKEN), status: 503 },
  { step: "full", fn: "get-machine-status", path: `${STATUS}?machineId=${MACHINE_ID}`, headers: auth(TOKEN), status: 200 },
  { step: "full, no log", fn: "get-machine-status", path: `${STATUS}?machineId=${MACHINE_ID}`, headers: auth(TOKEN), status: 200, noLog: true },
  // Rust only (the TypeScript Worker has no rate limiting): with the production binding.
  { step: "full, rate limit", fn: "get-machine-status", path: `${STATUS}?machineId=${MACHINE_ID}`, headers: auth(TOKEN), status: 200, rateLimit: true, rustOnly: true },
  {
    step: "full", fn: "start-machine", method: "POST", path: START, status: 202,
    headers: { ...auth(TOKEN), "Content-Type": "application/json" }, body: JSON.stringify({ machineId: MACHINE_ID }),
  },
];

// ---- processes -------------------------------------------------------------------------
const children = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

async function startUpstream() {
  const [cmd, args] = pinned(process.execPath, [join(ROOT, "tests", "bench", "upstream.mjs"), "0"]);
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const line = await new Promise((resolve, reject) => {
    child.once("exit", (c) => reject(new Error(`upstream exited (${c})`)));
    createInterface({ input: child.stdout }).once("line", resolve);
  });
  return Number(/^listening (\d+)$/.exec(line)[1]);
}

// Asynchronous: this process must keep draining workerd's stdout (the Workers' log lines)
// while wrk runs, or workerd blocks on a full pipe.
const execFileAsync = promisify(execFile);
async function wrk({ url, method = "GET", headers = {}, body }, { connections, seconds, latency = false }) {
  const lua = [`wrk.method = ${JSON.stringify(method)}`];
  for (const [k, v] of Object.entries(headers)) lua.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  if (body) lua.push(`wrk.body = ${JSON.stringify(body)}`);
  const script = join(ROOT, ".local", "bench", `wrk-${process.pid}.lua`);
  writeFileSync(script, lua.join("\n") + "\n");
  const [cmd, args] = pinned("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", ...(latency ? ["--latency"] : []), "-s", script, url]);
  const { stdout: out } = await execFileAsync(cmd, args, { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  if (!rps) throw new Error(`wrk: no Requests/sec in:\n${out}`);
  // A request refused or cut is a broken run; a few slow ones (another process took the
  // core for a while) are not, up to 1% of the run.
  const errors = Object.fromEntries([...(/Socket errors: (.*)/.exec(out)?.[1] ?? "").matchAll(/(\w+) (\d+)/g)].map(([, k, v]) => [k, Number(v)]));
  if ((errors.connect ?? 0) + (errors.read ?? 0) + (errors.write ?? 0) > 0 || (errors.timeout ?? 0) > requests / 100) {
    throw new Error(`wrk: socket errors (${JSON.stringify(errors)}) against ${url}`);
  }
  const ms = (label) => {
    const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
    return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : undefined;
  };
  return { rps, requests, p50: ms(50), p99: ms(99) };
}

// CPU time of the workerd process (every thread), in ns: what a run costs the Worker's
// runtime, whatever else the machine is doing meanwhile (wall-clock throughput is not).
let workerdPid = null;
function findWorkerd() {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(readFileSync(`/proc/${d}/stat`, "utf8"));
      if (m && m[1] === "workerd" && Number(m[2]) === process.pid) return Number(d);
    } catch {}
  }
  throw new Error("no workerd child process found");
}
function cpuNs(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {}
  }
  return ns;
}

// Best of RUNS at saturation (after a warm-up run that is not counted): the highest
// throughput, and the lowest workerd CPU time per request.
async function saturate(req) {
  try {
    await wrk(req, { connections: CONNECTIONS, seconds: 2 });
  } catch { /* a warm-up that saw no answer in time (wasm still compiling) */ }
  let rps = 0, cpuUs = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const before = cpuNs(workerdPid);
    const r = await wrk(req, { connections: CONNECTIONS, seconds: SECONDS });
    const used = cpuNs(workerdPid) - before;
    rps = Math.max(rps, r.rps);
    cpuUs = Math.min(cpuUs, used / 1000 / r.requests);
  }
  return { rps, cpuUs };
}

const wranglerToml = parseToml(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
const compat = { compatibilityDate: wranglerToml.compatibility_date ?? "2026-07-01" };

function rustWorker(name, noLog, rateLimit) {
  const dir = join(RUST_DIR, name);
  if (!existsSync(join(dir, "entry.js"))) throw new Error(`${dir}/entry.js: build the release profile first`);
  // workerd refuses module paths that climb out of its starting directory.
  const rel = relative(process.cwd(), dir);
  if (rel.startsWith("..")) throw new Error(`${dir} must be under ${process.cwd()}`);
  if (noLog) writeFileSync(join(dir, "entry-nolog.js"), 'console.log = () => {};\nexport { default } from "./entry.js";\n');
  const env = wranglerToml.env?.[name];
  return {
    modules: true,
    scriptPath: join(rel, noLog ? "entry-nolog.js" : "entry.js"),
    modulesRoot: rel,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityFlags: env?.compatibility_flags ?? wranglerToml.compatibility_flags ?? [],
    ...(rateLimit && {
      ratelimits: Object.fromEntries((env?.ratelimits ?? []).map((rl) => [rl.name, { namespace_id: String(rl.namespace_id), simple: { limit: 1e9, period: 60 } }])),
    }),
  };
}

function tsWorker(noLog) {
  return { modules: true, script: (noLog ? "console.log = () => {};\n" : "") + readFileSync(TS_FILE, "utf8") };
}

const TRIVIAL = { modules: true, script: 'export default { fetch() { return new Response("ok"); } };' };

async function withWorker(worker, bindings, use) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: [{ name: "bench", ...compat, bindings, ...worker }],
    // Drained, not printed: the log lines are part of the cost, not of the report.
    handleRuntimeStdio(stdout, stderr) {
      stdout.resume();
      stderr.resume();
    },
  });
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    workerdPid = findWorkerd();
    return await use(url);
  } finally {
    await mf.dispose();
  }
}

async function check(url, s) {
  const res = await fetch(url + s.path, { method: s.method ?? "GET", headers: s.headers, body: s.body });
  const text = await res.text();
  if (res.status !== s.status) throw new Error(`${s.fn} ${s.step}: status ${res.status}, expected ${s.status}: ${text.slice(0, 300)}`);
}

// ---- main ------------------------------------------------------------------------------
process.chdir(ROOT);
const upstreamPort = await startUpstream();
const upstream = `http://127.0.0.1:${upstreamPort}`;
const rustBindings = {
  POSTGREST_URL: `${upstream}/rest/v1`,
  SUPABASE_ANON_KEY: ANON,
  SUPABASE_SERVICE_ROLE_KEY: "bench-service-key",
  SUPABASE_JWT_SECRET: SECRET,
};
const tsBindings = { SUPABASE_URL: upstream, SUPABASE_ANON_KEY: ANON, SUPABASE_JWT_SECRET: SECRET };

const rows = []; // { worker, fn, step, rps, us }
const say = (m) => process.stderr.write(`[bench:cpu] ${m}\n`);

say(`${RUNS} runs of ${SECONDS}s, ${CONNECTIONS} connections, ${cores} cores${cores >= 2 ? " (workerd on core 0, wrk and upstream on core 1)" : ""}`);
const trivial = await withWorker(TRIVIAL, {}, async (url) => {
  await check(url, { fn: "trivial", step: "constant", path: "/", status: 200 });
  const { rps, cpuUs } = await saturate({ url: `${url}/` });
  const lat = await wrk({ url: `${url}/` }, { connections: 1, seconds: SECONDS, latency: true });
  return { rps, cpuUs, lat };
});
rows.push({ worker: "trivial", fn: "-", step: "constant", rps: trivial.rps, us: trivial.cpuUs });
say(`trivial: ${trivial.rps.toFixed(0)} req/s, ${trivial.cpuUs.toFixed(0)} µs CPU per request`);

const latency = { trivial: trivial.lat };
for (const [worker, make, bindings] of [
  ["rust", (s) => rustWorker(s.fn, s.noLog, s.rateLimit), rustBindings],
  ["ts", (s) => tsWorker(s.noLog), tsBindings],
]) {
  // One Miniflare per Worker build (and per variant of its entry).
  const groups = new Map();
  if (ONLY && ONLY !== worker) continue;
  for (const s of STEPS) {
    if (s.rustOnly && worker !== "rust") continue;
    if (ONLY_STEPS && !ONLY_STEPS.includes(s.step)) continue;
    const key = `${worker === "rust" ? s.fn : "ts"}${s.noLog ? ":nolog" : ""}${s.rateLimit ? ":ratelimit" : ""}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  for (const steps of groups.values()) {
    await withWorker(make(steps[0]), bindings, async (url) => {
      for (const s of steps) {
        await check(url, s);
        const req = { url: url + s.path, method: s.method, headers: s.headers, body: s.body };
        const { rps, cpuUs } = await saturate(req);
        rows.push({ worker, fn: s.fn, step: s.step, rps, us: cpuUs });
        say(`${worker} ${s.fn} ${s.step}: ${rps.toFixed(0)} req/s, ${cpuUs.toFixed(0)} µs CPU per request`);
        if (s.step === "full" && !s.noLog) latency[`${worker} ${s.fn}`] = await wrk(req, { connections: 1, seconds: SECONDS, latency: true });
      }
    });
  }
}
// The upstream called directly (the same request the Workers make), for the latency split.
for (const [fn, body] of [["get-machine-status", { p_machine_id: MACHINE_ID }], ["start-machine", { p_machine_id: MACHINE_ID, p_action: "start" }]]) {
  const rpc = fn === "start-machine" ? "hangar_machine_action" : "hangar_get_machine";
  latency[`upstream ${fn}`] = await wrk(
    { url: `${upstream}/rest/v1/rpc/${rpc}`, method: "POST", headers: { "Content-Type": "application/json", ...auth(TOKEN), apikey: ANON }, body: JSON.stringify(body) },
    { connections: 1, seconds: SECONDS, latency: true },
  );
}

// ---- report ---------------------------------------------------------------------------
const trivialUs = trivial.cpuUs;
for (const r of rows) r.ownUs = r.us - trivialUs;
const find = (worker, fn, step) => rows.find((r) => r.worker === worker && r.fn === fn && r.step === step);
const pad = (s, n) => String(s).padEnd(n);
const num = (v, n, d = 0) => (v === undefined ? "-" : v.toFixed(d)).padStart(n);

console.log(`\nWorker CPU cost (Miniflare/workerd, instant upstream, wrk -c${CONNECTIONS}, best of ${RUNS} x ${SECONDS}s).`);
console.log("µs/req: workerd's CPU time per request (all its threads); own: above the trivial Worker's. req/s: throughput, for reference.");
console.log(`${pad("worker", 8)}${pad("function", 21)}${pad("step", 18)}${"req/s".padStart(8)}${"µs/req".padStart(9)}${"own µs".padStart(9)}`);
for (const r of rows) console.log(`${pad(r.worker, 8)}${pad(r.fn, 21)}${pad(r.step, 18)}${num(r.rps, 8)}${num(r.us, 9)}${num(r.worker === "trivial" ? 0 : r.ownUs, 9)}`);

// What each step costs (µs, differences of the rows above, same Worker).
const STEP_SPLIT = [
  // The TypeScript Worker answers OPTIONS before its log line (as Edge Functions usually do).
  ["preflight: request id, config, CORS, answer (Rust: + log line)", "trivial", "options"],
  ["error envelope (401)", "options", "no-token"],
  ["JWT parse + HMAC (refused)", "no-token", "bad-signature"],
  ["JWT verified, claims checked, query parsed", "no-token", "bad-input"],
  ["fetch to PostgREST (empty 503 answer)", "bad-input", "upstream-503"],
  ["outcome JSON decoded and re-encoded (10 events)", "upstream-503", "full"],
  ["console.log of the log line", "full, no log", "full"],
  ["rate limit (binding call)", "full", "full, rate limit"],
];
const split = {};
console.log("\nWhat each step costs in get-machine-status (µs per request; differences of the rows above)");
console.log(`${pad("step", 64)}${"rust".padStart(8)}${"ts".padStart(8)}`);
for (const [label, from, to] of STEP_SPLIT) {
  const cost = (w) => {
    const a = from === "trivial" ? { us: trivialUs } : find(w, "get-machine-status", from);
    const b = find(w, "get-machine-status", to);
    return a && b ? b.us - a.us : undefined;
  };
  split[label] = { rust: cost("rust"), ts: cost("ts") };
  console.log(`${pad(label, 64)}${num(split[label].rust, 8)}${num(split[label].ts, 8)}`);
}

console.log("\nLatency, one connection (ms; the trivial Worker is Miniflare's own hop, upstream is the canned PostgREST called directly)");
console.log(`${pad("", 34)}${"p50".padStart(8)}${"p99".padStart(8)}`);
for (const [k, v] of Object.entries(latency)) console.log(`${pad(k, 34)}${num(v.p50, 8, 2)}${num(v.p99, 8, 2)}`);

// Budget: Rust's own cost at most TypeScript's, per function.
let failed = false;
const budget = [];
for (const fn of ["get-machine-status", "start-machine"]) {
  const rust = find("rust", fn, "full");
  const ts = find("ts", fn, "full");
  if (!rust || !ts) continue;
  const ok = rust.ownUs <= ts.ownUs;
  failed ||= !ok;
  budget.push({ fn, rustOwnUs: rust.ownUs, tsOwnUs: ts.ownUs, ratio: rust.ownUs / ts.ownUs, ok });
  console.log(`${ok ? "ok  " : "OVER"} ${fn}: Rust own ${rust.ownUs.toFixed(0)} µs, TypeScript own ${ts.ownUs.toFixed(0)} µs (Rust/TS ${(rust.ownUs / ts.ownUs).toFixed(2)}; budget <= 1.00)`);
}
if (OUT) writeFileSync(OUT, JSON.stringify({ trivialUs, rows, split, latency, budget }, null, 2));
process.exit(failed ? 1 : 0);
