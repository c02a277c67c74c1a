-- The meter (API.md §4): one SQL function, hangar_meter(now), that the scheduler runs
-- every minute (cron, and its service-role POST). Service role only. In one transaction:
--
--  1. Charges. Every machine that owes at least one cent at p_now — its billed_remainder
--     plus, while its status is billed, the time from last_billed_at to p_now at its
--     tier's price (units of 20261130002000_metering_schema.sql) — is charged the whole
--     cents: one `charge` billing record (covering last_charged_at .. the moment it is
--     billed up to, with the billed time in usage_seconds), the balance lowered by as
--     much, last_billed_at moved to p_now, the sub-cent rest kept in billed_remainder.
--     Machines owing less are left untouched (their clock keeps running), but for a
--     terminated one, which will owe nothing more: its last fraction of a cent is charged
--     as one cent and its remainder is then zero, so a machine deleted before it owed a
--     whole cent still pays, once (API.md §4 "Every second is paid"). A p_now earlier
--     than a machine's last_billed_at adds no time: nothing is charged twice, and a run
--     at the same p_now again finds nothing to charge.
--  2. Stops. Every machine that may be stopped (the transition table's `stop`) and whose
--     account is at or below zero is moved to `stopping` with a stop job and its event,
--     as hangar_machine_action does, plus a `billing.out_of_credits` event that says why.
--     The jobs are returned for the Worker to deliver at once (hand-off rule, API.md §5).
--
-- p_account_id limits both steps to one account (tests, operators); the cron meters all.
-- p_now defaults to the database clock, which the transitions' trigger also uses.
--
-- Locks: runs are serialized by an advisory lock (two runs would lock accounts in
-- different orders). Machines are locked SKIP LOCKED, so a run never waits on a
-- transition in progress: that machine is charged by the next run (the outcome's
-- `skipped` lists them). Accounts are locked after machines, as start-machine does
-- (machine, then account); nothing locks an account and then waits for a machine, so
-- the meter and the transitions cannot deadlock.

create or replace function public.hangar_meter(p_now timestamptz default null, p_account_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  t_now pg_catalog.timestamptz := coalesce(p_now, now());
  per_cent bigint := private.units_per_cent();
  charges int;
  charged bigint;
  mach public.machines;
  tr private.machine_transitions;
  j public.jobs;
  balance bigint;
  skipped pg_catalog.jsonb;
  stopped pg_catalog.jsonb := '[]';
  deliveries pg_catalog.jsonb := '[]';
begin
  perform pg_advisory_xact_lock(7460000, 1);

  with due as (
    -- A read first, without locks: only the machines owing a cent are locked.
    select m.id
    from public.machines m
    join public.tiers t on t.id = m.tier
    join private.machine_statuses s on s.status = m.status
    where (p_account_id is null or m.owner_id = p_account_id)
      and (coalesce(m.billed_remainder, 0) >= per_cent
        or (m.status = 'terminated' and m.billed_remainder > 0)
        or (s.billed and m.last_billed_at < t_now
          and coalesce(m.billed_remainder, 0) + t.price_per_month_cents::numeric * private.elapsed_us(m.last_billed_at, t_now) >= per_cent))
  ), locked as (
    -- The rows as they are now (a transition may have committed since the read).
    select m.* from public.machines m
    where m.id in (select id from due)
    order by m.id
    for update skip locked
  ), owed as (
    select l.id, l.owner_id, l.name, l.tier, l.last_billed_at, l.last_charged_at, e.us,
      l.status = 'terminated' as final,
      coalesce(l.billed_remainder, 0) + t.price_per_month_cents::numeric * e.us as units,
      coalesce(l.billed_remainder_us, 0) + e.us as usage_us
    from locked l
    join public.tiers t on t.id = l.tier
    join private.machine_statuses s on s.status = l.status
    cross join lateral (select case when s.billed then private.elapsed_us(l.last_billed_at, t_now) else 0 end as us) e
  ), charge as (
    -- A terminated machine pays its last fraction of a cent as a whole one (API.md §4):
    -- at most one cent rounded up per machine lifetime, and nothing is left owing.
    select o.*, (case when o.final then ceil(o.units / per_cent) else floor(o.units / per_cent) end)::bigint as cents,
      -- The moment the machine is now billed up to.
      case when o.us > 0 then t_now else o.last_billed_at end as upto
    from owed o
    where o.units >= per_cent or (o.final and o.units > 0)
  ), machines_charged as (
    update public.machines m set
      last_billed_at = c.upto,
      billed_remainder = greatest(c.units - c.cents::numeric * per_cent, 0)::bigint,
      billed_remainder_us = 0,
      last_charged_at = c.upto
    from charge c
    where m.id = c.id
    returning m.id
  ), records as (
    insert into public.billing_records (account_id, machine_id, kind, amount_cents, description,
      period_start, period_end, usage_seconds)
    select c.owner_id, c.id, 'charge', c.cents,
      left(format('%s (%s): %s h', c.name, c.tier, round(c.usage_us / 3600000000.0, 4)), 200),
      least(coalesce(c.last_charged_at, c.upto), c.upto), c.upto, c.usage_us / 1000000.0
    from charge c
    returning account_id, amount_cents
  ), balances as (
    update public.accounts a set credit_balance_cents = a.credit_balance_cents - r.total
    from (select account_id, sum(amount_cents) as total from records group by account_id) r
    where a.id = r.account_id
    returning a.id
  )
  select (select count(*) from charge), (select coalesce(sum(cents), 0) from charge),
    (select coalesce(jsonb_agg(d.id), '[]') from due d where d.id not in (select id from locked))
    into charges, charged, skipped;

  -- Accounts at or below zero: stop what runs.
  for mach in
    select mm.* from public.machines mm
    join public.accounts a on a.id = mm.owner_id
    where a.credit_balance_cents <= 0
      and (p_account_id is null or mm.owner_id = p_account_id)
      and exists (select 1 from private.machine_transitions x
        where x.action = 'stop' and x.from_status = mm.status and x.job_action is not null)
    order by mm.id
    for update of mm skip locked
  loop
    select * into tr from private.machine_transitions where action = 'stop' and from_status = mach.status;
    select credit_balance_cents into balance from public.accounts where id = mach.owner_id;
    update public.machines set status = tr.to_status where id = mach.id returning * into mach;
    j := private.enqueue(mach, tr.job_action, '{}', 'machine.stop_requested', 'system');
    insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
    values (mach.id, mach.owner_id, 'billing.out_of_credits', jsonb_build_object(
      'reason', 'out_of_credits',
      'message', 'The account is out of credits, so the machine is being stopped. Add credits to start it again.',
      'balanceCents', balance, 'jobId', j.id), 'warn', 'system');
    stopped := stopped || to_jsonb(mach.id);
    deliveries := deliveries || jsonb_build_array(private.delivery(j));
  end loop;

  return private.ok(jsonb_build_object('at', private.ts(t_now), 'charges', charges, 'chargedCents', charged,
    'skipped', skipped, 'stopped', stopped, 'deliveries', deliveries));
end $$;
revoke all on function public.hangar_meter(timestamptz, uuid) from public, anon, authenticated;
grant execute on function public.hangar_meter(timestamptz, uuid) to service_role;
