// The whole journey in the console (issue 18): sign in, create a machine, watch it reach
// running, open it, see its events, see its charts once the agent posts, stop it, start
// it, delete it. The stack's runner (simulate mode) provisions; the agent's samples are
// posted to record-metrics with the machine's agent token, as the agent posts them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openConsole, signIn, shot, PHONE, until } from '../lib/console.mjs';
import { postMetrics, sample, setAgentToken } from '../lib/billing.mjs';
import { machineRow } from '../lib/machines.mjs';

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

const statusIs = (page, s) => page.getByLabel(`Status: ${s}`).waitFor({ timeout: 30000 });

test('sign in, create, running, events, charts, stop, start, delete', { timeout: 120000 }, async () => {
  const { page, problems } = await openConsole(browser);
  await shot(page, 'sign-in');
  await signIn(page);
  await page.getByRole('heading', { level: 1, name: 'Machines' }).waitFor();
  await page.getByText('No machines yet.').waitFor();
  await shot(page, 'machines-empty');

  await page.getByRole('link', { name: 'New machine' }).click();
  await page.getByRole('heading', { level: 1, name: 'New machine' }).waitFor();
  await page.getByLabel('Name').fill('journey 1');
  // The tier shows its hourly and monthly price.
  const tier = page.getByLabel('Tier');
  await tier.locator('option', { hasText: 'dev.medium' }).waitFor({ state: 'attached' });
  assert.match(await tier.locator('option:checked').textContent(), /dev\.small: .*\$0\.01\/hour, \$6\.00\/month/);
  assert.match(await tier.locator('option', { hasText: 'dev.medium' }).textContent(), /\$0\.02\/hour, \$12\.00\/month/);
  await tier.selectOption('dev.medium');
  await shot(page, 'new-machine');
  await page.getByRole('button', { name: 'Create machine' }).click();

  await page.getByRole('heading', { level: 1, name: 'journey 1' }).waitFor();
  const id = new URL(page.url()).hash.split('/')[2];
  assert.equal((await machineRow(id)).tier, 'dev.medium', 'the machine the form asked for');
  await statusIs(page, 'running');
  // Its address and SSH command while it runs.
  await page.getByRole('button', { name: 'Copy SSH command' }).waitFor();
  const events = page.getByRole('list', { name: 'Events' });
  await until(async () => (await events.getByRole('listitem').count()) > 0, { what: 'events' });
  assert.match(await events.textContent(), /machine\.created|created|provision/i);

  // The agent posts: the charts draw it (the page polls insights).
  await page.getByText('No metrics yet').waitFor();
  const token = await setAgentToken(id);
  const res = await postMetrics(token, sample());
  assert.equal(res.status, 202, res.text);
  await page.getByRole('img', { name: /^CPU: 1 samples, latest \d/ }).waitFor({ timeout: 20000 });
  await page.getByRole('img', { name: /^Memory: 1 samples/ }).waitFor();
  await page.getByRole('button', { name: '24h' }).click();
  await page.getByRole('img', { name: /^Disk: 1 samples/ }).waitFor();
  await shot(page, 'machine');

  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await statusIs(page, 'stopped');
  assert.equal(await page.getByRole('button', { name: 'Stop', exact: true }).isDisabled(), true, 'stop is off while stopped');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await statusIs(page, 'running');

  // Delete asks first.
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('group', { name: 'Confirm delete' }).waitFor();
  assert.notEqual((await machineRow(id)).status, 'terminating', 'nothing deleted before the confirmation');
  await page.getByRole('button', { name: 'Yes, delete' }).click();
  await page.getByRole('heading', { level: 1, name: 'Machines' }).waitFor();
  await until(async () => ['terminating', 'terminated'].includes((await machineRow(id)).status), { what: 'the delete' });
  await page.getByText('No machines yet.').waitFor({ timeout: 30000 });

  // Phone width: the list and the machine page fit without sideways scrolling.
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `machines page wider than a phone by ${overflow}px`);
  await shot(page, 'machines-phone');
  assert.deepEqual(problems, []);
});

test('the machines list filters by status and shows live status', { timeout: 90000 }, async () => {
  const { page, problems } = await openConsole(browser);
  await signIn(page);
  for (const name of ['filter a', 'filter b']) {
    await page.getByRole('link', { name: 'New machine' }).click();
    await page.getByLabel('Name').fill(name);
    await page.getByRole('button', { name: 'Create machine' }).click();
    await page.getByRole('heading', { level: 1, name }).waitFor();
    await statusIs(page, 'running');
    if (name === 'filter b') {
      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await statusIs(page, 'stopped');
    }
    await page.getByRole('link', { name: '← Machines' }).click();
  }
  const table = page.getByRole('table', { name: 'Machines' });
  await table.getByRole('link', { name: 'filter b' }).waitFor();
  await page.getByLabel('Status').selectOption('stopped');
  await until(async () => (await table.getByRole('link').allTextContents()).join() === 'filter b', { what: 'the stopped filter' });
  await page.getByLabel('Status').selectOption('running');
  await until(async () => (await table.getByRole('link').allTextContents()).join() === 'filter a', { what: 'the running filter' });
  await shot(page, 'machines');
  assert.deepEqual(problems, []);
});
