// docs/openapi.json against the code (issue 11), without a stack:
//   - every function (functions/*) and alias (wrangler.toml's routes) has its path in the
//     document, and every documented path is a real function's, or a sub-path of one;
//   - the methods documented for a function are the methods its route declares
//     (`shared::function!(name, [Get, …])`), both ways;
//   - an operation marked `x-hangar-pending` (in the contract, not in the code yet) is one
//     the code does not answer: its function is missing or its route lacks the method;
//   - the error codes are exactly shared/src/error.rs's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (p) => readFileSync(path.join(ROOT, p), 'utf8');
const doc = JSON.parse(read('docs/openapi.json'));
const PREFIX = '/functions/v1/';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

const functions = readdirSync(path.join(ROOT, 'functions'))
  .filter((n) => existsSync(path.join(ROOT, 'functions', n, 'Cargo.toml')))
  .sort();

/** The methods a function's route declares: `shared::function!("me", [Get, Patch], …)`, or
 * for a Worker that wraps the pipeline itself (docs), the `Route` its handler passes. */
function routeMethods(name) {
  const lib = read(`functions/${name}/src/lib.rs`);
  let m = /function!\(\s*"([^"]+)"\s*(?:\/\s*\{id\}\s*)?,\s*\[([^\]]*)\]/.exec(lib);
  if (m) {
    assert.equal(m[1], name, `functions/${name}/src/lib.rs declares the route "${m[1]}"`);
    return m[2].split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  }
  const module = /shared::api::(\w+)::/.exec(lib)?.[1];
  assert.ok(module, `functions/${name}/src/lib.rs: neither shared::function! nor a shared::api handler`);
  m = new RegExp(`Route\\s*\\{\\s*name:\\s*"${name}",\\s*methods:\\s*&\\[([^\\]]*)\\]`).exec(read(`shared/src/api/${module}.rs`));
  assert.ok(m, `shared/src/api/${module}.rs has no Route { name: "${name}", methods: … }`);
  return m[1].split(',').map((s) => s.trim().replace(/^Method::/, '').toLowerCase()).filter(Boolean);
}

