// health with the runner down, then with the database down. Each outage is the whole stack's
// (the runner stopped; Postgres stopped and restarted), so this file is in disruptive/: it runs
// alone, after the concurrent phases (tests/e2e/README.md).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ROOT, env } from '../lib/env.mjs';
import { fn, ok, fails, show, sleep } from '../lib/api.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

const pg = (cmd) => execFileSync('bash', ['tests/stack/pg.sh', cmd], { cwd: ROOT, stdio: 'inherit' });

async function waitFor(pred, seconds) {
  let res;
  for (const end = Date.now() + seconds * 1000; Date.now() < end; await sleep(250)) {
    res = await fn('health').catch((e) => ({ status: 0, text: String(e), json: null, headers: new Headers() }));
    if (pred(res)) return res;
  }
  return res;
}

let pgDown = false;
after(async () => {
  if (pgDown) pg('start');
  const res = await waitFor((r) => r.status === 200, 60);
  assert.equal(res.status, 200, `health did not recover after Postgres restarted: ${show(res)}`);
});

test('a runner outage is reported but keeps health 200 (jobs wait in the outbox)', async () => {
  await stopRunner();
  try {
    const data = ok(await fn('health'));
    assert.equal(data.status, 'healthy');
    assert.equal(data.checks.runner.status, 'unreachable', JSON.stringify(data.checks.runner));
    assert.ok(data.checks.runner.runners.every((r) => r.status === 'unreachable' && r.mode === null));
  } finally {
    await startRunner();
  }
  assert.equal(ok(await fn('health')).checks.runner.status, 'ok');
});

test('health answers 503 unhealthy while Postgres is down', async () => {
  pg('stop');
  pgDown = true;
  const res = await waitFor((r) => r.status !== 200, 20);
  const body = fails(res, 503, 'unavailable');
  assert.equal(body.data?.status, 'unhealthy', show(res));
  assert.notEqual(body.data?.checks?.database, 'ok');
  assert.ok(!res.text.includes(env.DATABASE_URL) && !/PGRST/.test(res.text), 'no internals in the body');
});
