// Every page of the console: no serious or critical axe-core violation, at desktop and
// phone width, with a screenshot of each; keyboard sign-in; the lists' states; SSH keys
// (the fingerprint is ssh-keygen's); billing and account show the account's figures.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axe, launch, nav, openConsole, PHONE, shot, signIn } from '../lib/console.mjs';
import { env } from '../lib/env.mjs';

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

const money = (c) => `$${(c / 100).toFixed(2)}`;

async function checkPage(page, name, problems) {
  const violations = await axe(page);
  assert.deepEqual(violations, [], `${name}: axe serious/critical violations`);
  await shot(page, name);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name} is wider than the viewport by ${overflow}px`);
  assert.deepEqual(problems, [], name);
}

for (const [label, viewport] of [['desktop', undefined], ['phone', PHONE]]) {
  test(`every page passes axe at ${label} width, signed in from the keyboard`, { timeout: 120000 }, async () => {
    const { page, problems } = await openConsole(browser, viewport ? { viewport } : {});
    const suffix = label === 'phone' ? '-phone' : '';
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await checkPage(page, `sign-in${suffix}`, problems);
    // From the keyboard: Tab to the button, Enter.
    await page.getByRole('button', { name: 'Sign in' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Main' }).waitFor();

    await page.getByText('No machines yet.').waitFor();
    await checkPage(page, `machines${suffix}`, problems);
    // The keyboard alone: a link by Enter, a form by typing and Enter.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Projects' }).waitFor();
    await page.getByLabel('Project name').focus();
    await page.keyboard.type(`keys ${label}`);
    await page.keyboard.press('Enter');
    await page.getByRole('table', { name: 'Projects' }).getByText(`keys ${label}`).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Machines' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: 'New machine' }).click();
    await page.getByRole('heading', { level: 1, name: 'New machine' }).waitFor();
    await page.getByText('No SSH keys yet.').waitFor();
    await checkPage(page, `new-machine${suffix}`, problems);
    await page.getByLabel('Name').fill(`a11y ${label}`);
    await page.getByRole('button', { name: 'Create machine' }).click();
    await page.getByRole('heading', { level: 1, name: `a11y ${label}` }).waitFor();
    await page.getByRole('list', { name: 'Events' }).waitFor();
    await checkPage(page, `machine${suffix}`, problems);

    for (const [link, heading, ready] of [
      ['Projects', 'Projects', `keys ${label}`],
      ['Teams', 'Teams', 'No teams yet.'],
      ['SSH keys', 'SSH keys', 'No SSH keys yet.'],
      ['Secrets', 'Secrets', 'No secrets yet.'],
      ['Billing', 'Billing', 'Ledger'],
      ['Account', 'Account', 'Account id'],
    ]) {
      if (label === 'phone') await page.goto(`${page.url().split('#')[0]}#/${link.toLowerCase().replace(' ', '-')}`);
      else await nav(page, link, heading);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.getByText(ready, { exact: true }).first().waitFor();
      await checkPage(page, `${link.toLowerCase().replace(' ', '-')}${suffix}`, problems);
    }
  });
}

test('billing and account show the account\'s balance; the session refreshes before expiry; sign-out revokes it', { timeout: 60000 }, async () => {
  const { page, problems } = await openConsole(browser);
  await signIn(page, { email: `acct-${Date.now()}@hangar.test` });
  await nav(page, 'Billing');
  const credits = Number(env.SIGNUP_CREDITS_CENTS);
  assert.match(await page.locator('.balance').textContent(), new RegExp(`Balance \\${money(credits)}`));
  assert.match(await page.getByRole('table', { name: 'Ledger' }).textContent(), new RegExp(`\\+\\${money(credits)}`));
  await nav(page, 'Account');
  await page.getByLabel('Display name').fill('Console User');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  // A session about to expire is refreshed before it is used: a new token pair, the old
  // refresh token spent.
  const old = await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('hangar.session'));
    localStorage.setItem('hangar.session', JSON.stringify({ ...s, expiresAt: Math.floor(Date.now() / 1000) + 30 }));
    return s;
  });
  await page.reload();
  await page.getByTestId('account-id').waitFor();
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('hangar.session')));
  assert.notEqual(stored.refreshToken, old.refreshToken, 'refreshed before expiry');
  assert.ok(stored.expiresAt > old.expiresAt);
  const spent = await fetch(`${env.FUNCTIONS_URL}/functions/v1/refresh-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: old.refreshToken }) });
  assert.equal(spent.status, 401, 'the old refresh token is spent');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  // The refresh token is revoked (logout), not only forgotten.
  const res = await fetch(`${env.FUNCTIONS_URL}/functions/v1/refresh-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: stored.refreshToken }) });
  assert.equal(res.status, 401);
  assert.deepEqual(problems, []);
});

test('an SSH key pasted in shows ssh-keygen\'s fingerprint; a bad key names the field', { timeout: 60000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'console-key-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'console@test', '-f', join(dir, 'k')]);
  const pub = readFileSync(join(dir, 'k.pub'), 'utf8').trim();
  const fingerprint = execFileSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1];
  const { page, problems } = await openConsole(browser);
  await signIn(page);
  await nav(page, 'SSH keys');
  await page.getByLabel('Key name').fill('laptop');
  await page.getByLabel('Public key').fill('ssh-ed25519 not-a-key');
  await page.getByRole('button', { name: 'Add key' }).click();
  await page.getByRole('alert').waitFor();
  assert.equal(await page.getByLabel('Public key').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Public key').fill(pub);
  await page.getByRole('button', { name: 'Add key' }).click();
  await page.getByRole('status').filter({ hasText: fingerprint }).waitFor();
  await page.getByRole('table', { name: 'SSH keys' }).getByText(fingerprint).waitFor();
  await shot(page, 'ssh-keys-added');
  // The new-machine form offers it.
  await nav(page, 'Machines');
  await page.getByRole('link', { name: 'New machine' }).click();
  await page.getByRole('checkbox', { name: /laptop/ }).waitFor();
  await nav(page, 'SSH keys');
  await page.getByRole('button', { name: 'Delete laptop' }).click();
  await page.getByRole('button', { name: 'Yes, delete laptop' }).click();
  await page.getByText('No SSH keys yet.').waitFor();
  assert.deepEqual(problems, []);
});
