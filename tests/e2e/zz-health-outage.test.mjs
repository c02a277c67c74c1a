// health with the database down. This stops and restarts Postgres for the whole stack, so the
// suite must run its files one at a time: node --test --test-concurrency=1 tests/e2e/*.test.mjs
// (node runs test files in parallel processes by default). The file name sorts last on purpose,
// so the outage happens after every other file has finished.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ROOT, env } from './lib/env.mjs';
import { fn, fails, show, sleep } from './lib/api.mjs';

const pg = (cmd) => execFileSync('bash', ['tests/stack/pg.sh', cmd], { cwd: ROOT, stdio: 'inherit' });

async function waitFor(pred, seconds) {
  let res;
  for (const end = Date.now() + seconds * 1000; Date.now() < end; await sleep(250)) {
    res = await fn('health').catch((e) => ({ status: 0, text: String(e), json: null, headers: new Headers() }));
    if (pred(res)) return res;
  }
  return res;
}

after(async () => {
  pg('start');
  const res = await waitFor((r) => r.status === 200, 60);
  assert.equal(res.status, 200, `health did not recover after Postgres restarted: ${show(res)}`);
});

test('health answers 503 unhealthy while Postgres is down', async () => {
  pg('stop');
  const res = await waitFor((r) => r.status !== 200, 20);
  const body = fails(res, 503, 'unavailable');
  assert.equal(body.data?.status, 'unhealthy', show(res));
  assert.notEqual(body.data?.checks?.database, 'ok');
  assert.ok(!res.text.includes(env.DATABASE_URL) && !/PGRST/.test(res.text), 'no internals in the body');
});
