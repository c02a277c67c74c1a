// The `docs` function (API.md §6, issue 11): the OpenAPI document as JSON, and its page in
// a real browser. Headless Chromium (Debian's `chromium`, installed by scripts/setup.sh)
// opens /functions/v1/docs on the stack; every function's path, every error code and every
// schema must be in what the page rendered (its <main>, not the JSON inlined for the
// script), and a screenshot goes to the run's folder (RECORD_DIR of lib/api.mjs; kept
// with HANGAR_KEEP_STACK=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { env } from '../lib/env.mjs';
import { fn, fails, show, RECORD_DIR } from '../lib/api.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOC = JSON.parse(readFileSync(path.join(ROOT, 'docs/openapi.json'), 'utf8'));
const URL_DOCS = `${env.FUNCTIONS_URL}/functions/v1/docs`;
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function chromium() {
  for (const bin of [process.env.CHROMIUM_BIN, 'chromium', 'chromium-browser'].filter(Boolean)) {
    if (spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0) return bin;
  }
  return null;
}

/** Runs headless Chromium on `url` with `args`; resolves to its stdout. A profile of its own
 * per run (parallel runs would share the default one's lock). */
function browse(bin, url, args) {
  const profile = mkdtempSync(path.join(tmpdir(), 'hangar-chromium-'));
  const child = spawn(bin, [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    `--user-data-dir=${profile}`, '--window-size=1400,1000', ...args, url,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
      if (code === 0) resolve(out);
      else reject(new Error(`chromium ${args.join(' ')} exited ${code ?? signal}: ${err.slice(-800)}`));
    });
  });
}

const text = (html) => html.replace(/<script[\s\S]*?<\/script>/g, ' ').replace(/<[^>]+>/g, ' ')
  .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

test('docs answers the document as JSON by default, for Accept: application/json and ?format=json', async () => {
  for (const [what, opts] of [
    ['no Accept', {}],
    ['Accept: application/json', { headers: { accept: 'application/json' } }],
    ['?format=json with a browser\'s Accept', { headers: { accept: BROWSER_ACCEPT }, query: { format: 'json' } }],
  ]) {
    const res = await fn('docs', opts);
    assert.equal(res.status, 200, `${what}: ${show(res)}`);
    assert.match(res.headers.get('content-type'), /^application\/json/, what);
    assert.ok(res.headers.get('x-request-id'), `${what}: x-request-id`);
    // The Worker serves the file it was built with: a mismatch means a stale build of
    // functions/docs (its build is redone when functions/ or shared/ changes, not docs/).
    assert.deepEqual(res.json, DOC, `${what}: the served document is docs/openapi.json (rebuild functions/docs if docs/ changed)`);
  }
});

test('docs answers its page to a browser, self-contained', async () => {
  const res = await fn('docs', { headers: { accept: BROWSER_ACCEPT, origin: 'https://app.example' } });
  assert.equal(res.status, 200, show(res));
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  assert.ok(res.headers.get('access-control-allow-headers'), 'the CORS headers of every function');
  assert.ok(res.text.includes('<script type="application/json" id="openapi">'), 'the document is inlined');
  // docs/docs.html with docs/openapi.json in its slot (`</` escaped): else the build is stale.
  const page = readFileSync(path.join(ROOT, 'docs/docs.html'), 'utf8')
    .replace('/*OPENAPI*/', () => readFileSync(path.join(ROOT, 'docs/openapi.json'), 'utf8').replaceAll('</', '<\\/'));
  assert.ok(res.text === page, 'the page is docs/docs.html with docs/openapi.json inlined (rebuild functions/docs if docs/ changed)');
  // Nothing to fetch: no external script, stylesheet, image, frame, font or import.
  assert.doesNotMatch(res.text, /<(script|img|iframe|link)\b[^>]*\s(src|href)=/i, 'no element loads a resource');
  assert.doesNotMatch(res.text, /@import|url\(\s*['"]?(https?:)?\/\//i, 'no CSS import or remote url()');
  assert.equal((await fn('docs', { query: { format: 'html' } })).headers.get('content-type')?.split(';')[0], 'text/html');
});

test('docs refuses a bad format, a sub-path and other methods with the error envelope', async () => {
  fails(await fn('docs', { query: { format: 'yaml' } }), 400, 'validation_error', 'format');
  fails(await fn('docs/openapi.json'), 404, 'not_found');
  const res = await fn('docs', { method: 'DELETE' });
  fails(res, 405, 'method_not_allowed');
  // POST is the same read (API.md §1: supabase-js invokes with POST).
  const posted = await fn('docs', { method: 'POST', body: {}, headers: { accept: 'application/json' } });
  assert.equal(posted.status, 200, posted.text.slice(0, 200));
  assert.match(posted.json.openapi, /^3\.1/);
  assert.equal(res.headers.get('allow'), 'GET, POST, OPTIONS');
});

test('Chromium renders every function, error code and schema of the document', async () => {
  const bin = chromium();
  assert.ok(bin, 'no chromium: `make setup` installs the Debian package (or set CHROMIUM_BIN)');
  const dom = await browse(bin, URL_DOCS, ['--dump-dom']);
  const main = /<main id="main"[^>]*>([\s\S]*)<\/main>/.exec(dom)?.[1];
  assert.ok(main, `the page has no <main>: ${dom.slice(0, 300)}`);
  const shown = text(main);
  assert.ok(!shown.includes('renders the OpenAPI document with JavaScript'), 'the script ran (the <noscript> text is gone)');

  const names = new Set(readdirSync(path.join(ROOT, 'functions')).filter((n) => existsSync(path.join(ROOT, 'functions', n, 'Cargo.toml'))));
  for (const p of Object.keys(DOC.paths)) names.add(p.split('/')[3]); // aliases (get-recent-logs)
  const missing = [...names].filter((n) => !shown.includes(`/functions/v1/${n}`));
  assert.deepEqual(missing, [], `functions missing from the rendered page: ${missing.join(', ')}`);
  const codes = DOC.components.schemas.ErrorCode.enum.filter((c) => !shown.includes(c));
  assert.deepEqual(codes, [], 'error codes missing from the rendered page');
  const schemas = Object.keys(DOC.components.schemas).filter((s) => !main.includes(`id="schema-${s}"`));
  assert.deepEqual(schemas, [], 'schemas without their section');
  const operations = Object.values(DOC.paths).flatMap((item) => ['get', 'post', 'put', 'patch', 'delete'].filter((m) => item[m]).map((m) => item[m].operationId));
  const unrendered = operations.filter((id) => !main.includes(`id="op-${id}"`));
  assert.deepEqual(unrendered, [], 'operations without their section');
  console.log(`[docs-browser] ${bin}: ${names.size} functions, ${operations.length} operations, ${Object.keys(DOC.components.schemas).length} schemas rendered (${dom.length} bytes of DOM)`);

  const shot = path.join(RECORD_DIR ?? mkdtempSync(path.join(tmpdir(), 'hangar-docs-')), 'docs-page.png');
  await browse(bin, URL_DOCS, [`--screenshot=${shot}`]);
  assert.ok(existsSync(shot) && statSync(shot).size > 10_000, `a screenshot at ${shot}`);
  console.log(`[docs-browser] screenshot: ${shot}`);
});
