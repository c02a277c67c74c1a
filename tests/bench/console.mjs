// The web console's budgets (issue 18), run by scripts/bench.sh inside the stack
// (`stack.mjs test tests/bench/console.mjs`); not part of `make test`.
//
//  1. First load: the JavaScript a first visit fetches, gzip-compressed (level 9), from the
//     production build (console/dist: the entry and what index.html preloads) and as
//     Chromium fetched it on the local stack (the resource timeline up to the machines
//     page): <= CONSOLE_JS_BUDGET_KB (250) each.
//  2. The machines page with 100 machines: from the navigation's start to the page's
//     `hangar:machines-ready` mark (the list rendered with its data), on Chromium's
//     performance timeline, cold cache, BENCH_CONSOLE_RUNS (5) runs: median <=
//     CONSOLE_READY_BUDGET_MS (1000).
// Env: BENCH_CONSOLE_OUT (JSON results).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { env, ROOT } from '../e2e/lib/env.mjs';
import { fn } from '../e2e/lib/api.mjs';
import { setMachineLimit, sql, value } from '../e2e/lib/machines.mjs';
import { launch, signIn } from '../e2e/lib/console.mjs';

const JS_BUDGET_KB = Number(process.env.CONSOLE_JS_BUDGET_KB || 250);
const READY_BUDGET_MS = Number(process.env.CONSOLE_READY_BUDGET_MS || 1000);
const RUNS = Number(process.env.BENCH_CONSOLE_RUNS || 5);
const MACHINES = 100;
const gz = (buf) => gzipSync(buf, { level: 9 }).length;
const kb = (n) => n / 1024;

// ---- 1a. the production build's first load -----------------------------------------------------
const dist = join(ROOT, 'console', 'dist');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const entry = [...html.matchAll(/<script[^>]+src="([^"]+\.js)"|<link[^>]+rel="modulepreload"[^>]+href="([^"]+\.js)"/g)].map((m) => m[1] ?? m[2]);
const prodFirstLoad = entry.reduce((n, f) => n + gz(readFileSync(join(dist, f))), 0);

// ---- 2. a user with 100 machines ------------------------------------------------------------------
const browser = await launch();
const email = `bench-${Date.now()}@hangar.test`;
const setup = await (await browser.newContext()).newPage();
await setup.goto(env.CONSOLE_URL);
await signIn(setup, { email });
const { accessToken } = await setup.evaluate(() => JSON.parse(localStorage.getItem('hangar.session')));
const accountId = await value`select id from accounts where identifier = ${email}`;
await setMachineLimit(accountId, MACHINES + 10);
const first = await fn('create-machine', { body: { name: 'bench 0' }, token: accessToken });
if (first.status !== 201) throw new Error(`create-machine: ${first.status} ${first.text}`);
// The other 99 as copies of the first (creations per hour are limited in SQL).
await sql`insert into public.machines
  select (jsonb_populate_record(null::public.machines, to_jsonb(m) || jsonb_build_object('id', gen_random_uuid(), 'name', 'bench ' || i, 'provider_instance_id', null))).*
  from public.machines m, generate_series(1, ${MACHINES - 1}) i where m.id = ${first.json.data.id}`;
const count = Number(await value`select count(*) from machines where owner_id = ${accountId}`);
if (count !== MACHINES) throw new Error(`expected ${MACHINES} machines, have ${count}`);

const runs = [];
let stackFirstLoad = 0;
for (let i = 0; i < RUNS + 1; i++) {
  // A new context each time: a cold cache, the session carried over as a person's would be.
  const context = await browser.newContext();
  await context.addInitScript((s) => localStorage.setItem('hangar.session', s), JSON.stringify(await setup.evaluate(() => JSON.parse(localStorage.getItem('hangar.session')))));
  const page = await context.newPage();
  await page.goto(`${env.CONSOLE_URL}/#/machines`);
  await page.waitForFunction((n) => document.querySelectorAll('table[aria-label="Machines"] tbody tr').length === n, MACHINES, { timeout: 30000 });
  const t = await page.evaluate(() => {
    const mark = performance.getEntriesByName('hangar:machines-ready')[0];
    const js = performance.getEntriesByType('resource').filter((r) => r.initiatorType === 'script' || r.name.endsWith('.js')).map((r) => new URL(r.name).pathname);
    return { ready: mark?.startTime, js };
  });
  if (t.ready === undefined) throw new Error('no hangar:machines-ready mark');
  if (i === 0) {
    // The first run warms the stack's Workers (not the browser: every context is fresh).
    stackFirstLoad = t.js.reduce((n, p) => n + gz(readFileSync(join(ROOT, 'console', 'dist-stack', p))), 0);
  } else runs.push(t.ready);
  await context.close();
}
await browser.close();
await sql.end();

runs.sort((a, b) => a - b);
const median = runs[Math.floor(runs.length / 2)];
const results = {
  firstLoadJsGzipKB: { production: +kb(prodFirstLoad).toFixed(1), stack: +kb(stackFirstLoad).toFixed(1), budget: JS_BUDGET_KB },
  machinesReadyMs: { machines: MACHINES, runs: runs.map((r) => Math.round(r)), median: Math.round(median), max: Math.round(runs.at(-1)), budget: READY_BUDGET_MS },
};
console.log(`console first load JS (gzip): production ${results.firstLoadJsGzipKB.production} KB, local stack ${results.firstLoadJsGzipKB.stack} KB (budget ${JS_BUDGET_KB} KB)`);
console.log(`console machines page with ${MACHINES} machines ready after: median ${results.machinesReadyMs.median} ms, max ${results.machinesReadyMs.max} ms over ${RUNS} cold loads (budget ${READY_BUDGET_MS} ms)`);
if (process.env.BENCH_CONSOLE_OUT) writeFileSync(process.env.BENCH_CONSOLE_OUT, JSON.stringify(results, null, 2));
const over = [];
if (results.firstLoadJsGzipKB.production > JS_BUDGET_KB || results.firstLoadJsGzipKB.stack > JS_BUDGET_KB) over.push('first-load JS');
if (median > READY_BUDGET_MS) over.push('machines page time');
if (over.length) {
  console.error(`console benchmark: over budget: ${over.join(', ')}`);
  process.exitCode = 1;
}
