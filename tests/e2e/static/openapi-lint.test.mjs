// docs/openapi.json passes Redocly's linter (issue 11): the recommended rules, as
// docs/redocly.yaml adjusts them (each change with its reason), with no error and no
// warning. Static phase: no stack. Redocly's telemetry and update check are off (the
// network is closed here, and a lint must not depend on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const REDOCLY = path.join(ROOT, 'node_modules/.bin/redocly');

test('redocly lint: docs/openapi.json has no error and no warning', () => {
  assert.ok(existsSync(REDOCLY), `${REDOCLY} is missing: run \`make setup\` (npm install)`);
  const run = spawnSync(REDOCLY, ['lint', '--config', 'docs/redocly.yaml', '--format', 'json', 'docs/openapi.json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
  });
  assert.equal(run.error, undefined, `redocly did not run: ${run.error}`);
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    assert.fail(`redocly printed no JSON report (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  const problems = (report.problems ?? []).map((p) =>
    `${p.severity} ${p.ruleId}: ${p.message} at ${(p.location ?? []).map((l) => l.pointer).join(', ')}`);
  console.log(`[openapi-lint] redocly ${report.version}: ${report.totals.errors} errors, ${report.totals.warnings} warnings, ${report.totals.ignored} ignored`);
  assert.deepEqual(problems, [], `redocly lint found ${problems.length} problem(s)`);
  assert.equal(run.status, 0, `redocly exited ${run.status}: ${run.stderr}`);
});
