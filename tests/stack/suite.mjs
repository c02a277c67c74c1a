// The e2e suite in phases (tests/e2e/README.md). Each phase is one `node --test` run over
// some folders of tests/e2e; files of a phase run at the same time, up to its concurrency.
//
//   static      no stack at all (run before it starts): checks of files in the repository
//   machines    the API without a runner: the stack's runner is down the whole phase, so
//               jobs wait in the outbox as these tests assume
//   concurrent  every other area folder, the runner up
//   browser     the web console in Chromium (console/), two files at a time
//   other       files outside tests/e2e given on the command line (the benchmark), alone
//   disruptive  files that stop shared services or change global state, one at a time
//   final       the secrets scan, over everything the phases before recorded
//
// Files given on the command line (files, folders or globs) go to the phase of their folder.

import { spawn } from "node:child_process";
import { existsSync, globSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative, resolve } from "node:path";

// Files at the same time in a concurrent phase: most of a test's time is spent waiting
// (on the Workers, the runner's simulated delays, polling), so a bit more than the cores.
const CONCURRENCY = Number(process.env.HANGAR_TEST_CONCURRENCY) || availableParallelism() + 2;

export const PHASES = [
  { name: "static", dirs: ["static"], stack: false },
  { name: "machines", dirs: ["machines"], runnerDown: true },
  { name: "concurrent", dirs: "*" },
  // Chromium (the web console): after the API's files, two at a time, so that the browsers'
  // CPU does not starve the Workers under the fuzz on a 2-core machine.
  { name: "browser", dirs: ["console"], concurrency: 2 },
  { name: "other", dirs: [], concurrency: 1 },
  { name: "disruptive", dirs: ["disruptive"], concurrency: 1 },
  { name: "final", dirs: ["final"], concurrency: 1 },
];

const isTest = (f) => /\.test\.m?js$/.test(f);

/** Test files under `dir` (relative to root), sorted. */
function testsUnder(root, dir) {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir), { recursive: true })
    .filter((f) => isTest(f) && !f.split("/").includes("node_modules") && !f.split("/").includes("lib"))
    .sort()
    .map((f) => join(dir, f));
}

/** The files the arguments name (files, folders, globs), relative to root. */
function expand(root, args) {
  const out = [];
  for (const a of args) {
    const abs = resolve(a);
    if (existsSync(abs) && statSync(abs).isDirectory()) out.push(...testsUnder(root, relative(root, abs)));
    else if (existsSync(abs)) out.push(relative(root, abs));
    else if (/[*?[{]/.test(a)) out.push(...globSync(a).filter(isTest).sort().map((f) => relative(root, resolve(f))));
    else throw new Error(`no such test file: ${a}`);
  }
  return [...new Set(out)];
}

// How long each file took last time (.local/test-times.json): a phase starts its slowest
// files first, so that a long one does not start last and run alone at the end.
const timesFile = (root) => join(root, ".local", "test-times.json");
const lastTimes = (root) => {
  try {
    return JSON.parse(readFileSync(timesFile(root), "utf8"));
  } catch {
    return {};
  }
};

/** Records the file times of a finished phase (its summary file). */
export function recordTimes(root, summaryFile) {
  if (!existsSync(summaryFile)) return;
  const times = lastTimes(root);
  for (const line of readFileSync(summaryFile, "utf8").split("\n")) {
    const m = /^\s*([\d.]+)s\s+\d+ tests\s+(\S+)$/.exec(line);
    if (m && Number(m[1]) > 0) times[m[2]] = Number(m[1]); // 0: cut short, not a time
  }
  writeFileSync(timesFile(root), JSON.stringify(times, null, 1) + "\n");
}

/** The phases with their files: [{ ...phase, files }], empty phases left out. */
export function plan(root, args) {
  const e2e = join("tests", "e2e");
  const files = args.length ? expand(root, args) : testsUnder(root, e2e);
  if (!files.length) throw new Error("no tests/e2e/**/*.test.mjs files");
  const named = new Set(PHASES.flatMap((p) => (Array.isArray(p.dirs) ? p.dirs : [])));
  const phaseOf = (f) => {
    const rel = relative(e2e, f);
    if (rel.startsWith("..")) return "other";
    const dir = rel.includes("/") ? rel.split("/")[0] : "";
    const p = PHASES.find((x) => Array.isArray(x.dirs) && x.dirs.includes(dir));
    return p?.name ?? (named.has(dir) ? "other" : "concurrent");
  };
  const times = lastTimes(root);
  const slowestFirst = (a, b) => (times[b] ?? 0) - (times[a] ?? 0);
  return PHASES.map((p) => ({ ...p, concurrency: p.concurrency ?? CONCURRENCY }))
    .map((p) => ({ ...p, files: files.filter((f) => phaseOf(f) === p.name).sort(p.concurrency > 1 ? slowestFirst : () => 0) }))
    .filter((p) => p.files.length);
}

/** The KEY=VALUE lines of a stack.env. */
export function readEnvFile(file) {
  const env = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/s, "$1");
  }
  return env;
}

