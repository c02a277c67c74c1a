// Secrets in the console: names and scopes only. A value is typed once and never shown
// again: not on the page, not after a reload, not in any response the page receives.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { accountId, launch, nav, openConsole, signIn, shot, until } from '../lib/console.mjs';
import { rows } from '../lib/machines.mjs';

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

/** A page that records every response body it receives (to prove a value never comes back). */
async function watched() {
  const c = await openConsole(browser);
  const bodies = [];
  c.page.on('response', async (r) => {
    try { bodies.push(await r.text()); } catch { /* a redirect or an aborted load */ }
  });
  return { ...c, bodies };
}

async function setSecret(page, { name, value, scope, target }) {
  await page.getByLabel('Secret name').fill(name);
  await page.getByLabel('Value').fill(value);
  if (scope) await page.getByLabel('Scope').selectOption(scope);
  if (target) await page.getByLabel(scope[0].toUpperCase() + scope.slice(1), { exact: true }).selectOption({ label: target });
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('status').filter({ hasText: `Saved ${name}` }).waitFor();
}

const secretRows = (page) => page.getByRole('table', { name: 'Secrets' }).getByRole('row');

test('set one: the page never shows the value again; replace and delete it', { timeout: 60000 }, async () => {
  const { page, problems, bodies } = await watched();
  await signIn(page);
  const me = await accountId(page);
  await nav(page, 'Secrets');
  await page.getByText('No secrets yet.').waitFor();
  const value = `v-${randomBytes(12).toString('hex')}`;
  await setSecret(page, { name: 'API_TOKEN', value });
  assert.equal(await page.getByLabel('Value').inputValue(), '', 'the value field is emptied');
  await secretRows(page).filter({ hasText: 'API_TOKEN' }).filter({ hasText: 'account' }).waitFor();
  assert.ok(!(await page.content()).includes(value), 'the value is not on the page');
  await page.reload();
  await secretRows(page).filter({ hasText: 'API_TOKEN' }).waitFor();
  assert.ok(!(await page.content()).includes(value), 'nor after a reload');
  await shot(page, 'secrets');

  // Replace: the same name and scope, a new value; still one secret, never shown.
  const [before] = await rows`select id, ciphertext from secrets where name = 'API_TOKEN' and account_id = ${me}`;
  await page.getByRole('button', { name: 'Replace API_TOKEN' }).click();
  assert.equal(await page.getByLabel('Secret name').inputValue(), 'API_TOKEN');
  const second = `w-${randomBytes(12).toString('hex')}`;
  await page.getByLabel('Value').fill(second);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved API_TOKEN' }).waitFor();
  await until(async () => (await secretRows(page).filter({ hasText: 'API_TOKEN' }).count()) === 1, { what: 'one API_TOKEN' });
  const [afterRow] = await rows`select id, ciphertext from secrets where id = ${before.id}`;
  assert.notEqual(afterRow.ciphertext, before.ciphertext, 'the value was replaced in place');

  await page.getByRole('button', { name: 'Delete API_TOKEN' }).click();
  await page.getByRole('button', { name: 'Yes, delete API_TOKEN' }).click();
  await page.getByText('No secrets yet.').waitFor();
  assert.equal((await rows`select id from secrets where id = ${before.id}`).length, 0, 'deleted');

  for (const b of bodies) {
    assert.ok(!b.includes(value) && !b.includes(second), 'no response the page received carries a value');
  }
  assert.deepEqual(problems, []);
});

test('project and machine scopes', { timeout: 90000 }, async () => {
  const { page, problems, bodies } = await watched();
  await signIn(page);
  await nav(page, 'Projects');
  await page.getByLabel('Project name').fill('scoped');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('table', { name: 'Projects' }).getByText('scoped').waitFor();
  await nav(page, 'Machines');
  await page.getByRole('link', { name: 'New machine' }).click();
  await page.getByLabel('Name').fill('scoped machine');
  await page.getByRole('button', { name: 'Create machine' }).click();
  await page.getByRole('heading', { level: 1, name: 'scoped machine' }).waitFor();

  await nav(page, 'Secrets');
  const value = `p-${randomBytes(12).toString('hex')}`;
  await setSecret(page, { name: 'DB_URL', value, scope: 'project', target: 'scoped' });
  await setSecret(page, { name: 'DB_URL', value, scope: 'machine', target: 'scoped machine' });
  await secretRows(page).filter({ hasText: 'project' }).filter({ hasText: 'scoped' }).waitFor();
  await secretRows(page).filter({ hasText: 'machine' }).filter({ hasText: 'scoped machine' }).waitFor();
  assert.equal(await secretRows(page).filter({ hasText: 'DB_URL' }).count(), 2, 'one per scope');
  // A target is required for a scoped secret: the API names the field, the page marks it.
  await page.getByLabel('Secret name').fill('NO_TARGET');
  await page.getByLabel('Value').fill('x');
  await page.getByLabel('Scope').selectOption('project');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('alert').waitFor();
  assert.ok(!(await page.content()).includes(value));
  for (const b of bodies) assert.ok(!b.includes(value));
  assert.deepEqual(problems, []);
});
