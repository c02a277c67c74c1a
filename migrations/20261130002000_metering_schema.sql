-- The machine's billing clock (API.md §4): its columns are on public.machines
-- (last_billed_at, billed_remainder, billed_remainder_us, last_charged_at); this is the
-- trigger that keeps them and its arithmetic. The meter itself is hangar_meter
-- (20261130002200_metering.sql).
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
      new.billed_remainder := new.billed_remainder
        + us * (select price_per_month_cents from public.tiers where id = old.tier);
      new.billed_remainder_us := new.billed_remainder_us + us;
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