/** Route names (the function's and its aliases') → function, from wrangler.toml. */
function routeNames() {
  const envs = parseToml(read('wrangler.toml')).env ?? {};
  const names = new Map();
  for (const fn of functions) {
    assert.ok(envs[fn], `wrangler.toml has no [env.${fn}]: run \`make wrangler\``);
    for (const r of envs[fn].routes ?? []) {
      const m = /\/functions\/v1\/([^/*]+)\*$/.exec(typeof r === 'string' ? r : r.pattern);
      if (m) names.set(m[1], fn);
    }
  }
  return names;
}

const ops = [];
for (const [p, item] of Object.entries(doc.paths)) {
  for (const method of METHODS) if (item[method]) ops.push({ path: p, method, op: item[method] });
}
const nameOf = (p) => p.slice(PREFIX.length).split('/')[0];

test('every function and alias has its path in the document, and every path is a function\'s', () => {
  const names = routeNames();
  const documented = new Set(Object.keys(doc.paths).map((p) => {
    assert.ok(p.startsWith(PREFIX), `${p} is not under ${PREFIX}`);
    return nameOf(p);
  }));
  const missing = [...names.keys()].filter((n) => !doc.paths[`${PREFIX}${n}`]);
  assert.deepEqual(missing, [], `functions (or aliases) with no path in docs/openapi.json: ${missing.join(', ')}`);
  const strangers = [...documented].filter((n) => !names.has(n) && !ops.every((o) => nameOf(o.path) !== n || o.op['x-hangar-pending']));
  assert.deepEqual(strangers, [], `documented paths that are no function's: ${strangers.join(', ')}`);
  console.log(`[openapi] ${functions.length} functions, ${names.size} route names, ${Object.keys(doc.paths).length} paths, ${ops.length} operations`);
});

test('the documented methods are the methods each route declares', () => {
  const names = routeNames();
  const problems = [];
  for (const [name, fn] of names) {
    const declared = new Set(routeMethods(fn));
    // A read (GET) with no POST of its own answers POST as that read (API.md §1; serve.rs).
    if (declared.has('get') && !declared.has('post')) declared.add('post');
    const mine = ops.filter((o) => nameOf(o.path) === name);
    const answered = new Set(mine.filter((o) => !o.op['x-hangar-pending']).map((o) => o.method));
    const all = new Set(mine.map((o) => o.method));
    for (const m of answered) if (!declared.has(m)) problems.push(`${name}: ${m.toUpperCase()} is documented but the route does not declare it`);
    for (const m of declared) if (!all.has(m)) problems.push(`${name}: the route declares ${m.toUpperCase()} but no operation documents it`);
    for (const o of mine.filter((x) => x.op['x-hangar-pending'] && declared.has(x.method))) {
      problems.push(`${o.method.toUpperCase()} ${o.path}: the route declares ${o.method.toUpperCase()}; remove its x-hangar-pending ("${o.op['x-hangar-pending']}") and check the operation against the code`);
    }
  }
  for (const o of ops.filter((x) => x.op['x-hangar-pending'] && !names.has(nameOf(x.path)))) {
    assert.ok(!functions.includes(nameOf(o.path)), `${o.path}: functions/${nameOf(o.path)} exists`);
  }
  assert.deepEqual(problems, []);
});

test('operations: unique ids, a success response, the error envelope on every 4xx/5xx', () => {
  const ids = new Map();
  const problems = [];
  for (const { path: p, method, op } of ops) {
    const where = `${method.toUpperCase()} ${p}`;
    if (ids.has(op.operationId)) problems.push(`${where}: operationId ${op.operationId} also names ${ids.get(op.operationId)}`);
    ids.set(op.operationId, where);
    const statuses = Object.keys(op.responses ?? {});
    if (!statuses.some((s) => /^2\d\d$/.test(s))) problems.push(`${where}: no 2xx response`);
    for (const s of statuses.filter((x) => Number(x) >= 400)) {
      const r = op.responses[s];
      const named = r.$ref ? r.$ref.split('/').pop() : null;
      const schema = (named ? doc.components.responses[named] : r).content?.['application/json']?.schema;
      const envelope = JSON.stringify(schema ?? {}).includes('#/components/schemas/ErrorEnvelope') || named === null && s === '503';
      if (!envelope) problems.push(`${where}: ${s} is not the error envelope`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the error codes are those of shared/src/error.rs, each under its status', () => {
  const src = read('shared/src/error.rs');
  const codeFn = src.slice(src.indexOf('pub fn code('), src.indexOf('pub fn message('));
  const statusFn = src.slice(src.indexOf('pub fn status('), src.indexOf('pub fn code('));
  const codes = new Map(); // variant → code
  for (const m of codeFn.matchAll(/((?:\w+(?:\s*\{\s*\.\.\s*\}|\(_\))?\s*\|?\s*)+)=>\s*"([a-z_]+)"/g)) {
    for (const v of m[1].split('|')) codes.set(v.trim().replace(/[\s({].*$/, ''), m[2]);
  }
  const statusOf = new Map();
  for (const m of statusFn.matchAll(/((?:\w+(?:\s*\{\s*\.\.\s*\}|\(_\))?\s*\|?\s*)+)=>\s*(\d{3})/g)) {
    for (const v of m[1].split('|')) statusOf.set(codes.get(v.trim().replace(/[\s({].*$/, '')), Number(m[2]));
  }
  const schema = doc.components.schemas.ErrorCode;
  assert.deepEqual([...new Set(codes.values())].sort(), [...schema.enum].sort(), 'ErrorCode enum = the codes of ApiError::code');
  for (const c of schema.enum) {
    assert.equal(schema['x-enumStatuses'][c], statusOf.get(c), `the status of ${c}`);
    const response = Object.values(doc.components.responses).find((r) =>
      r.content['application/json'].schema.allOf?.[1]?.properties?.error_code?.enum?.includes(c));
    assert.ok(response, `a components.responses entry answers ${c}`);
  }
});
