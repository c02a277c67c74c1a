// Every SQL function PostgREST exposes, called straight through /rpc with missing, null and
// wrong-typed arguments, as a user and as anon (issue 15, defect 11 and "Prove the class is
// gone"). The functions are read from the catalog, so a new one is swept without a change
// here. Each call must answer in the contract's shape:
//   - a refusal as data: 200 `{ ok: false, error, message }` with an error code of API.md §1;
//   - or, for a function that needs no argument it was not given (a list, `me`), its
//     answer: 200 `{ ok: true, data }`;
//   - or PostgREST's own refusal before the function runs, a 4xx: no grant (anon; a user on a
//     service-role function), or a value its parameter's type cannot take (a string for a
//     uuid or an integer) — PostgREST's error object, naming no table, column or row;
// never a 5xx, a raw error from inside a function (a constraint's violation, its failing
// row, a SQLSTATE of classes 23, XX or P0), or any answer outside these shapes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { rest, show, signIn } from '../lib/api.mjs';
import { sql } from '../lib/machines.mjs';

const CODES = new Set(['invalid_json', 'validation_error', 'unauthorized', 'invalid_token', 'token_expired',
  'insufficient_credits', 'forbidden', 'quota_exceeded', 'not_found', 'method_not_allowed', 'invalid_state_transition',
  'conflict', 'project_not_empty', 'payload_too_large', 'unsupported_media_type', 'rate_limited']);
// What PostgREST (and postrust) answer before a function runs: permission denied, no such
// function for these arguments, a value its type cannot take.
const BEFORE_THE_FUNCTION = /^(42501|42883|PGRST1\d\d|PGRST2\d\d|PGRST3\d\d|PGRST504|22P02|22007|22008|22003|22023|22P05)$/;
const RAW = /violates|failing row|null value in column|constraint|duplicate key|SQLSTATE|stack|panicked|\bat character\b/i;

const nested = (n) => (n === 0 ? 1 : [nested(n - 1)]);

/** A JSON value of the wrong type for a parameter of SQL type `t` (several per type). */
function wrongValues(t) {
  switch (t) {
    case 'uuid': return ['not-a-uuid', 12345, true, { a: 1 }, [1], ''];
    case 'integer': case 'bigint': return ['abc', 1.5, true, { a: 1 }, '99999999999999999999999'];
    case 'boolean': return ['maybe', 2, { a: 1 }];
    case 'timestamp with time zone': return ['not-a-time', 12, true, '2026-13-45T99:00:00Z'];
    case 'date': return ['not-a-date', 12, '2026-02-30'];
    case 'text': return [{ a: 1 }, [1, 2], 42, true, 'x'.repeat(20000)];
    case 'jsonb': return ['"string"', 7, [null], { deep: nested(40) }, 'x'.repeat(20000)];
    default: return [{ unknown: t }];
  }
}

let functions;
let user;

before(async () => {
  user = await signIn();
  functions = await sql`
    select p.proname as name,
      coalesce(array(select unnest(p.proargnames) limit p.pronargs), '{}') as args,
      coalesce(array(select format_type(t, null) from unnest(p.proargtypes) t), '{}') as types,
      has_function_privilege('authenticated', p.oid, 'execute') as for_users,
      has_function_privilege('anon', p.oid, 'execute') as for_anon
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prokind = 'f'
    order by 1`;
});

/** Classifies one answer: 'refusal' | 'answer' | 'postgrest' (or throws, naming the call). */
function classify(res, call) {
  const where = `${call}: ${show(res)}`;
  assert.ok(res.status < 500, `never a 5xx: ${where}`);
  assert.doesNotMatch(res.text, RAW, `no raw database error: ${where}`);
  if (res.status === 200) {
    assert.ok(res.json && typeof res.json === 'object' && typeof res.json.ok === 'boolean', `the outcome shape: ${where}`);
    if (res.json.ok) return 'answer';
    assert.ok(CODES.has(res.json.error), `a contract error code: ${where}`);
    assert.equal(typeof res.json.message, 'string', where);
    return 'refusal';
  }
  assert.ok(res.status >= 400, where);
  const code = res.json?.code;
  assert.ok(typeof code === 'string' && BEFORE_THE_FUNCTION.test(code), `a refusal before the function runs: ${where}`);
  return 'postgrest';
}

test('every function /rpc exposes refuses missing, null and wrong-typed arguments in the contract\'s shape, as a user and as anon', { timeout: 240000 }, async () => {
  assert.ok(functions.length >= 40, `${functions.length} functions`);
  const tally = { refusal: 0, answer: 0, postgrest: 0 };
  const perRole = { user: 0, anon: 0 };
  let calls = 0;
  for (const f of functions) {
    const bodies = [['missing', {}], ['null', Object.fromEntries(f.args.map((a) => [a, null]))]];
    f.args.forEach((a, i) => {
      for (const v of wrongValues(f.types[i])) bodies.push([`${a}=${JSON.stringify(v).slice(0, 40)}`, { [a]: v }]);
    });
    for (const [role, token] of [['user', user.accessToken], ['anon', undefined]]) {
      const allowed = role === 'user' ? f.for_users : f.for_anon;
      for (const [label, body] of bodies) {
        const res = await rest(`/rpc/${f.name}`, { method: 'POST', token, body });
        const kind = classify(res, `${role} ${f.name}(${label})`);
        if (!allowed) assert.equal(kind, 'postgrest', `${role} ${f.name} is not granted: refused before it runs`);
        if (kind === 'answer') {
          // Only a call that needs nothing it lacked may answer: never one of the service role's.
          assert.ok(allowed, `${role} ${f.name}(${label}) answered`);
        }
        tally[kind]++;
        perRole[role]++;
        calls++;
      }
    }
  }
  console.log(`figure: rpc sweep: ${functions.length} functions, ${calls} calls (user ${perRole.user}, anon ${perRole.anon}): ` +
    `${tally.refusal} refusals as data, ${tally.answer} answers, ${tally.postgrest} refused by PostgREST before the function; 0 raw errors, 0 5xx`);
});
