// The stack's runners (simulate mode), HANGAR_RUNNERS of them (default 1), each its own
// process on its own port, so that a test can stop them (an outage) and start them again
// through the control endpoint. Any runner may take any job (the claim in the database
// keeps a job from running twice), so the Workers get them all in RUNNER_URL.
//
// Outages are counted: each stop() is an outage someone wants, and the runners come back
// once every one of them has ended (start() as often), so that test files running at the
// same time can each want them down (tests/e2e/machines) without one bringing them back
// under another. reset() ends them all (between phases of the suite). An outage stops
// every runner.

import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { logSink, onExit, pipeLines, running, sleep } from "./util.mjs";

/** One runner process: `i` (0-based) names its folder and log (runner, runner-2, ...). */
function runnerProcess({ root, runDir, dev, port, secret, sinks, i, onPids }) {
  const bin = process.env.HANGAR_RUNNER_BIN || join(root, "target", "debug", "hangar-runner");
  const name = i === 0 ? "runner" : `runner-${i + 1}`;
  const workdir = join(runDir, name);
  const log = join(runDir, `${name}.log`);
  const url = `http://127.0.0.1:${port}/`;
  let child;
  let sink;

  async function up() {
    if (running(child)) return;
    if (!existsSync(bin)) throw new Error(`${bin} is not built (cargo build -p hangar-runner)`);
    if (!sink) sinks.push((sink = logSink(log, { dev, prefix: `[${name}] ` })));
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUNNER_SECRET: secret,
      RUNNER_LISTEN: `127.0.0.1:${port}`,
      RUNNER_WORKDIR: workdir,
      RUNNER_MODE: "simulate",
      RUNNER_ID: `${dev ? "dev" : "test"}-${name}`,
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
    onPids();
    pipeLines([c.stdout, c.stderr], sink);
    for (let n = 0; n < 200; n++) {
      if (c.exitCode !== null) throw new Error(`${name} exited (${c.exitCode}); see ${log}`);
      try {
        if ((await fetch(`${url}health`)).ok) return;
      } catch {}
      await sleep(50);
    }
    throw new Error(`${name} did not become ready in 10s`);
  }

  async function down() {
    const c = child;
    if (!running(c)) return;
    c.kill("SIGTERM");
    await onExit(c);
  }

  return { bin, workdir, log, url, port, up, down, pid: () => (running(child) ? child.pid : null), stopSync() { if (running(child)) child.kill("SIGTERM"); } };
}

export function runners({ root, runDir, dev, ports, secret, sinks }) {
  const pidFile = join(runDir, "runner.pid");
  const list = [];
  const onPids = () => writeFileSync(pidFile, list.map((r) => r.pid()).filter(Boolean).join(" "));
  ports.forEach((port, i) => list.push(runnerProcess({ root, runDir, dev, port, secret, sinks, i, onPids })));
  let outages = 0;
  // One change at a time: a start racing a stop would leave either state.
  let queue = Promise.resolve();
  const serial = (f) => (queue = queue.then(f, f));
  const up = () => Promise.all(list.map((r) => r.up()));
  const down = () => Promise.all(list.map((r) => r.down()));
  const [first] = list;

  return {
    list,
    bin: first.bin,
    workdir: first.workdir,
    log: first.log,
    url: first.url,
    port: first.port,
    urls: list.map((r) => r.url),
    get outages() {
      return outages;
    },
    /** Starts them (no outage counted). */
    start: () => serial(up),
    /** One more outage: stopped until it ends. */
    stop: () =>
      serial(async () => {
        outages += 1;
        await down();
      }),
    /** One outage ends; the runners are back once none is left. */
    end: () =>
      serial(async () => {
        outages = Math.max(0, outages - 1);
        if (outages === 0) await up();
      }),
    /** Every outage ends; the runners run. */
    reset: () =>
      serial(async () => {
        outages = 0;
        await up();
      }),
    stopSync() {
      for (const r of list) r.stopSync();
    },
  };
}
