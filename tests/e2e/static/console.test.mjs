// The web console's builds (console/README.md), without a stack:
//  - its API types are docs/openapi.json's: console/src/api/openapi.d.ts is exactly what
//    openapi-typescript generates from it (regenerate: scripts/build-console.sh types), and
//    scripts/build-console.sh type-checks the console against them, so it cannot drift;
//  - the production build (console/dist) has no test sign-in: neither the local stack's
//    sign-in endpoint nor its form is anywhere in the bundle, while the stack build has both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GEN = path.join(ROOT, 'node_modules/.bin/openapi-typescript');

test('console/src/api/openapi.d.ts is generated from docs/openapi.json', () => {
  const run = spawnSync(GEN, ['docs/openapi.json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const checkedIn = readFileSync(path.join(ROOT, 'console/src/api/openapi.d.ts'), 'utf8');
  assert.ok(run.stdout.length > 1000, 'openapi-typescript printed the types');
  assert.ok(checkedIn === run.stdout, 'console/src/api/openapi.d.ts is stale: run scripts/build-console.sh types');
});

/** Every file of a build, as text. */
function bundle(dir) {
  const root = path.join(ROOT, 'console', dir);
  assert.ok(existsSync(path.join(root, 'index.html')), `no build in console/${dir}: scripts/build-console.sh builds it`);
  return readdirSync(root, { recursive: true })
    .filter((f) => /\.(js|html|css)$/.test(f))
    .map((f) => readFileSync(path.join(root, f), 'utf8'))
    .join('\n');
}

// What the test sign-in is made of (console/src/auth/TestSignIn.tsx).
const MARKS = ['/local/sign-in', 'Test user email', 'test user of this stack', '/config.json'];

test('the production build has no test sign-in; the stack build has it', () => {
  const prod = bundle('dist');
  const stack = bundle('dist-stack');
  for (const m of MARKS) {
    assert.ok(stack.includes(m), `the stack build has ${m} (so this check looks for the right thing)`);
    assert.ok(!prod.includes(m), `the production build must not contain ${m}`);
  }
});
