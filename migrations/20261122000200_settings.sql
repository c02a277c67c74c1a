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
  ('max_ssh_keys_per_account', 50),
  -- The provisioning engine (API.md §5, "Claims" and "The reaper"): how long a job may go
  -- without news of the runner (a delivery in flight, a delivered job not yet claimed, a
  -- claimed job without a report) before the scheduler hands it out again. Runners
  -- heartbeat at a third of it (at most every 20 s), read from the claim's answer.
  ('job_lease_seconds', 60),
  -- A lifecycle job not finished this long after it was made fails (job.timed_out) and
  -- its machine goes to error.
  ('job_timeout_create_seconds', 1800),
  ('job_timeout_seconds', 900);
revoke all on private.settings from public, anon, authenticated;
grant select on private.settings to service_role;

create or replace function private.setting(p_name text) returns bigint
language sql stable set search_path = '' as $$
  select s.value from private.settings s where s.name = p_name
$$;
revoke all on function private.setting(text) from public, anon, authenticated;
