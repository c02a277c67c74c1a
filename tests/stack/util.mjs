// Small helpers the stack's modules share: logging, ports, child processes.

import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `[stack] message` lines, and the time since the stack started. */
export function logger(t0 = Date.now()) {
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  return { t0, since, say: (msg) => console.log(`[stack] ${msg}`) };
}

/**
 * Where a child's output goes: stdout in dev (the JSON request logs are the point) or with
 * HANGAR_STACK_VERBOSE=1; a file in test mode, so that the test report stays readable.
 */
export function logSink(file, { dev, prefix = "" }) {
  if (dev || process.env.HANGAR_STACK_VERBOSE) return { write: (l) => process.stdout.write(prefix + l), end() {} };
  const s = createWriteStream(file, { flags: "a" });
  return { write: (l) => s.write(l), end: () => s.end() };
}

/** Every line of these streams into the sink. */
export function pipeLines(streams, sink) {
  for (const s of streams) createInterface({ input: s }).on("line", (l) => sink.write(l + "\n"));
}

export async function freePort() {
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

/** Resolves when the child has exited (at once if it already has). */
export const onExit = (child) =>
  new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));

export const running = (child) => child && child.exitCode === null && child.signalCode === null;

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readProc(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

/** Direct children of this process whose command name is `name` (from /proc). */
export function childPids(name) {
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

/** Polls `probe` (true = ready) every `intervalMs`, `tries` times; throws `what` after. */
export async function until(probe, { tries, intervalMs, what }) {
  for (let i = 0; i < tries; i++) {
    try {
      if (await probe()) return;
    } catch {}
    await sleep(intervalMs);
  }
  throw new Error(what);
}

/**
 * Leftovers of runs that were killed outright (SIGKILL): their Postgres, postrust, runner,
 * workerd, tests and, for test runs, their folder. `pg`: postgres.mjs. Throws if a dev
 * stack is already running and this is one too.
 */
export function reapStale({ localDir, dev, envFile, pg }) {
  if (!existsSync(localDir)) return;
  if (dev && existsSync(envFile)) {
    const pid = Number(/^HANGAR_STACK_PID=(\d+)$/m.exec(readFileSync(envFile, "utf8"))?.[1]);
    if (pid && pid !== process.pid && alive(pid) && readProc(pid).includes("stack.mjs")) {
      throw new Error(`a dev stack is already running (pid ${pid}); stop it first`);
    }
  }
  for (const d of readdirSync(localDir)) {
    const m = /^test-(\d+)$/.exec(d);
    const dir = join(localDir, d);
    if (d === "dev" ? !dev : !m || alive(Number(m[1]))) continue;
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
