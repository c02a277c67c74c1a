-- What metering keeps (API.md §4): each machine's billing clock, the time a charge
-- covers, and the index that finds accounts at or below zero. The meter itself is
-- hangar_meter (20261130002200_metering.sql).
--
-- A machine costs its tier's monthly price per 730 hours for as long as its status is a
-- billed one (private.machine_statuses.billed: provisioning, starting, running,
-- restarting). Money is counted exactly, in *units*: one cent is 730 h × 3600 s × 10⁶ µs
-- = 2,628,000,000,000 units, and Δ µs at a monthly price of p cents cost p·Δ units (so
-- 730 h of dev.small, 600 cents a month, are exactly 600 cents). Timestamps have µs
-- resolution, so the arithmetic loses nothing; only whole cents are charged, and what is
-- left over stays on the machine until it adds up to a cent.
--
-- Two writers, one rule each:
--  * private.machine_clock, the trigger below, on every status change whichever function
--    makes it (a user's action, a runner callback, a failed job, a project's cascade, the
--    meter's own stop): leaving a billed status accrues the time since last_billed_at
--    into billed_remainder (and billed_remainder_us) on the row itself; entering one
--    starts the clock at now(). It writes only the machine row, which the transition has
--    locked already: never the account, so a transition never waits on the meter.
--  * hangar_meter turns what a machine owes (its remainder, plus the time since
--    last_billed_at if it is billed now) into a charge when that comes to at least one
--    cent, with its billing record, in one statement. A machine owing less is not
--    touched at all, so a run over thousands of running machines writes only the few
--    that crossed a cent since the last run.
-- last_billed_at never moves backwards: a meter run (or a transition) at an earlier
-- moment than the clock finds nothing elapsed and changes nothing. Together: each µs of
-- billed time is counted once, however often or late the meter runs.

-- The two counters read NULL as 0: they are not NOT NULL only so that a copy of the table
-- made with LIKE (without its defaults), as tests/e2e/security/hardening.test.mjs makes,
-- still takes the rows it took before.
alter table public.machines
  -- Billed time is accounted for (charged, or in billed_remainder) up to this moment.
  add column last_billed_at timestamptz,
  -- Accounted but not yet charged, in units (1/2,628,000,000,000 cent). Less than one
  -- cent right after a charge; more while a stopped machine waits for the next run.
  add column billed_remainder bigint default 0 check (billed_remainder >= 0),
  -- The billed time behind billed_remainder that no record covers yet, in µs (usage
  -- hours are counted exactly even though charges come in whole cents).
  add column billed_remainder_us bigint default 0 check (billed_remainder_us >= 0),
  -- Where the machine's next charge record starts: the end of its last one.
  add column last_charged_at timestamptz;

-- Machines already billed when this migration runs start their clock now.
update public.machines m set last_billed_at = now(), last_charged_at = now()
from private.machine_statuses s
where s.status = m.status and s.billed;

-- Units per cent: 730 h of µs.
create or replace function private.units_per_cent() returns bigint
language sql immutable parallel safe set search_path = '' as $$
  select 2628000000000::bigint
$$;
revoke all on function private.units_per_cent() from public, anon, authenticated;

-- µs from p_from to p_to; 0 when p_to is not later (time never runs backwards here).
create or replace function private.elapsed_us(p_from timestamptz, p_to timestamptz) returns bigint
language sql immutable parallel safe set search_path = '' as $$
  select case when p_from is null or p_to is null or p_to <= p_from then 0
    else (extract(epoch from (p_to - p_from)) * 1000000)::bigint end
$$;
revoke all on function private.elapsed_us(timestamptz, timestamptz) from public, anon, authenticated;

-- The machine's billing clock on every status change (see the top of this file).
create or replace function private.machine_clock() returns trigger
language plpgsql set search_path = '' as $$
declare
  was_billed boolean := false;
  is_billed boolean;
  t pg_catalog.timestamptz := now();
  us bigint;
begin
  if tg_op = 'UPDATE' then
    if new.status is not distinct from old.status then
      return new;
    end if;
    select s.billed into was_billed from private.machine_statuses s where s.status = old.status;
  end if;
  select s.billed into is_billed from private.machine_statuses s where s.status = new.status;
  if was_billed and not is_billed then
    us := private.elapsed_us(new.last_billed_at, t);
    if us > 0 then
      -- The tier cannot change while billed (update-machine: only while stopped).
      new.billed_remainder := coalesce(new.billed_remainder, 0)
        + us * (select price_per_month_cents from public.tiers where id = old.tier);
      new.billed_remainder_us := coalesce(new.billed_remainder_us, 0) + us;
      new.last_billed_at := t;
    end if;
  elsif is_billed and not was_billed then
    new.last_billed_at := greatest(coalesce(new.last_billed_at, t), t);
    new.last_charged_at := coalesce(new.last_charged_at, new.last_billed_at);
  end if;
  return new;
end $$;
revoke all on function private.machine_clock() from public, anon, authenticated;

create trigger machines_clock before insert or update of status on public.machines
  for each row execute function private.machine_clock();

-- A charge record says how much billed time it covers (usage hours in get-billing).
alter table public.billing_records
  add column usage_seconds numeric(16, 6) check (usage_seconds is null or usage_seconds >= 0);
-- get-billing's monthly usage: an account's charges by the end of the time they cover.
create index billing_records_usage on public.billing_records (account_id, period_end)
  where kind = 'charge';

-- The meter stops the machines of accounts at or below zero: they are few.
create index accounts_overdrawn on public.accounts (id) where credit_balance_cents <= 0;
