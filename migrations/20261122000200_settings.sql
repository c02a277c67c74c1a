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
  -- Rates the database holds for every caller, /rpc included (API.md §1): machine
  -- creations per account per hour, transitions of one machine per minute, events one
  -- machine's users log per minute. Beyond them: `rate_limited` (429).
  ('max_machine_creates_per_hour', 60),
  ('max_actions_per_machine_per_minute', 20),
  ('max_events_per_machine_per_minute', 60),
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

-- The `rate_limited` refusal (429) once p_current rows fall in a sliding window of
-- p_window that setting p_name allows: null below it. p_oldest is the oldest row in the
-- window; the caller may retry when it leaves (Retry-After, at least 1 s).
create or replace function private.rate_refusal(p_name text, p_current bigint, p_oldest timestamptz, p_window interval) returns jsonb
language plpgsql stable set search_path = '' as $$
declare
  lim bigint := private.setting(p_name);
begin
  if lim is null or p_current < lim then
    return null;
  end if;
  return private.refuse('rate_limited', format('Too many requests: at most %s per %s', lim, p_window),
    jsonb_build_object('limit', lim, 'current', p_current,
      'retryAfterSeconds', greatest(1, ceil(extract(epoch from (coalesce(p_oldest, now()) + p_window - now()))))::int));
end $$;
revoke all on function private.rate_refusal(text, bigint, timestamptz, interval) from public, anon, authenticated;
