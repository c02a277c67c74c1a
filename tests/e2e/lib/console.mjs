// The web console in Chromium (tests/e2e/console/): playwright-core driving Debian's
// /usr/bin/chromium (scripts/setup.sh installs it) against the stack's console server
// (CONSOLE_URL), by roles and labels as a person would. Screenshots go to
// .local/console-screenshots/ (one per page, phone width too).
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { env, ROOT } from './env.mjs';

export const CONSOLE_URL = env.CONSOLE_URL;
export const SHOTS = join(ROOT, '.local', 'console-screenshots');
mkdirSync(SHOTS, { recursive: true });

// The flags of TOOLCHAIN.md: no background connections on this closed network.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];

export const launch = () => chromium.launch({ executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium', args: ARGS });

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

/** A fresh browser context (its own storage: its own user) on the console. */
export async function openConsole(browser, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // The console loads nothing from the internet: every request stays on loopback.
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost'].includes(u.hostname) && !['data:', 'blob:'].includes(u.protocol)) problems.push(`external request: ${r.url()}`);
  });
  await page.goto(CONSOLE_URL);
  return { context, page, problems };
}

/** Signs in with the local stack's "Sign in" button (a new test user, or the one of `email`). */
export async function signIn(page, { email } = {}) {
  if (email) await page.getByLabel('Test user email (optional)').fill(email);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** Goes to a page by its link in the main navigation and waits for its heading. */
export async function nav(page, name, heading = name) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

export const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** The account id, from the account page. */
export async function accountId(page) {
  await nav(page, 'Account');
  return (await page.getByTestId('account-id').textContent()).trim();
}

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core on the page as it is: the serious and critical violations (empty when none). */
export async function axe(page) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Waits until `fn` (async) returns a truthy value; its value. */
export async function until(fn, { timeoutMs = 30000, intervalMs = 250, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
