// Realtime publication (issue 11): migrations/20261201009000_realtime.sql adds machines and
// machine_events to `supabase_realtime` where that publication exists (a Supabase project),
// and does nothing on the local stack, which has none. Here: the migration as applied (no
// publication, nothing published), then the same file run again once a publication exists
// (twice: idempotent). Disruptive: it creates and drops a database-wide publication.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../lib/env.mjs';
import { sql, rows } from '../lib/machines.mjs';

const MIGRATION = readFileSync(join(ROOT, 'migrations', '20261201009000_realtime.sql'), 'utf8');
const published = async () =>
  (await rows`select tablename from pg_publication_tables where pubname = 'supabase_realtime' order by tablename`)
    .map((r) => r.tablename);

test('realtime: without a supabase_realtime publication the migration skips cleanly; with one, machines and machine_events join it once', async () => {
  assert.equal((await rows`select 1 from pg_publication where pubname = 'supabase_realtime'`).length, 0,
    'the local stack has no supabase_realtime publication');
  await sql.unsafe(MIGRATION); // skips again, no error
  try {
    await sql`create publication supabase_realtime`;
    await sql.unsafe(MIGRATION);
    assert.deepEqual(await published(), ['machine_events', 'machines']);
    await sql.unsafe(MIGRATION);
    assert.deepEqual(await published(), ['machine_events', 'machines'], 'run twice: still once each');
  } finally {
    await sql`drop publication if exists supabase_realtime`;
  }
});
