#!/usr/bin/env node
// The local stack: PostgreSQL + postrust (PostgREST) + the runner (simulate mode) +
// Miniflare running every built function, wired with the config of tests/stack/config.mjs.
//
//   node tests/stack/stack.mjs dev                 fixed ports, persistent database,
//                                                  logs on stdout, Ctrl-C stops all
//   node tests/stack/stack.mjs test [files...]     free ports, fresh database, runs the
//                                                  e2e suite in phases (suite.mjs), stops
//
// Both write a stack.env (KEY=VALUE, shell-sourceable): dev to .local/stack.env,
// test to its own run folder, exported to the tests as HANGAR_STACK_ENV.
// Functions must be built first (scripts/build-functions.sh).
//
// The parts: postgres.mjs, postrust.mjs, runner.mjs, functions.mjs (Miniflare),
// control.mjs (the control endpoint and the PostgREST counting/fault proxy), suite.mjs.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { LOCAL_DIR, ROOT, resolveConfig } from "./config.mjs";
import { startConsole } from "./console.mjs";
import { startControl, startPostgrestProxy } from "./control.mjs";
import { startFunctions } from "./functions.mjs";
import * as pg from "./postgres.mjs";
import { startPostrust } from "./postrust.mjs";
import { runners as makeRunners } from "./runner.mjs";
import { plan, readEnvFile, runSuite } from "./suite.mjs";
import { freePort, logger, reapStale } from "./util.mjs";

const mode = process.argv[2];
if (mode !== "dev" && mode !== "test") {
  console.error("usage: stack.mjs dev | test [test files, folders or globs...]");
  process.exit(2);
}
const DEV = mode === "dev";
const { say, since } = logger();

// ---- where things go -----------------------------------------------------------------
const runDir = DEV ? join(LOCAL_DIR, "dev") : join(LOCAL_DIR, `test-${process.pid}`);
const envFile = DEV ? join(LOCAL_DIR, "stack.env") : join(runDir, "stack.env");
mkdirSync(runDir, { recursive: true });

// dev: fixed defaults (overridable); test: whatever is free.
const port = async (name, fallback) => (DEV ? Number(process.env[name] || fallback) : await freePort());
// workerd runs JavaScript on one thread: the test stack runs the functions in several
// Miniflare instances (one per core), and the heaviest traffic (the fuzz) spreads over
// them (FUNCTIONS_URLS in stack.env). FUNCTIONS_URL is the first; the Workers' own
// FUNCTIONS_URL (the runner's callbacks) too.
const INSTANCES = DEV ? 1 : Math.max(1, Number(process.env.HANGAR_FUNCTIONS_INSTANCES) || availableParallelism());
// HANGAR_RUNNERS runners (default 1), on consecutive ports from RUNNER_PORT in dev.
const RUNNERS = Math.max(1, Math.min(16, Number(process.env.HANGAR_RUNNERS) || 1));
const ports = {
  functions: await port("FUNCTIONS_PORT", 8787),
  moreFunctions: await Promise.all(Array.from({ length: INSTANCES - 1 }, () => freePort())),
  postgrest: await port("POSTGREST_PORT", 54321),
  postgres: await port("PGPORT", 54322),
  runners: DEV
    ? Array.from({ length: RUNNERS }, (_, i) => Number(process.env.RUNNER_PORT || 8790) + i)
    : await Promise.all(Array.from({ length: RUNNERS }, () => freePort())),
  postgrestProxy: await port("POSTGREST_PROXY_PORT", 54320),
  control: await port("STACK_CONTROL_PORT", 8786),
  console: await port("CONSOLE_PORT", 3000),
};

