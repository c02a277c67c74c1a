// The runner in simulate mode, as its own process, so that a test can stop it (an outage)
// and start it again through the control endpoint; its journal lives in RUNNER_WORKDIR
// across restarts.
//
// Outages are counted: each stop() is an outage someone wants, and the runner comes back
// once every one of them has ended (start() as often), so that test files running at the
// same time can each want it down (tests/e2e/machines) without one bringing it back under
// another. reset() ends them all (between phases of the suite).

import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { logSink, onExit, pipeLines, running, sleep } from "./util.mjs";

export function runner({ root, runDir, dev, port, secret, sinks }) {
  const bin = process.env.HANGAR_RUNNER_BIN || join(root, "target", "debug", "hangar-runner");
  const workdir = join(runDir, "runner");
  const log = join(runDir, "runner.log");
  const url = `http://127.0.0.1:${port}/`;
  let child;
  let sink;
  let outages = 0;
  // One change at a time: a start racing a stop would leave either state.
  let queue = Promise.resolve();
  const serial = (f) => (queue = queue.then(f, f));

  async function up() {
    if (running(child)) return;
    if (!existsSync(bin)) throw new Error(`${bin} is not built (cargo build -p hangar-runner)`);
    if (!sink) sinks.push((sink = logSink(log, { dev, prefix: "[runner] " })));
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUNNER_SECRET: secret,
      RUNNER_LISTEN: `127.0.0.1:${port}`,
      RUNNER_WORKDIR: workdir,
      RUNNER_SIMULATE: "true",
      RUNNER_SIM_DELAY_MS: process.env.RUNNER_SIM_DELAY_MS ?? (dev ? "500" : "50"),
      RUNNER_CONCURRENCY: process.env.RUNNER_CONCURRENCY ?? "8",
      // Each running machine's simulated agent posts to record-metrics (runner/src/agent.rs)
      // every minute in dev, as the real agent does. Off on the test stack: with an agent per
      // running machine, record-metrics was 57% of a full suite's requests (90,496 of
      // 158,023 at 1 s) and tenants' snapshots saw samples land; the agents' own test runs
      // a runner of its own (tests/e2e/runner/simulated-metrics.test.mjs).
      SIMULATE_METRICS_INTERVAL: process.env.SIMULATE_METRICS_INTERVAL ?? (dev ? "60" : "0"),
    };
    const c = (child = spawn(bin, [], { env, stdio: ["ignore", "pipe", "pipe"] }));
    if (c.pid) writeFileSync(join(runDir, "runner.pid"), String(c.pid));
    pipeLines([c.stdout, c.stderr], sink);
    for (let i = 0; i < 200; i++) {
      if (c.exitCode !== null) throw new Error(`runner exited (${c.exitCode}); see ${log}`);
      try {
        if ((await fetch(`${url}health`)).ok) return;
      } catch {}
      await sleep(50);
    }
    throw new Error("runner did not become ready in 10s");
  }

  async function down() {
    const c = child;
    if (!running(c)) return;
    c.kill("SIGTERM");
    await onExit(c);
  }

  return {
    bin,
    workdir,
    log,
    url,
    port,
    get outages() {
      return outages;
    },
    /** Starts it (no outage counted). */
    start: () => serial(up),
    /** One more outage: stopped until it ends. */
    stop: () =>
      serial(async () => {
        outages += 1;
        await down();
      }),
    /** One outage ends; the runner is back once none is left. */
    end: () =>
      serial(async () => {
        outages = Math.max(0, outages - 1);
        if (outages === 0) await up();
      }),
    /** Every outage ends; the runner runs. */
    reset: () =>
      serial(async () => {
        outages = 0;
        await up();
      }),
    stopSync() {
      if (running(child)) child.kill("SIGTERM");
    },
  };
}
