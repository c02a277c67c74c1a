// Helpers for the cross-tenant suite: the function crates; the public schema as PostgREST
// exposes it (tables, columns, RPCs, discovered from the catalog, so that a new table or
// function is attacked without editing the tests); a snapshot of everything that belongs
// to one account; a leak scanner for responses.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './env.mjs';
import { rows, sql } from './machines.mjs';

// ---- functions -------------------------------------------------------------------------------

/** Folder names under functions/ that are function crates (one Worker each). */
export function functionNames() {
  const dir = join(ROOT, 'functions');
  return readdirSync(dir).filter((n) => existsSync(join(dir, n, 'Cargo.toml'))).sort();
}

// ---- the public schema -------------------------------------------------------------------------

/** { name, type ('BASE TABLE' | 'VIEW' | …), columns: [{ name, type }] } for every table and view in public. */
export async function publicTables() {
  const cols = await rows`
    select c.table_name as table, c.column_name as name, c.data_type as type, c.udt_name as udt, t.table_type as kind
    from information_schema.columns c join information_schema.tables t
      on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = 'public' order by c.table_name, c.ordinal_position`;
  const out = new Map();
  for (const c of cols) {
    if (!out.has(c.table)) out.set(c.table, { name: c.table, kind: c.kind, columns: [] });
    out.get(c.table).columns.push({ name: c.name, type: c.type, udt: c.udt });
  }
  return [...out.values()];
}

/**
 * Every function in public (what PostgREST serves at /rpc/<name>): name, argument names
 * and types, and who may execute it.
 */
export async function publicFunctions() {
  return rows`
    select p.proname as name, p.oid::regprocedure::text as signature,
      coalesce(p.proargnames, '{}') as arg_names,
      array(select format_type(t, null) from unnest(p.proargtypes::oid[]) t) as arg_types,
      p.pronargdefaults as n_defaults, p.prosecdef as security_definer, p.provolatile as volatility,
      format_type(p.prorettype, null) as returns,
      has_function_privilege('authenticated', p.oid, 'EXECUTE') as authenticated,
      has_function_privilege('anon', p.oid, 'EXECUTE') as anon
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prokind = 'f'
    order by p.proname, p.oid`;
}

/**
 * Everything that belongs to an account, as the superuser sees it: for each table with uuid
 * columns, the rows where any uuid column holds one of the account's ids; for each table
 * without, every row. The ids are the closure from the account id: the uuids of every row
 * found join the set until it stops growing (machines → jobs → callback receipts …).
 * Pass `ids` (from an earlier snapshot) to compare like with like: the same id set, no
 * closure (rows that point at those ids are still found, including new ones).
 * Returns { ids: Set<string>, tables: { [table]: string[] (sorted JSON rows) }, rows: { [table]: object[] } }.
 */
export async function ownedSnapshot(accountId, { tables, ids: frozen } = {}) {
  tables ??= await publicTables();
  const ids = new Set(frozen ?? [accountId]);
  let found = {};
  for (let round = 0; round < (frozen ? 1 : 6); round++) {
    const before = ids.size;
    found = {};
    const arr = [...ids];
    for (const t of tables) {
      const uuidCols = t.columns.filter((c) => c.type === 'uuid');
      const where = uuidCols.length
        ? uuidCols.map((c) => sql`t.${sql(c.name)} = any(${arr}::uuid[])`).reduce((a, b) => sql`${a} or ${b}`)
        : sql`true`;
      found[t.name] = await rows`select to_jsonb(t) as r from public.${sql(t.name)} t where ${where}`.then((rs) => rs.map((x) => x.r));
      if (!uuidCols.length || frozen) continue;
      for (const r of found[t.name]) for (const c of uuidCols) if (r[c.name]) ids.add(r[c.name]);
    }
    if (ids.size === before) break;
  }
  const out = {};
  for (const [t, rs] of Object.entries(found)) out[t] = rs.map((r) => JSON.stringify(r)).sort();
  return { ids, tables: out, rows: found };
}

/** The differences between two snapshots, as readable lines (empty: identical). */
export function snapshotDiff(before, after) {
  const lines = [];
  for (const t of new Set([...Object.keys(before.tables), ...Object.keys(after.tables)])) {
    const a = new Set(before.tables[t] ?? []);
    const b = new Set(after.tables[t] ?? []);
    for (const r of a) if (!b.has(r)) lines.push(`${t}: changed or removed: ${r.slice(0, 400)}`);
    for (const r of b) if (!a.has(r)) lines.push(`${t}: new or changed: ${r.slice(0, 400)}`);
  }
  return lines;
}

// ---- leaks ---------------------------------------------------------------------------------------

const UUID_G = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const TS = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/**
 * The strings that identify an account's data: every uuid in its rows, and every string
 * value (at any depth) of 10+ characters that holds a run of 8+ hex digits (machine and
 * project names made by newName(), DIDs, hashes, instance ids), minus anything that also
 * occurs in `others` (snapshots of the other accounts: shared values are not secrets).
 */
export function secretsOf(snapshot, others = [], extra = []) {
  const collect = (snap) => {
    const out = new Set();
    const walk = (v) => {
      if (typeof v === 'string') {
        for (const u of v.match(UUID_G) ?? []) out.add(u.toLowerCase());
        if (v.length >= 10 && /[0-9a-f]{8}/i.test(v) && !TS.test(v) && v.length <= 300) out.add(v);
      } else if (v && typeof v === 'object') {
        for (const x of Object.values(v)) walk(x);
      }
    };
    for (const rs of Object.values(snap.rows)) for (const r of rs) walk(r);
    return out;
  };
  const mine = collect(snapshot);
  for (const o of others) for (const s of collect(o)) mine.delete(s);
  for (const e of extra) if (e) mine.add(e);
  return [...mine];
}

/**
 * The secrets that appear in a response but not in its request (an echo of what the
 * attacker sent is not a leak). `request` and `response` are strings.
 */
export function leaked(secrets, request, response) {
  const req = request.toLowerCase();
  const res = response.toLowerCase();
  return secrets.filter((s) => {
    const l = s.toLowerCase();
    return res.includes(l) && !req.includes(l);
  });
}

/**
 * Every row of the small tables outside public (operator settings in `private`, say), which
 * no user may change: { "schema.table": string[] (sorted JSON rows) }. Tables of more than
 * 2000 rows are left out.
 */
export async function hiddenSnapshot() {
  const tables = await rows`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_schema not in ('public', 'pg_catalog', 'information_schema', 'pg_toast')
      and table_type = 'BASE TABLE' order by 1, 2`;
  const out = {};
  for (const t of tables) {
    const rel = sql`${sql(t.schema)}.${sql(t.name)}`;
    const [{ n }] = await sql`select count(*)::int as n from ${rel}`;
    if (n > 2000) continue;
    out[`${t.schema}.${t.name}`] = (await rows`select to_jsonb(t) as r from ${rel} t`).map((x) => JSON.stringify(x.r)).sort();
  }
  return out;
}
