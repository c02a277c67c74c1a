// Errors in the console: the envelope's message at the field that details.field names,
// and a 402 that shows the balance.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accountId, launch, openConsole, signIn, shot } from '../lib/console.mjs';
import { countMachines, setBalance } from '../lib/machines.mjs';
import { fn, signIn as apiSignIn } from '../lib/api.mjs';

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

test('a name that is too long shows the field\'s message at the name field', { timeout: 60000 }, async () => {
  const name = 'x'.repeat(64);
  // The message the API gives for it, from the API itself.
  const api = await apiSignIn();
  const res = await fn('create-machine', { body: { name }, token: api.accessToken });
  assert.equal(res.status, 400);
  assert.equal(res.json.details.field, 'name');
  const message = res.json.message;

  const { page, problems } = await openConsole(browser);
  await signIn(page);
  const id = await accountId(page);
  await page.goto(`${page.url().split('#')[0]}#/machines/new`);
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create machine' }).click();
  const input = page.getByLabel('Name');
  await page.locator('[aria-invalid="true"]').waitFor();
  assert.equal(await input.getAttribute('aria-invalid'), 'true', 'the name field is marked');
  // The field's description (aria-describedby) holds the envelope's message.
  const described = await input.getAttribute('aria-describedby');
  const texts = await Promise.all(described.split(' ').map((d) => page.locator(`[id="${d}"]`).textContent()));
  assert.ok(texts.includes(message), `"${message}" at the field (got ${JSON.stringify(texts)})`);
  assert.equal(await page.getByRole('alert').textContent(), message, 'and in the form\'s alert');
  assert.equal(await countMachines(id), 0, 'nothing created');
  // Other fields are not marked.
  assert.equal(await page.getByLabel('Region').getAttribute('aria-invalid'), null);
  await shot(page, 'error-field');
  assert.deepEqual(problems, []);
});

test('a 402 shows the balance', { timeout: 60000 }, async () => {
  const { page, problems } = await openConsole(browser);
  await signIn(page);
  const id = await accountId(page);
  await setBalance(id, 0);
  await page.goto(`${page.url().split('#')[0]}#/machines/new`);
  await page.getByLabel('Name').fill('too poor');
  await page.getByRole('button', { name: 'Create machine' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const text = await alert.textContent();
  assert.match(text, /Insufficient credits/);
  assert.match(text, /Your balance is \$0\.00; this needs \$0\.01/);
  await alert.getByRole('link', { name: 'See billing' }).click();
  await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor();
  assert.match(await page.locator('.balance').textContent(), /Balance \$0\.00/);
  await shot(page, 'error-402');
  assert.equal(await countMachines(id), 0);
  assert.deepEqual(problems, []);
});
