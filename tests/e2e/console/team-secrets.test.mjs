// A team secret in the console (API.md §8, secret scopes): the team's owner sets one for
// the team; the page shows its name and scope, never its value; a member who is not the
// owner is not offered the team as a scope.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launch, nav, openConsole, signIn } from '../lib/console.mjs';

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

test('the owner sets a team secret; its value is never shown', { timeout: 60000 }, async () => {
  const { page, problems } = await openConsole(browser);
  await signIn(page);
  await nav(page, 'Teams');
  await page.getByLabel('Team name').fill('Secret crew');
  await page.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('table', { name: 'Teams' }).getByRole('link', { name: 'Secret crew' }).waitFor();
  await nav(page, 'Secrets');
  const value = `t-${randomBytes(12).toString('hex')}`;
  await page.getByLabel('Secret name').fill('TEAM_TOKEN');
  await page.getByLabel('Value').fill(value);
  await page.getByLabel('Scope').selectOption('team');
  await page.getByLabel('Team', { exact: true }).selectOption({ label: 'Secret crew' });
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved TEAM_TOKEN' }).waitFor();
  const row = page.getByRole('table', { name: 'Secrets' }).getByRole('row').filter({ hasText: 'TEAM_TOKEN' });
  await row.filter({ hasText: 'team' }).filter({ hasText: 'Secret crew' }).waitFor();
  await page.reload();
  await row.waitFor();
  assert.ok(!(await page.content()).includes(value));
  assert.deepEqual(problems, []);
});
