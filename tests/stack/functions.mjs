// Miniflare running every built function (functions/*/build), one worker each, with the
// routes, crons and rate-limiting bindings of wrangler.toml.

import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { rateLimitBindings, rateLimits } from "./config.mjs";
import { childPids, logSink, pipeLines } from "./util.mjs";

/**
 * Starts the workers on `port` with `bindings` (every variable; `limits` resolves the
 * rate limits). Returns { names, log, scheduled(name, cron), dispose() }.
 */
export async function startFunctions({ root, runDir, dev, port, bindings, limits, say, since, sinks }) {
  const wrangler = parseToml(readFileSync(join(root, "wrangler.toml"), "utf8"));
  const envs = wrangler.env ?? {};
  const names = Object.keys(envs).filter((n) => existsSync(join(root, "functions", n, "Cargo.toml")));
  const missing = names.filter((n) => !existsSync(join(root, "functions", n, "build", "index.js")));
  if (missing.length) throw new Error(`not built: ${missing.join(", ")} (run scripts/build-functions.sh)`);
  const unlisted = readdirSync(join(root, "functions")).filter((n) => existsSync(join(root, "functions", n, "Cargo.toml")) && !envs[n]);
  if (unlisted.length) say(`warning: not in wrangler.toml (run \`make wrangler\`): ${unlisted.join(", ")}`);

  const crons = Object.fromEntries(names.map((n) => [n, envs[n].triggers?.crons ?? []]));
  // Paths relative to the working directory and without "..": workerd refuses
  // module paths that climb out of its starting directory.
  process.chdir(root);
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
      bindings: { ...bindings, RATE_LIMIT_BINDINGS: rateLimitBindings(n, limits) },
      // The rate-limiting bindings wrangler.toml declares, with this stack's limits.
      ratelimits: Object.fromEntries(
        rateLimits(n, limits).map((rl) => [rl.name, { namespace_id: rl.namespaceId, simple: { limit: rl.limit, period: 60 } }]),
      ),
    })),
  ];
  const log = join(runDir, "functions.log");
  const sink = logSink(log, { dev });
  sinks.push(sink);
  const options = {
    host: "127.0.0.1",
    port,
    workers,
    // workerd's stdout/stderr carry the workers' console.log lines.
    handleRuntimeStdio(stdout, stderr) {
      pipeLines([stdout, stderr], sink);
    },
  };
  let mf = new Miniflare(options);
  await mf.ready;
  // Recorded so that a later run can reap it if this one is SIGKILLed.
  const recordPids = () => writeFileSync(join(runDir, "workerd.pid"), childPids("workerd").join(" "));
  recordPids();
  if (dev) reloadOnRebuild(root, names, () => mf, options, recordPids, say);
  say(`functions on ${port} at ${since()}: ${names.join(", ")}`);
  return {
    names,
    log,
    /** Runs a worker's scheduled handler once; its outcome. */
    async scheduled(name, cron) {
      const worker = await mf.getWorker(`hangar-${name}`);
      return worker.scheduled({ cron: cron ?? crons[name]?.[0] ?? "* * * * *", scheduledTime: new Date() });
    },
    async dispose() {
      const m = mf;
      mf = undefined;
      if (m) await m.dispose().catch((e) => say(`miniflare dispose: ${e.message}`));
    },
  };
}

// dev: `make build` in another terminal rewrites functions/<name>/build; reload
// the workers when a build stamp changes (polling: the folders are replaced).
function reloadOnRebuild(root, names, current, options, recordPids, say) {
  const stampOf = (n) => {
    try {
      return statSync(join(root, "functions", n, "build", ".hangar-stamp")).mtimeMs;
    } catch {
      return 0;
    }
  };
  let seen = names.map(stampOf).join();
  let busy = false;
  setInterval(async () => {
    const now = names.map(stampOf).join();
    const mf = current();
    if (now === seen || busy || !mf) return;
    if (names.some((n) => !existsSync(join(root, "functions", n, "build", "index.js")))) return; // mid-copy
    busy = true;
    seen = now;
    try {
      await mf.setOptions(options);
      recordPids();
      say("functions rebuilt: reloaded");
    } catch (e) {
      say(`reload failed: ${e.message}`);
    } finally {
      busy = false;
    }
  }, 1000).unref();
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
