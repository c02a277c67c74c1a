// The OpenAPI document holds true (issue 11). Runs in the final phase, over every response
// of a function that the suite recorded (lib/api.mjs's recorder: responses.jsonl of the
// run), deliberately broken requests included. Each is matched to its operation in
// docs/openapi.json (path template and method) and validated with ajv (JSON Schema
// 2020-12, the dialect of OpenAPI 3.1) against the operation's response for its status:
// the status must be documented, the content type must be the documented one, the body
// must match its schema. Answers outside the documented operations follow the rules of
// the document's introduction:
//   - a path under /functions/v1/ that names no function: 404 `not_found`;
//   - a path or method a function does not document: refused with a 4xx error envelope
//     (a 405 lists every documented method of the path in `Allow`), never served;
//   - OPTIONS: the 204 preflight, or a 403/404 error envelope; HEAD: refused, bodiless;
//   - every answer carries `x-request-id`; answers of the runtime itself (workerd refuses
//     a header too large or a method it does not know before any Worker runs: no
//     `x-request-id`, a plain "ERROR: …" body) are counted, not checked;
//   - an operation marked `x-hangar-pending` (in the contract, not in the code yet) may
//     answer 405 without its method in `Allow`; anything else means the code has it, and
//     the marker must go.
// Every mismatch is reported with the operation, the status and ajv's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { RECORD_DIR, RESPONSES_FILE, recordsFlushed } from '../lib/api.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOC = JSON.parse(readFileSync(path.join(ROOT, 'docs/openapi.json'), 'utf8'));
const PREFIX = '/functions/v1/';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const log = (...a) => console.log('[contract]', ...a);

// ---- the validator ------------------------------------------------------------------------
// The whole document is one schema resource, so `#/components/schemas/…` resolves inside
// it; OpenAPI's own keywords around the schemas are not JSON Schema (strict off), and the
// formats are ajv-formats' (date-time, uuid, …).
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const DOC_ID = 'https://hangar.invalid/openapi.json';
ajv.addSchema({ ...DOC, $id: DOC_ID });
const pointer = (parts) => parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validators = new Map();
function validatorAt(parts) {
  const ref = `${DOC_ID}#/${pointer(parts)}`;
  if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: ref }));
  return validators.get(ref);
}
const errorsText = (v) => ajv.errorsText(v.errors, { separator: '; ', dataVar: 'body' });

// ---- matching a recorded URL to a documented path ------------------------------------------
const templates = Object.keys(DOC.paths).map((p) => ({
  path: p,
  segments: p.slice(PREFIX.length).split('/'),
}));
const functionNames = new Set(templates.map((t) => t.segments[0]));
for (const n of readdirSync(path.join(ROOT, 'functions'))) {
  if (existsSync(path.join(ROOT, 'functions', n, 'Cargo.toml'))) functionNames.add(n);
}

/**
 * `/functions/v1/<name>[/…]` as the functions route it (shared/src/http/serve.rs): the
 * first segment names the function, empty segments after it are dropped. → { name,
 * segments } or null (not under the prefix, or no name).
 */
function route(url) {
  let pathname;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return null;
  }
  if (!pathname.startsWith(PREFIX)) return null;
  const [name, ...rest] = pathname.slice(PREFIX.length).split('/');
  return { name, segments: [name, ...rest.filter(Boolean)] };
}
function documentedPath(segments) {
  return templates.find((t) => t.segments.length === segments.length
    && t.segments.every((s, i) => (/^\{.+\}$/.test(s) ? segments[i] !== '' : s === segments[i])))?.path;
}

// ---- checking one response -----------------------------------------------------------------
const mediaType = (headers) => String(headers?.['content-type'] ?? '').split(';')[0].trim().toLowerCase();
const header = (r, name) => r.headers?.[name] ?? r.headers?.[name.toLowerCase()];