/**
 * Runs one phase: `node --test` over its files with `env`; resolves to
 * { code, counts: { pass, fail, cancelled, skipped, todo, tests }, seconds }.
 * The report goes to stdout as usual (spec on a terminal, else TAP); summary.mjs writes the
 * time of each file and the counts to `summaryFile`.
 */
export async function runPhase(phase, { root, env, summaryFile, say, onChild }) {
  const t0 = Date.now();
  const reporter = process.stdout.isTTY ? "spec" : "tap";
  const args = [
    "--test",
    `--test-concurrency=${phase.concurrency}`,
    `--test-reporter=${reporter}`, "--test-reporter-destination=stdout",
    `--test-reporter=${join(import.meta.dirname, "summary.mjs")}`, `--test-reporter-destination=${summaryFile}`,
    ...phase.files,
  ];
  say(`phase ${phase.name}: ${phase.files.length} file(s), ${phase.concurrency} at a time${phase.runnerDown ? ", runner down" : ""}`);
  const child = spawn(process.execPath, args, { stdio: "inherit", env, cwd: root });
  onChild?.(child);
  const code = await new Promise((r) => child.once("exit", (c, s) => r(c ?? (s ? 1 : 0))));
  const counts = summaryCounts(summaryFile);
  recordTimes(root, summaryFile);
  const seconds = (Date.now() - t0) / 1000;
  say(`phase ${phase.name}: ${code === 0 ? "passed" : `FAILED (exit ${code})`} in ${seconds.toFixed(1)}s ` +
    `(${counts.pass} passed, ${counts.fail} failed${counts.skipped ? `, ${counts.skipped} skipped` : ""}${counts.todo ? `, ${counts.todo} todo` : ""})`);
  // The slowest files of a phase that ran several at once: what to split when it grows.
  if (phase.files.length > 1 && existsSync(summaryFile)) {
    const slowest = readFileSync(summaryFile, "utf8").split("\n").filter((l) => / tests /.test(l)).slice(0, 5);
    say(`slowest files of ${phase.name}:\n${slowest.map((l) => `    ${l}`).join("\n")}`);
  }
  return { code, counts, seconds };
}

/** The counts of a phase, from its summary (zeros if it is missing). */
function summaryCounts(file) {
  const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  const line = existsSync(file) ? readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("counts ")) : null;
  const c = line ? JSON.parse(line.slice(7)) : {};
  return { ...counts, tests: c.tests ?? 0, pass: c.passed ?? 0, fail: c.failed ?? 0, cancelled: c.cancelled ?? 0, skipped: c.skipped ?? 0, todo: c.todo ?? 0 };
}

/** Adds up the counts of several phases. */
export function total(results) {
  const t = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const r of results) for (const k of Object.keys(t)) t[k] += r.counts[k];
  return t;
}


/**
 * Runs the phases: the static ones first, without a stack (nor its settings); then
 * startStack() (it resolves to the tests' environment) and the others, each after
 * beforePhase(phase). Prints the tail of the stack's logs on a failure, and one closing
 * line for the whole suite. Resolves to the exit code.
 */
export async function runSuite(phases, { root, runDir, say, since, startStack, beforePhase, afterPhases, logs, onChild }) {
  const results = [];
  const run = async (phase, env) => {
    const r = await runPhase(phase, {
      root,
      env,
      summaryFile: join(runDir, `phase-${phase.name}.summary`),
      say,
      onChild: (c) => {
        onChild(c);
        if (c.pid) writeFileSync(join(runDir, "tests.pid"), String(c.pid));
      },
    });
    onChild(undefined);
    results.push({ ...r, name: phase.name });
  };
  const bare = { ...process.env };
  delete bare.HANGAR_STACK_ENV;
  for (const p of phases.filter((x) => x.stack === false)) await run(p, bare);
  const stackPhases = phases.filter((x) => x.stack !== false);
  if (stackPhases.length) {
    const env = { ...process.env, ...(await startStack()) };
    for (const p of stackPhases) {
      await beforePhase(p);
      await run(p, env);
    }
    await afterPhases();
  }
  const code = results.some((r) => r.code !== 0) ? 1 : 0;
  if (code !== 0) {
    for (const [label, file] of logs()) {
      if (!file || !existsSync(file)) continue;
      const lines = readFileSync(file, "utf8").trimEnd().split("\n").slice(-60);
      if (lines.join("")) console.log(`\n[stack] last ${lines.length} lines of the ${label} log:\n${lines.join("\n")}`);
    }
  }
  const t = total(results);
  say(`tests ${code === 0 ? "passed" : "FAILED"}: ${results.map((r) => `${r.name} ${r.seconds.toFixed(1)}s`).join(", ")}; total ${since()}`);
  // One closing line for the whole suite.
  console.log(`e2e: ${t.pass} passed, ${t.fail + t.cancelled} failed, ${t.skipped + t.todo} skipped`);
  return code;
}