const functionsUrl = `http://127.0.0.1:${ports.functions}`;
const postgrestOrigin = `http://127.0.0.1:${ports.postgrest}`;
const runnerUrls = ports.runners.map((p) => `http://127.0.0.1:${p}/`);
// In test mode the addresses are the stack's own: a FUNCTIONS_URL left in the
// environment by a sourced dev stack.env must not leak in.
const envForConfig = { ...process.env };
if (!DEV) for (const k of ["FUNCTIONS_URL", "SUPABASE_URL", "POSTGREST_URL", "RUNNER_URL"]) delete envForConfig[k];
const { vars, privateKeyFile, publicKeyFile } = resolveConfig({ functionsUrl, postgrestOrigin, runnerUrl: runnerUrls.join(","), consoleOrigin: `http://127.0.0.1:${ports.console}`, test: !DEV }, envForConfig);
// What the Workers use: the counting proxy in front of postrust (stack.env keeps the
// direct URL for tests that talk to PostgREST themselves).
const workerVars = { ...vars, POSTGREST_URL: vars.POSTGREST_URL.replace(postgrestOrigin, `http://127.0.0.1:${ports.postgrestProxy}`) };

// ---- the parts, and shutdown: whatever happens, nothing stays running ---------------------
// Miniflare installs its own SIGINT/SIGTERM handlers that kill workerd and call
// process.exit() at once, so the rest of the cleanup is synchronous and also runs
// from the 'exit' event: postrust and the runner get SIGTERM, pg_ctl stop runs to completion.
const common = { root: ROOT, runDir, dev: DEV, say, since, sinks: [] };
const postgres = pg.postgres({ ...common, localDir: LOCAL_DIR, port: ports.postgres });
const runner = makeRunners({ ...common, ports: ports.runners, secret: vars.RUNNER_SECRET });
let postrust, proxy, functions, testChild, consoleServer;
let moreFunctions = [];
let stopped = false;
function stopSync() {
  if (stopped) return;
  stopped = true;
  postrust?.stopSync();
  consoleServer?.close();
  runner.stopSync();
  try {
    postgres.stopSync();
  } catch (e) {
    say(`postgres stop: ${e.message}`);
  }
  for (const s of common.sinks) s.end();
  if (!DEV && !process.env.HANGAR_KEEP_STACK) {
    rmSync(runDir, { recursive: true, force: true });
    if (!postgres.paths.base.startsWith(runDir)) rmSync(postgres.paths.base, { recursive: true, force: true });
  }
}
async function stop() {
  await Promise.all([functions, ...moreFunctions].map((f) => f?.dispose()));
  stopSync();
}
process.on("exit", stopSync);
// Registered before Miniflare's, so these run first.
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    testChild?.kill(sig);
    stopSync();
    stop().finally(() => process.exit(code));
  });
}

async function startStack() {
  postgres.start();
  postrust = await startPostrust({ ...common, port: ports.postgrest, dbPort: ports.postgres, jwtSecret: vars.SUPABASE_JWT_SECRET });
  postrust.died.catch((e) => {
    console.error(`[stack] ${e.message}`);
    stop().finally(() => process.exit(1));
  });
  proxy = await startPostgrestProxy({ port: ports.postgrestProxy, upstream: postgrestOrigin });
  await runner.start();
  say(`${RUNNERS} runner(s) on ${ports.runners.join(", ")} (simulate) at ${since()}`);
  [functions, ...moreFunctions] = await Promise.all([ports.functions, ...ports.moreFunctions].map((p) =>
    startFunctions({ ...common, port: p, bindings: workerVars, limits: vars })));
  const controlUrl = await startControl({ port: ports.control, runner, functions: () => functions, proxy });
  consoleServer = await startConsole({ root: ROOT, port: ports.console, functionsUrl, anonKey: vars.SUPABASE_ANON_KEY, privateKeyFile, appId: vars.PRIVY_APP_ID });
  writeStackEnv(controlUrl);
  say(`up in ${since()}`);
}

