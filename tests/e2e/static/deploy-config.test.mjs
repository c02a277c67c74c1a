// The stages' generated configuration, without a stack (issue 15, "Also"):
//   - every Worker of production and staging declares each rate-limiting binding that its
//     RATE_LIMIT_BINDINGS names, and the other way round, so that no Worker serves without
//     its limit (a Worker missing one answers 503: tests/e2e/account/rate-limits);
//     every function but runner-callback and scheduler has RATE_LIMITER, and the create
//     functions CREATE_RATE_LIMITER;
//   - no stage carries the test-only panic trigger, and `make deploy` refuses an env file
//     that sets it (dry run included), for every stage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ROOT, STAGES } from '../../../config/variables.mjs';
import { functionNames, renderWrangler } from '../../../scripts/gen-wrangler.mjs';

const UNLIMITED = ['runner-callback', 'scheduler'];
const CREATING = ['create-machine', 'instances'];

for (const [name, stage] of Object.entries(STAGES)) {
  test(`${name}: every Worker declares the rate-limiting bindings it requires, and none may panic on request`, () => {
    // As scripts/deploy.mjs renders the stage's configuration.
    const { text } = renderWrangler({ host: stage.host, zone: stage.zone, workerPrefix: stage.workerPrefix,
      namespaceBase: stage.namespaceBase, overrides: stage.vars, build: false });
    const config = parseToml(text);
    const functions = functionNames();
    assert.ok(functions.length >= 30, `${functions.length} functions`);
    for (const fn of functions) {
      const env = config.env[fn];
      assert.ok(env, `[env.${fn}]`);
      const declared = (env.ratelimits ?? []).map((r) => r.name).sort();
      const required = env.vars.RATE_LIMIT_BINDINGS;
      assert.ok(required, `${fn}: RATE_LIMIT_BINDINGS is set`);
      assert.deepEqual(required === 'none' ? [] : required.split(',').sort(), declared, `${fn}: required = declared`);
      const expect = UNLIMITED.includes(fn) ? [] : CREATING.includes(fn) ? ['CREATE_RATE_LIMITER', 'RATE_LIMITER'] : ['RATE_LIMITER'];
      assert.deepEqual(declared, expect, `${fn}: its bindings`);
      for (const r of env.ratelimits ?? []) {
        assert.ok(Number.isInteger(r.simple?.limit) && r.simple.limit > 0 && r.simple.period === 60, `${fn} ${r.name}: ${JSON.stringify(r)}`);
      }
      assert.equal(env.vars.HANGAR_TEST_PANIC, '0', `${fn}: HANGAR_TEST_PANIC`);
    }
  });

  test(`make deploy refuses HANGAR_TEST_PANIC for ${name}, dry run or not`, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hangar-deploy-'));
    for (const value of ['1', 'yes']) {
      const file = path.join(dir, `${name}.env`);
      writeFileSync(file, `HANGAR_TEST_PANIC=${value}\n`);
      for (const dry of [['--dry-run'], []]) {
        const r = spawnSync(process.execPath, ['scripts/deploy.mjs', '--stage', name, '--env-file', file, ...dry],
          { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 1, `exit status ${r.status}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /HANGAR_TEST_PANIC=.* is for the local test stack only/, r.stderr);
        assert.doesNotMatch(r.stdout, /wrangler|build/i, 'refused before anything is built or deployed');
      }
    }
  });
}
