// health: no auth, reports database and runner. (With either down: disruptive/health-outage.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok } from '../lib/api.mjs';

test('health answers 200 healthy without auth', async () => {
  const data = ok(await fn('health'));
  assert.equal(data.status, 'healthy');
  assert.equal(data.checks?.database, 'ok');
  assert.equal(data.checks?.runner, 'ok');
  assert.equal(typeof data.version, 'string');
  assert.ok(data.version.length > 0, 'version');
});

test('health ignores a bad token', async () => {
  assert.equal(ok(await fn('health', { token: 'garbage' })).status, 'healthy');
});
