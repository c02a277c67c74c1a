#!/usr/bin/env node
// `make deploy`: every function to a stage, with a wrangler configuration of the stage's own.
//
//   node scripts/deploy.mjs --stage production|staging [--env-file FILE] [--dry-run]
//                           [--profile release|e2e] [--secrets] [function...]
//
// 1. The stage's values: config/variables.mjs's placeholders, the stage's own
//    (STAGES there), then the env file's (default deploy/<stage>.env if it exists;
//    deploy/example.env lists every name). HANGAR_ROUTE_HOST and HANGAR_ZONE set the
//    routes' host and zone.
// 2. .local/deploy/wrangler.<stage>.toml (scripts/gen-wrangler.mjs renderWrangler).
// 3. One build of every function (scripts/build-functions.sh; release unless --profile).
// 4. `wrangler deploy --config … --env <function>` for each (with --dry-run: offline, the
//    bundles in .local/deploy/<stage>/<function>, nothing uploaded).
// 5. The web console (scripts/deploy-console.mjs) when no function is named.
// --secrets instead puts the env file's secrets into every function of the stage
// (`wrangler secret bulk`; with --dry-run it only checks that none is missing).
// --print-env prints an env file to start from: every name, with the stage's values.
//
// A real deploy refuses placeholder values (hangar.example, YOUR-…): each must come from
// the env file. `make test` runs the dry run of both stages with the e2e build (the
// configuration and the bundles are what it checks; `make bench` measures release sizes).
import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { deployConfig, ROOT, STAGES, VARIABLES } from "../config/variables.mjs";
import { deployConsole } from "./deploy-console.mjs";
import { functionNames, renderWrangler } from "./gen-wrangler.mjs";

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const fail = (message) => {
  console.error(`[deploy] ${message}`);
  process.exit(1);
};
const say = (message) => console.log(`[deploy] ${message}`);

const stageName = option("stage") ?? "production";
const stage = STAGES[stageName];
if (!stage) fail(`unknown stage ${JSON.stringify(stageName)}: one of ${Object.keys(STAGES).join(", ")}`);
const dryRun = flag("dry-run");
const profile = option("profile") ?? "release";
const valued = new Set(["stage", "env-file", "profile"]);
const names = args.filter((a, i) => !a.startsWith("--") && !valued.has(args[i - 1]?.replace(/^--/, "")));
const all = functionNames();
for (const n of names) if (!all.includes(n)) fail(`no such function: ${n}`);
const targets = names.length ? names : all;

if (flag("print-env")) {
  const { vars: defaults } = deployConfig(stage.vars);
  const lines = [`# deploy/${stageName}.env: the values of the stage "${stageName}" (never commit it).`,
    "# Placeholders (hangar.example, YOUR-…) must be replaced before a real deploy.",
    `HANGAR_ROUTE_HOST=${stage.host}`, `HANGAR_ZONE=${stage.zone}`];
  for (const v of VARIABLES) lines.push(v.secret ? `${v.name}=` : `${v.name}=${defaults[v.name]}`);
  console.log(lines.join("\n"));
  process.exit(0);
}

// ---- 1. values -----------------------------------------------------------------------------
const envFile = option("env-file") ?? join(ROOT, "deploy", `${stageName}.env`);
const fromFile = existsSync(envFile) ? parseEnvFile(readFileSync(envFile, "utf8"), envFile) : {};
if (option("env-file") && !existsSync(envFile)) fail(`no such env file: ${envFile}`);
const known = new Set([...VARIABLES.map((v) => v.name), "HANGAR_ROUTE_HOST", "HANGAR_ZONE"]);
const unknown = Object.keys(fromFile).filter((k) => !known.has(k));
if (unknown.length) fail(`${relative(ROOT, envFile)}: unknown names (a typo?): ${unknown.join(", ")}`);
const secretNames = VARIABLES.filter((v) => v.secret).map((v) => v.name);
const overrides = { ...stage.vars };
for (const [k, v] of Object.entries(fromFile)) if (!secretNames.includes(k)) overrides[k] = v;
const host = fromFile.HANGAR_ROUTE_HOST ?? stage.host;
const zone = fromFile.HANGAR_ZONE ?? stage.zone;

const { vars } = deployConfig(overrides);
// A stage is real, dry run or not: the test-only panic trigger is never part of one.
if (!["", "0"].includes(String(vars.HANGAR_TEST_PANIC ?? "").trim())) {
  fail(`HANGAR_TEST_PANIC=${vars.HANGAR_TEST_PANIC} (from ${relative(ROOT, envFile)}) is for the local test stack only: ` +
    `a ${stageName} Worker must never panic on request. Remove it or set it to 0.`);
}

const placeholders = Object.entries({ ...vars, HANGAR_ROUTE_HOST: host, HANGAR_ZONE: zone })
  .filter(([, v]) => /hangar\.example|YOUR-/.test(v)).map(([k]) => k);
if (placeholders.length && !dryRun) {
  fail(`placeholder values for ${stageName}: ${placeholders.join(", ")}; set them in ${relative(ROOT, envFile)} (see deploy/example.env)`);
}

// ---- 2. the stage's configuration ----------------------------------------------------------
const outDir = join(ROOT, ".local", "deploy");
mkdirSync(outDir, { recursive: true });
const configFile = join(outDir, `wrangler.${stageName}.toml`);
const { text } = renderWrangler({
  host, zone, workerPrefix: stage.workerPrefix, namespaceBase: stage.namespaceBase, overrides, build: false,
  root: `${relative(outDir, ROOT)}/`,
  header: [`GENERATED by scripts/deploy.mjs for the stage "${stageName}": do not edit.`],
});
writeFileSync(configFile, text);
say(`${stageName}: ${relative(ROOT, configFile)} (${targets.length} function(s), routes ${host}/functions/v1/*)`);