/** Validates `r` against the response object at DOC path `parts` (a $ref followed). */
function checkResponse(r, parts) {
  let response = parts.reduce((node, k) => node?.[k], DOC);
  if (response?.$ref) {
    parts = response.$ref.replace(/^#\//, '').split('/');
    response = parts.reduce((node, k) => node?.[k], DOC);
  }
  const types = Object.keys(response.content ?? {});
  const type = mediaType(r.headers);
  if (!types.length) return r.body === '' ? null : `a body where none is documented: ${excerpt(r.body)}`;
  if (!types.includes(type)) return `content-type ${type || '(none)'} is not one of ${types.join(', ')}`;
  let body = r.body;
  if (type === 'application/json') {
    try {
      body = JSON.parse(r.body);
    } catch {
      return `the body is not JSON: ${excerpt(r.body)}`;
    }
  }
  const v = validatorAt([...parts, 'content', type, 'schema']);
  if (!v(body)) return errorsText(v);
  return null;
}

/** The error envelope (with one of `codes`), for answers outside the documented operations. */
function checkError(r, codes) {
  if (mediaType(r.headers) !== 'application/json') return `content-type ${mediaType(r.headers) || '(none)'}, not the error envelope's application/json`;
  let body;
  try {
    body = JSON.parse(r.body);
  } catch {
    return `not the error envelope (not JSON): ${excerpt(r.body)}`;
  }
  const v = validatorAt(['components', 'schemas', 'ErrorEnvelope']);
  if (!v(body)) return `not the error envelope: ${errorsText(v)}`;
  if (codes && !codes.includes(body.error_code)) return `error_code ${body.error_code}, expected ${codes.join(' or ')}`;
  return null;
}

const excerpt = (text) => String(text ?? '').slice(0, 200).replace(/[A-Za-z0-9_\-.]{32,}/g, '<token>').replace(/\s+/g, ' ');

const byRuntime = (r) => !header(r, 'x-request-id') && /^ERROR: /.test(r.body ?? '');
// An answer to HEAD has no body, an error envelope included.
const bodiless = (r) => (r.body === '' ? null : 'a body in an answer to HEAD');

function check(r) {
  const where = route(r.url);
  if (!where) return null; // PostgREST, the runner, the control endpoint: not the functions
  if (byRuntime(r)) return { key: `the runtime: ${r.status} ${String(r.body).trim()}`, runtime: true, problem: null };
  const method = String(r.method).toLowerCase();
  const { name, segments } = where;
  if (!header(r, 'x-request-id')) return { key: `${r.method} ${PREFIX}${name}`, problem: `no x-request-id header (status ${r.status})` };
  if (!name || !functionNames.has(name)) {
    const key = `${r.method} ${PREFIX}${name || ''}… (no such function)`;
    if (r.status !== 404) return { key, problem: `status ${r.status}, expected 404 not_found` };
    // HEAD here too: `instances/%2e%2e` is `/functions/v1/` once the URL is normalised.
    return { key, problem: method === 'head' ? bodiless(r) : checkError(r, ['not_found']) };
  }
  const p = documentedPath(segments);
  if (method === 'head') {
    const key = `HEAD ${p ?? `${PREFIX}${name}/…`}`;
    return { key, problem: r.status >= 400 && r.status < 500 ? bodiless(r) : `status ${r.status}: no function answers HEAD (4xx expected)` };
  }
  if (method === 'options') {
    const key = `OPTIONS ${p ?? `${PREFIX}${name}/…`}`;
    if (r.status === 204) return { key, problem: r.body === '' ? null : 'a 204 preflight with a body' };
    return { key, problem: [403, 404].includes(r.status) ? checkError(r, ['forbidden', 'not_found']) : `status ${r.status}: a preflight is 204, or 403/404` };
  }
  if (!p) {
    const key = `${r.method} ${PREFIX}${name}/… (an undocumented sub-path)`;
    if (r.status >= 400 && r.status < 500) return { key, problem: checkError(r) };
    return { key, problem: `status ${r.status}: an undocumented path must be refused (4xx), not served` };
  }
  const op = METHODS.includes(method) ? DOC.paths[p][method] : undefined;
  if (!op) {
    const key = `${r.method} ${p} (an undocumented method)`;
    if (!(r.status >= 400 && r.status < 500)) return { key, problem: `status ${r.status}: an undocumented method must be refused (4xx)` };
    const problem = checkError(r);
    if (problem || r.status !== 405) return { key, problem };
    const allow = String(header(r, 'allow') ?? '').toLowerCase().split(',').map((s) => s.trim());
    const missing = METHODS.filter((m) => DOC.paths[p][m] && !DOC.paths[p][m]['x-hangar-pending'] && !allow.includes(m));
    return { key, problem: missing.length ? `Allow "${header(r, 'allow')}" lacks the documented ${missing.join(', ').toUpperCase()}` : null };
  }
  const key = `${r.method} ${p} → ${r.status}`;
  if (op['x-hangar-pending']) {
    const allow = String(header(r, 'allow') ?? '').toLowerCase().split(',').map((s) => s.trim());
    if (r.status === 405 && !allow.includes(method)) return { key, pending: op['x-hangar-pending'], problem: checkError(r, ['method_not_allowed']) };
    return { key, problem: `the operation is marked x-hangar-pending ("${op['x-hangar-pending']}") but the code answers it (${r.status}): remove the marker` };
  }
  if (!op.responses[String(r.status)]) {
    return { key, problem: `status ${r.status} is not documented (documented: ${Object.keys(op.responses).join(', ')}): ${excerpt(r.body)}` };
  }
  return { key, op: `${r.method} ${p}`, problem: checkResponse(r, ['paths', p, method, 'responses', String(r.status)]) };
}

async function* lines(file) {
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of rl) yield line;
}

