-- health: the database answers (the health function calls it as the service role).

create or replace function public.hangar_health() returns jsonb
language sql stable set search_path = '' as $$
  select private.ok(jsonb_build_object('database', 'ok'))
$$;
revoke all on function public.hangar_health() from public, anon, authenticated;
grant execute on function public.hangar_health() to service_role;
