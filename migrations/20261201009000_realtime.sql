-- Live status for frontends (Supabase Realtime, `postgres_changes`): machines and their
-- events join the `supabase_realtime` publication. Realtime applies the tables' RLS to each
-- subscriber, so a user hears only about the rows they may select.
--
-- Only where the publication exists (a Supabase project): the local stack's plain Postgres
-- has none, and this migration does nothing there. Idempotent: a table already in the
-- publication is not added twice.
do $$
declare
  t pg_catalog.text;
begin
  if not exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime') then
    raise notice 'no supabase_realtime publication: machines and machine_events are not published';
    return;
  end if;
  foreach t in array array['machines', 'machine_events'] loop
    if not exists (select 1 from pg_catalog.pg_publication_tables
        where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = t) then
      execute pg_catalog.format('alter publication supabase_realtime add table public.%I', t);
    end if;
  end loop;
end $$;