test('every recorded response of a function matches docs/openapi.json', { skip: !RESPONSES_FILE && 'no run folder to read: the recorder is on in `make test` (or with HANGAR_RECORD_DIR)' }, async () => {
  await recordsFlushed();
  assert.ok(existsSync(RESPONSES_FILE), `no responses were recorded (${RESPONSES_FILE})`);
  const mismatches = new Map(); // key + problem → { count, example }
  const seen = new Map(); // key → count
  const exercised = new Set();
  let checked = 0, pending = 0, cut = 0;
  const runtime = new Map(); // what workerd itself answered → count
  for await (const line of lines(RESPONSES_FILE)) {
    if (!line) continue;
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      cut += 1; // a line cut by a process killed mid-write
      continue;
    }
    const outcome = check(r);
    if (!outcome) continue;
    checked += 1;
    seen.set(outcome.key, (seen.get(outcome.key) ?? 0) + 1);
    if (outcome.op) exercised.add(outcome.op);
    if (outcome.runtime) runtime.set(outcome.key, (runtime.get(outcome.key) ?? 0) + 1);
    if (outcome.pending && !outcome.problem) pending += 1;
    if (!outcome.problem) continue;
    const k = `${outcome.key}: ${outcome.problem}`;
    const m = mismatches.get(k) ?? { count: 0, example: `${r.method} ${r.url.slice(0, 160)} (recorded by ${r.source}) → ${excerpt(r.body)}` };
    m.count += 1;
    mismatches.set(k, m);
  }
  const all = [];
  for (const [p, item] of Object.entries(DOC.paths)) {
    for (const m of METHODS) if (item[m] && !item[m]['x-hangar-pending']) all.push(`${m.toUpperCase()} ${p}`);
  }
  const never = all.filter((o) => !exercised.has(o));
  log(`${checked} responses of functions checked (${RECORD_DIR}), ${seen.size} operation/status pairs; ${pending} answered 405 for an operation still marked x-hangar-pending${cut ? `; ${cut} cut lines skipped` : ''}`);
  if (runtime.size) log(`answered by the runtime before any function ran (not checked): ${[...runtime].map(([k, n]) => `${k.replace('the runtime: ', '')} ×${n}`).join('; ')}`);
  log(`${all.length - never.length} of ${all.length} documented operations answered at least once${never.length ? `; never: ${never.join(', ')}` : ''}`);
  assert.ok(checked > 0, 'no response of a function was recorded: the recorder in lib/api.mjs is broken');
  // The most frequent first; the first SHOWN in full, the rest counted.
  const SHOWN = 60;
  const report = [...mismatches].sort((a, b) => b[1].count - a[1].count).map(([k, m]) => `${k} (${m.count}×, e.g. ${m.example})`);
  const more = report.length > SHOWN ? `\n  … and ${report.length - SHOWN} more` : '';
  assert.equal(report.length, 0, `${report.length} mismatch(es) with docs/openapi.json:\n  ${report.slice(0, SHOWN).join('\n  ')}${more}`);
});
