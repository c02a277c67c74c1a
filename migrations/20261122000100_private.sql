-- The `private` schema, and the small helpers that every later migration uses.
--
-- PostgREST serves `public` only (PGRST_DB_SCHEMAS locally, "Exposed schemas" on
-- Supabase): every function in `public` is an endpoint (/rpc/<name>), and one that takes
-- a row of a public table is also a computed column. So only the functions that a Worker
-- or a user calls live in `public`; helpers, JSON shapes and operator data live here.
-- `authenticated` has USAGE on this schema only because the SECURITY INVOKER reads
-- (hangar_me, hangar_get_machine, …) call the JSON shapes by name as the caller. Each
-- function here revokes PUBLIC's default EXECUTE and is granted to whom needs it; no
-- table here is granted to a user.
--
-- search_path: every function sets `search_path = ''` and names our tables, types and
-- functions with their schema. Built-in functions and operators stay unqualified:
-- pg_catalog is then searched first for them and pg_temp never is. For relations and
-- types pg_temp would be searched first, so built-in type names that are not SQL
-- keywords (text, jsonb, uuid, timestamptz) are written pg_catalog.<name> inside function
-- bodies; keywords (int, bigint, boolean, interval, numeric) always mean pg_catalog's.
create schema if not exists private;
revoke all on schema private from public, anon, authenticated;
grant usage on schema private to authenticated, service_role;

-- An outcome as every hangar_* function answers it and the Workers decode it:
-- {"ok": true, "data": …}, or a refusal {"ok": false, "error": <error_code>, "message",
-- "details"?} that the Worker turns into the error envelope of API.md §1.
create or replace function private.ok(data jsonb) returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_build_object('ok', true, 'data', data)
$$;
revoke all on function private.ok(jsonb) from public, anon, authenticated;
grant execute on function private.ok(jsonb) to authenticated, service_role;

create or replace function private.refuse(code text, message text, details jsonb default null) returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_strip_nulls(jsonb_build_object('ok', false, 'error', code, 'message', message, 'details', details))
$$;
revoke all on function private.refuse(text, text, jsonb) from public, anon, authenticated;
grant execute on function private.refuse(text, text, jsonb) to authenticated, service_role;

-- Timestamps leave the database as RFC 3339 UTC strings, whatever the session time zone.
create or replace function private.ts(t timestamptz) returns text
language sql immutable set search_path = '' as $$
  select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
revoke all on function private.ts(timestamptz) from public, anon, authenticated;
grant execute on function private.ts(timestamptz) to authenticated, service_role;

-- The keyset cursor after a page's last item (`next` of the paged reads; the Worker turns
-- it into `nextCursor`, shared/src/domain/page_cursor.rs): its created_at to the
-- microsecond, so that the next page starts exactly after it, and its id.
create or replace function private.page_cursor(created timestamptz, id uuid) returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_build_object('ts', to_char(created at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'id', id)
$$;
revoke all on function private.page_cursor(timestamptz, uuid) from public, anon, authenticated;
grant execute on function private.page_cursor(timestamptz, uuid) to authenticated, service_role;

-- A keyset page of the lists that page by (created_at, id), newest first (teams, projects,
-- invitations): p_items are up to p_size + 1 items in page order, each with its created_at
-- and id; the page is {<p_name>: the first p_size items, next: the cursor after the last of
-- them, or null when nothing follows}. private.page_size reads `limit` (1..100, default 50).
create type private.page_item as (item jsonb, created timestamptz, id uuid);

create or replace function private.page_size(p_limit int) returns int
language sql immutable set search_path = '' as $$
  select least(greatest(coalesce(p_limit, 50), 1), 100)
$$;
revoke all on function private.page_size(int) from public, anon, authenticated;
grant execute on function private.page_size(int) to authenticated, service_role;

create or replace function private.keyset_page(p_name text, p_items private.page_item[], p_size int) returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_build_object(
    p_name, coalesce((select jsonb_agg(i.item order by o) from unnest(p_items[1:p_size]) with ordinality as i(item, created, id, o)), '[]'),
    'next', case when cardinality(p_items) > p_size then private.page_cursor(p_items[p_size].created, p_items[p_size].id) end)
$$;
revoke all on function private.keyset_page(text, private.page_item[], int) from public, anon, authenticated;
grant execute on function private.keyset_page(text, private.page_item[], int) to authenticated, service_role;

-- Nesting depth of a JSON value: how many arrays/objects deep it goes (a scalar is 0,
-- `{}` is 1). CHECK constraints use it so that nothing too deep to decode is stored:
-- one over-deep row once jammed the scheduler for every tenant.
create or replace function private.jsonb_depth(j jsonb) returns int
language sql immutable parallel safe set search_path = '' as $$
  with recursive walk(v, d) as (
    select j, 1
    union all
    select c.value, w.d + 1
    from walk w
    cross join lateral (
      select e.value from pg_catalog.jsonb_array_elements(
        case when pg_catalog.jsonb_typeof(w.v) = 'array' then w.v else '[]'::pg_catalog.jsonb end) e
      union all
      select e.value from pg_catalog.jsonb_each(
        case when pg_catalog.jsonb_typeof(w.v) = 'object' then w.v else '{}'::pg_catalog.jsonb end) e
    ) c
    where pg_catalog.jsonb_typeof(c.value) in ('array', 'object')
  )
  select case when pg_catalog.jsonb_typeof(j) in ('array', 'object')
    then (select max(d) from walk) else 0 end
$$;
-- CHECK constraints evaluate it as whoever writes the row.
revoke all on function private.jsonb_depth(jsonb) from public;
grant execute on function private.jsonb_depth(jsonb) to anon, authenticated, service_role;

-- updated_at of every table that has one. A trigger needs no EXECUTE grant to fire.
create or replace function private.touch_updated_at() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.updated_at := now();
  return new;
end $$;
revoke all on function private.touch_updated_at() from public, anon, authenticated;
