// health: no auth, reports database and runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok } from './lib/api.mjs';
import { stopRunner, startRunner } from './lib/runner.mjs';

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

test('a runner outage is reported but keeps health 200 (jobs wait in the outbox)', async () => {
  await stopRunner();
  try {
    const data = ok(await fn('health'));
    assert.equal(data.status, 'healthy');
    assert.equal(data.checks.runner, 'unreachable');
  } finally {
    await startRunner();
  }
  assert.equal(ok(await fn('health')).checks.runner, 'ok');
});
