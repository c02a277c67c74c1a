-- Operator limits (API.md §1). The database enforces them, so they live here rather
-- than in a Worker's variables, which a caller of /rpc would bypass. Change one with
-- `update private.settings set value = 20 where name = 'max_machines_per_account'`.

create table private.settings (
  name text primary key,
  value bigint not null
);
insert into private.settings (name, value) values
  ('max_machines_per_account', 10),
  ('max_pending_jobs_per_machine', 5),
  -- The credits of a new account, on both sign-in paths (exchange, Supabase Auth).
  ('signup_credits_cents', 1000),
  -- SSH keys one account may keep (ssh-keys, API.md §7).
  ('max_ssh_keys_per_account', 50);
revoke all on private.settings from public, anon, authenticated;
grant select on private.settings to service_role;

create or replace function private.setting(p_name text) returns bigint
language sql stable set search_path = '' as $$
  select s.value from private.settings s where s.name = p_name
$$;
revoke all on function private.setting(text) from public, anon, authenticated;