// ---- stack.env ----------------------------------------------------------------------------
function writeStackEnv(controlUrl) {
  const { paths } = postgres;
  const entries = {
    FUNCTIONS_URL: functionsUrl,
    FUNCTIONS_URLS: [ports.functions, ...ports.moreFunctions].map((p) => `http://127.0.0.1:${p}`).join(","),
    POSTGREST_URL: vars.POSTGREST_URL,
    // A Supabase-shaped origin for supabase-js (`/rest/v1` → postrust's `/api`).
    SUPABASE_REST_ORIGIN: `http://127.0.0.1:${ports.postgrestProxy}`,
    DATABASE_URL: postgres.url,
    PGDATA: paths.pgdata,
    PGHOST: paths.sockDir,
    PGPORT: String(ports.postgres),
    PGUSER: "postgres",
    PGDATABASE: "postgres",
    PG_BIN: pg.pgBin(),
    PG_LOG: paths.log,
    PRIVY_PRIVATE_KEY_FILE: privateKeyFile,
    PRIVY_VERIFICATION_KEY_FILE: publicKeyFile,
    FUNCTIONS_LOG: DEV ? "" : functions.log,
    POSTRUST_LOG: DEV ? "" : postrust.log,
    HANGAR_FUNCTIONS: functions.names.join(","),
    STACK_CONTROL_URL: controlUrl,
    CONSOLE_URL: consoleServer.url,
    RUNNER_PORT: String(ports.runners[0]),
    // Every runner of the stack (RUNNER_PORT, RUNNER_WORKDIR and RUNNER_LOG are the first's).
    RUNNER_URLS: runnerUrls.join(","),
    RUNNER_WORKDIR: runner.workdir,
    RUNNER_LOG: DEV ? "" : runner.log,
    RUNNER_BIN: runner.bin,
    HANGAR_STACK_MODE: mode,
    HANGAR_STACK_PID: String(process.pid),
    // The signup credits are the database's setting (private.settings), read back for tests.
    SIGNUP_CREDITS_CENTS: pg.psql(paths, ports.postgres, ["-At", "-c", "select value from private.settings where name = 'signup_credits_cents'"]).stdout.trim(),
  };
  // Every single-line config value too (the PEM key has its own file).
  for (const [k, v] of Object.entries(vars)) if (!(k in entries) && !v.includes("\n")) entries[k] = v;
  const quote = (v) => (/^[\w.,:/@%+=-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  const body = Object.entries(entries).map(([k, v]) => `${k}=${quote(v)}`).join("\n");
  writeFileSync(envFile, `# Written by tests/stack/stack.mjs (${mode}); source with: set -a; . ${envFile}; set +a\n${body}\n`);
}

function banner() {
  const rel = relative(process.cwd(), envFile);
  console.log(`
Hangar local stack is up
  console    ${readEnvFile(envFile).CONSOLE_URL}   (Sign in: a test user)
  functions  ${functionsUrl}/functions/v1/<name>   (${functions.names.join(", ")})
  PostgREST  ${vars.POSTGREST_URL}
  runners    ${runnerUrls.join(" ")}   (simulate mode; HANGAR_RUNNERS=N for more)
  Postgres   ${postgres.url}
  env        ${rel}   (set -a; . ${rel}; set +a)
  anon key   ${vars.SUPABASE_ANON_KEY}
  token      make token   (mints a Privy token and calls exchange)
  cron       every minute by itself (now: curl -X POST ${readEnvFile(envFile).STACK_CONTROL_URL}/scheduled/scheduler)
Ctrl-C stops everything.
`);
}

// ---- main ---------------------------------------------------------------------------------
try {
  reapStale({ localDir: LOCAL_DIR, dev: DEV, envFile, pg });
  if (DEV) {
    await startStack();
    banner();
    // The scheduler's cron (`* * * * *` in wrangler.toml) fires by itself, as on
    // Cloudflare: a stopped runner's jobs are re-queued and delivered without a manual call.
    setInterval(() => {
      functions.scheduled("scheduler").catch((e) => say(`scheduler cron: ${e.message}`));
    }, 60_000);
    await new Promise(() => {});
  } else {
    process.exitCode = await runSuite(plan(ROOT, process.argv.slice(3)), {
      root: ROOT,
      runDir,
      say,
      since,
      startStack: async () => {
        await startStack();
        return { ...readEnvFile(envFile), HANGAR_STACK_ENV: envFile };
      },
      // Each phase starts from a stack in order: the runner up, no fault left set.
      beforePhase: async (p) => {
        await runner.reset();
        proxy.state.fault = null;
        if (p.runnerDown) await runner.stop();
      },
      afterPhases: () => runner.reset(),
      logs: () => [["functions", functions?.log], ["postrust", postrust?.log]],
      onChild: (c) => (testChild = c),
    });
  }
} catch (e) {
  console.error(`[stack] ${e.stack || e.message}`);
  process.exitCode = 1;
} finally {
  if (!DEV || process.exitCode) await stop();
}
