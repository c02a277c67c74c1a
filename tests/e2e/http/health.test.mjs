// health: no auth, reports database and runner. (With either down: disruptive/health-outage.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok } from '../lib/api.mjs';
import { env } from '../lib/env.mjs';

test('health answers 200 healthy without auth', async () => {
  const data = ok(await fn('health'));
  assert.equal(data.status, 'healthy');
  assert.equal(data.checks?.database, 'ok');
  const runner = data.checks?.runner;
  assert.equal(runner?.status, 'ok', JSON.stringify(runner));
  assert.equal(runner.mode, 'simulate', 'the local stack expects simulating runners (RUNNER_MODE)');
  const urls = env.RUNNER_URLS.split(',');
  assert.deepEqual(runner.runners, urls.map((url) => ({ url, provider: null, status: 'ok', mode: 'simulate' })));
  assert.equal(typeof data.version, 'string');
  assert.ok(data.version.length > 0, 'version');
});

test('health ignores a bad token', async () => {
  assert.equal(ok(await fn('health', { token: 'garbage' })).status, 'healthy');
});
