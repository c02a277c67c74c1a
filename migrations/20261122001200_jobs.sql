-- Jobs: the outbox of work for the runner (API.md §5). A transition writes its job in
-- the same transaction; the request that wrote it delivers it right after commit, and
-- the scheduler takes over a delivery that did not settle (20261122002200_outbox.sql).
-- action is one of private.job_actions. Whoever sees the machine reads its jobs (owner_id
-- is the machine's creator).

create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  action text not null references private.job_actions (action),
  status text not null default 'queued' check (status in ('queued', 'dispatched', 'running', 'succeeded', 'failed')),
  attempts int not null default 0,
  next_attempt_at timestamptz not null default now(),
  -- Exactly what the runner reads (API.md §5); the settings of a deploy sit one level in.
  params jsonb not null default '{}' check (private.jsonb_depth(params) <= 17),
  result jsonb check (result is null or private.jsonb_depth(result) <= 32),
  error text,
  -- Set when the runner acknowledged a delivery (2xx). A job `dispatched` without it is
  -- being handed over: its lease (next_attempt_at) lets the scheduler retry it if the
  -- Worker that was delivering it died.
  delivered_at timestamptz,
  -- Set when a delete superseded the job; the runner may still run it (API.md §5).
  cancelled_at timestamptz,
  -- The claim (API.md §5, "Claims"): the runner that runs the job, the fencing number of
  -- its claim (each claim adds one; a report carrying another number is 409 and changes
  -- nothing) and the end of its lease (job_lease_seconds; each report renews it, a final
  -- report ends it). The scheduler's reaper re-queues a running job whose lease ran out.
  claimed_by text check (claimed_by is null or claimed_by ~ '^[A-Za-z0-9._:-]{1,128}$'),
  fence bigint not null default 0,
  lease_expires_at timestamptz,
  -- cancel-job on a deploy or command job that a runner is running: the answer to its next
  -- report says `cancel`, and it interrupts the job.
  cancel_requested_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp()
);
create index jobs_machine on public.jobs (machine_id, created_at desc);
create index jobs_due on public.jobs (next_attempt_at)
  where status in ('queued', 'dispatched') and delivered_at is null;
-- The reaper's scans (private.reap_jobs): leases, deliveries never claimed, and unfinished
-- jobs by age.
create index jobs_leases on public.jobs (lease_expires_at) where lease_expires_at is not null;
create index jobs_delivered on public.jobs (delivered_at) where status = 'dispatched';
create index jobs_unfinished on public.jobs (created_at) where status in ('queued', 'dispatched', 'running');
create trigger jobs_touch before update on public.jobs
  for each row execute function private.touch_updated_at();

alter table public.jobs enable row level security;
-- Visible with its machine, as the machines policy says: to its creator (owner_id, copied
-- from the machine, which also spares the creator's reads the subquery) and to the members
-- of its team.
create policy jobs_select on public.jobs for select to authenticated
  using (owner_id = (select auth.uid())
    or machine_id in (select m.id from public.machines m where m.team_id = any ((select private.my_teams())::uuid[])));

revoke all on public.jobs from anon, authenticated;
grant all on public.jobs to service_role;
grant select on public.jobs to authenticated;
