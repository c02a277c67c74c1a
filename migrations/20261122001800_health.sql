-- health: the database answers (the health function calls it as the service role), with
-- the count of secrets a key rotation set aside as unopenable (private.unopenable_secrets,
-- 20261201002100_secret_functions.sql; PL/pgSQL, so that it may name a later function).

create or replace function public.hangar_health() returns jsonb
language plpgsql stable set search_path = '' as $$
begin
  return private.ok(jsonb_build_object('database', 'ok', 'unopenableSecrets', private.unopenable_secrets()));
end $$;
revoke all on function public.hangar_health() from public, anon, authenticated;
grant execute on function public.hangar_health() to service_role;