const wranglerBin = join(ROOT, "node_modules", ".bin", "wrangler");
const wranglerOptions = {
  cwd: ROOT,
  // Offline and quiet: no telemetry, no update check.
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true" },
};
const wrangler = (wargs) => spawnSync(wranglerBin, [...wargs, "--config", configFile], { ...wranglerOptions, encoding: "utf8" });
/** The same, without waiting: resolves to { status, stdout, stderr }. */
const wranglerAsync = (wargs) => new Promise((resolve) => {
  const child = spawn(wranglerBin, [...wargs, "--config", configFile], wranglerOptions);
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => { stdout += d; });
  child.stderr.on("data", (d) => { stderr += d; });
  child.on("error", (e) => resolve({ status: 1, stdout, stderr: `${stderr}${e.message}` }));
  child.on("close", (status) => resolve({ status, stdout, stderr }));
});

if (flag("secrets")) {
  putSecrets();
  process.exit(0);
}

// ---- 3. build --------------------------------------------------------------------------------
const built = spawnSync("bash", ["scripts/build-functions.sh", profile, ...targets], { cwd: ROOT, stdio: "inherit" });
if (built.status !== 0) fail(`build (${profile}) failed`);

// ---- 4. deploy -------------------------------------------------------------------------------
const bundles = join(outDir, stageName);
if (dryRun) rmSync(bundles, { recursive: true, force: true });
// A dry run is offline: one wrangler per core at a time (each is mostly its own start-up,
// ~1 s of CPU; one after the other they were a fifth of a warm `make test`). A real deploy
// goes one function at a time.
const results = new Array(targets.length);
let next = 0;
const worker = async () => {
  while (next < targets.length) {
    const i = next++;
    const fn = targets[i];
    results[i] = await wranglerAsync(["deploy", "--env", fn, ...(dryRun ? ["--dry-run", "--outdir", join(bundles, fn)] : [])]);
    if (results[i].status !== 0 && !dryRun) break;
  }
};
await Promise.all(Array.from({ length: dryRun ? Math.max(1, availableParallelism()) : 1 }, worker));
const rows = [];
targets.forEach((fn, i) => {
  const r = results[i];
  if (!r) fail(`wrangler deploy did not run for ${fn} (an earlier one failed)`);
  const log = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) {
    console.error(log);
    fail(`wrangler ${dryRun ? "dry run" : "deploy"} failed for ${fn}`);
  }
  const size = log.match(/Total Upload: ([^\n]*)/)?.[1]?.trim();
  if (dryRun && !size) {
    console.error(log);
    fail(`no 'Total Upload' line for ${fn}`);
  }
  rows.push(`${`${stage.workerPrefix}${fn}`.padEnd(36)} ${size ?? "deployed"}`);
});
// 5. The web console, when every function is deployed (scripts/deploy-console.mjs).
if (!names.length) rows.push(deployConsole({ stageName, stage, vars, anonKey: fromFile.SUPABASE_ANON_KEY, dryRun, outDir, wranglerBin, env: wranglerOptions.env, fail }));
say(`${dryRun ? "dry run (nothing uploaded)" : "deployed"}: ${stageName}, ${profile} build`);
console.log(rows.join("\n"));

// ---- secrets ---------------------------------------------------------------------------------
function putSecrets() {
  // An `optional` secret (SECRETS_KEY_PREVIOUS outside a rotation) may be absent: not put.
  const optional = new Set(VARIABLES.filter((v) => v.optional).map((v) => v.name));
  const missing = secretNames.filter((k) => !fromFile[k] && !optional.has(k));
  if (missing.length) fail(`${relative(ROOT, envFile)} lacks secrets: ${missing.join(", ")}`);
  if (dryRun) {
    say(`secrets: all ${secretNames.length} present in ${relative(ROOT, envFile)}; would put them into ${targets.length} function(s)`);
    return;
  }
  const file = join(outDir, `secrets.${stageName}.json`);
  try {
    writeFileSync(file, JSON.stringify(Object.fromEntries(secretNames.filter((k) => fromFile[k]).map((k) => [k, fromFile[k]]))), { mode: 0o600 });
    for (const fn of targets) {
      const r = wrangler(["secret", "bulk", file, "--env", fn]);
      // wrangler's output names the secrets, never their values; still, print only the status.
      if (r.status !== 0) fail(`wrangler secret bulk failed for ${fn} (exit ${r.status})`);
      say(`secrets put: ${stage.workerPrefix}${fn}`);
    }
  } finally {
    rmSync(file, { force: true });
  }
}

// KEY=VALUE lines, `#` comments and blank lines. A value may be quoted ('…' as is; "…"
// with \n for a newline, so a PEM key fits on one line).
function parseEnvFile(text, file) {
  const out = {};
  text.split("\n").forEach((line, i) => {
    if (!line.trim() || line.trim().startsWith("#")) return;
    const m = line.match(/^\s*([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (!m) fail(`${relative(ROOT, file)}:${i + 1}: not KEY=VALUE`);
    let v = m[2].trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\n/g, "\n");
    else if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1);
    out[m[1]] = v;
  });
  return out;
}
