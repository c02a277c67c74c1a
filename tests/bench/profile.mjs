// Where a Worker's CPU goes: V8's sampling profiler (through workerd's inspector) while wrk
// drives one request shape against the Worker in Miniflare, with the instant upstream of
// tests/bench/upstream.mjs. For Rust, profile a build that keeps wasm names:
//
//   CARGO_TARGET_DIR=target/names CARGO_PROFILE_RELEASE_STRIP=false HANGAR_WASM_OPT=0 \
//     bash scripts/build-functions.sh release get-machine-status
//   node tests/bench/profile.mjs --rust target/names/worker-build/release/get-machine-status
//   node tests/bench/profile.mjs --ts tests/bench/ts-worker/dist/index.js
//
// Prints self time per function (top 40) and per group (wasm, JS glue, runtime).
import { spawn, execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";
import { MACHINE_ID } from "./upstream.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (n) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : undefined; };
const SECRET = "bench-jwt-secret-with-at-least-32-characters";
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "4b1c6f7e-2f4c-4a8e-9d2b-1f0e3c5a7b9d", role: "authenticated", aud: "authenticated", iat: now, exp: now + 3600 })}`;
const TOKEN = `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
const path = arg("path") ?? `/functions/v1/get-machine-status?machineId=${MACHINE_ID}`;
const seconds = Number(arg("seconds") ?? 5);
const method = arg("method") ?? "GET"; // e.g. --method OPTIONS (the preflight path)
const body = arg("body"); // e.g. --method POST --path /functions/v1/start-machine --body '{"machineId":"…"}'

process.chdir(ROOT);
const up = spawn(process.execPath, [join(ROOT, "tests/bench/upstream.mjs"), "0"], { stdio: ["pipe", "pipe", "inherit"] });
const upPort = Number((await new Promise((r) => createInterface({ input: up.stdout }).once("line", r))).split(" ")[1]);
const upstream = `http://127.0.0.1:${upPort}`;
let worker;
const noLog = process.argv.includes("--nolog"); // console.log is slow with an inspector attached
if (arg("rust")) {
  const dir = relative(ROOT, arg("rust"));
  if (noLog) writeFileSync(join(dir, "entry-nolog.js"), 'console.log = () => {};\nexport { default } from "./entry.js";\n');
  worker = { modules: true, scriptPath: join(dir, noLog ? "entry-nolog.js" : "entry.js"), modulesRoot: dir, modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }],
    bindings: { POSTGREST_URL: `${upstream}/rest/v1`, SUPABASE_ANON_KEY: "anon", SUPABASE_SERVICE_ROLE_KEY: "svc", SUPABASE_JWT_SECRET: SECRET } };
} else {
  worker = { modules: true, script: (noLog ? "console.log = () => {};\n" : "") + readFileSync(arg("ts"), "utf8"), bindings: { SUPABASE_URL: upstream, SUPABASE_ANON_KEY: "anon", SUPABASE_JWT_SECRET: SECRET } };
}
const mf = new Miniflare({ host: "127.0.0.1", port: 0, inspectorPort: 0, workers: [{ name: "bench", compatibilityDate: "2026-07-01", ...worker }],
  handleRuntimeStdio(o, e) { o.resume(); e.resume(); } });
const url = (await mf.ready).toString().replace(/\/$/, "");
const inspector = await mf.getInspectorURL();
const targets = await (await fetch(new URL("/json/list", inspector.toString().replace("ws", "http")))).json();
const target = targets.find((t) => t.title?.includes("bench") || t.webSocketDebuggerUrl?.includes("bench")) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
let id = 0;
const pending = new Map();
ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); } };
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });

const lua = join(ROOT, ".local", "bench", `profile-${process.pid}.lua`);
writeFileSync(lua, `wrk.method = "${method}"\nwrk.headers["Authorization"] = "Bearer ${TOKEN}"\n` +
  (body ? `wrk.headers["Content-Type"] = "application/json"\nwrk.body = ${JSON.stringify(body)}\n` : ""));
const run = (s) => promisify(execFile)("wrk", ["-t1", "-c8", `-d${s}s`, "-s", lua, url + path]);
await run(2); // warm-up
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 50 });
await send("Profiler.start");
const { stdout } = await run(seconds);
const { result } = await send("Profiler.stop");
console.log(stdout.split("\n").filter((l) => /Requests\/sec|requests in/.test(l)).join("\n"));
const prof = result.profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) {
  const n = byId.get(prof.samples[i]);
  const f = n.callFrame;
  const key = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() : ""}`.trim();
  self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const group = (k) => /\.wasm/.test(k) ? "wasm (Rust)" : /^__wbg|^__wbindgen|index\.js$/.test(k) ? "wasm-bindgen glue (index.js)" : /entry\.js$/.test(k) ? "entry.js" : /^\((idle|program|garbage collector)\)/.test(k) ? k.split(" ")[0] : "runtime and builtins";
const groups = new Map();
for (const [k, v] of self) groups.set(group(k), (groups.get(group(k)) ?? 0) + v);
for (const [k, v] of [...groups.entries()].sort((a, b) => b[1] - a[1])) console.log(`${(v / 1000).toFixed(0).padStart(8)} ms ${(100 * v / total).toFixed(1).padStart(5)}%  [${k}]`);
const busy = [...self.entries()].filter(([k]) => !/^\(idle\)|^\(program\)|^\(garbage collector\)/.test(k)).reduce((a, [, v]) => a + v, 0);
console.log(`samples: ${prof.samples.length}, total ${(total / 1000).toFixed(0)} ms, busy (not idle/program/gc) ${(busy / 1000).toFixed(0)} ms`);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(arg("top") ?? 45))) {
  console.log(`${(v / 1000).toFixed(1).padStart(8)} ms ${(100 * v / total).toFixed(1).padStart(5)}%  ${k.slice(0, 140)}`);
}
if (arg("out")) writeFileSync(arg("out"), JSON.stringify(prof));
ws.close();
await mf.dispose();
up.kill();
process.exit(0);
