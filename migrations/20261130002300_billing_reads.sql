-- What a user reads about money (API.md §3, §4): get-billing. SECURITY INVOKER: RLS lets
-- the caller see only their own account, machines and billing records. (The cost fields
-- of every Machine are in private.machine_json, 20261122001600_json_shapes.sql.)

-- get-billing: {balanceCents, records (a keyset page on (created_at, id), newest first),
-- usage: {period, totalCents, machines: [{machineId, name, hours, cents}]}, next}. The
-- usage of a month is its charges whose covered time ends in it (UTC); the meter runs
-- every minute, so a charge straddling midnight on the 1st is at most a few minutes of
-- the month before. p_period is the month's first day (default: the current month).
-- VOLATILE: a Supabase Auth caller's account is made on first use (ensure_account).
create or replace function public.hangar_get_billing(
  p_limit int default null, p_cursor_ts timestamptz default null, p_cursor_id uuid default null, p_period date default null
) returns jsonb
language plpgsql volatile security invoker set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  page_size int := least(greatest(coalesce(p_limit, 50), 1), 100);
  month_start pg_catalog.timestamptz;
  month_end pg_catalog.timestamptz;
  balance bigint;
  items pg_catalog.jsonb;
  more boolean;
  last_ts pg_catalog.timestamptz;
  last_id pg_catalog.uuid;
  usage pg_catalog.jsonb;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  -- The Worker's `period` is YYYY-MM (domain::Month); a caller of /rpc gets the same 400.
  if p_period is not null and (p_period not between '0001-01-01' and '9999-12-31') then
    return private.refuse('validation_error', '`period` must be a month, YYYY-MM', jsonb_build_object('field', 'period'));
  end if;
  perform private.ensure_account();
  select credit_balance_cents into balance from public.accounts where id = uid;
  if not found then
    return private.refuse('not_found', 'Account not found');
  end if;
  month_start := (date_trunc('month', coalesce(p_period, (now() at time zone 'UTC')::pg_catalog.date)))::pg_catalog.timestamp at time zone 'UTC';
  month_end := ((month_start at time zone 'UTC') + interval '1 month') at time zone 'UTC';

  with page as (
    select r, row_number() over (order by r.created_at desc, r.id desc) as n
    from public.billing_records r
    where r.account_id = uid
      and (p_cursor_ts is null or (r.created_at, r.id) < (p_cursor_ts, p_cursor_id))
    order by r.created_at desc, r.id desc
    limit page_size + 1)
  select coalesce(jsonb_agg(private.billing_record_json(page.r) order by n) filter (where n <= page_size), '[]'),
         count(*) > page_size,
         max((page.r).created_at) filter (where n = page_size),
         (array_agg((page.r).id) filter (where n = page_size))[1]
    into items, more, last_ts, last_id
  from page;

  with charges as (
    select r.machine_id, sum(r.amount_cents) as cents, sum(coalesce(r.usage_seconds, 0)) as seconds
    from public.billing_records r
    where r.account_id = uid and r.kind = 'charge'
      and r.period_end >= month_start and r.period_end < month_end
    group by r.machine_id)
  select jsonb_build_object(
    'period', to_char(month_start at time zone 'UTC', 'YYYY-MM'),
    'totalCents', coalesce(sum(c.cents), 0),
    'machines', coalesce(jsonb_agg(jsonb_build_object(
        'machineId', c.machine_id, 'name', m.name,
        'hours', round(c.seconds / 3600, 4), 'cents', c.cents)
      order by c.cents desc, c.machine_id) filter (where c.machine_id is not null), '[]'))
    into usage
  from charges c left join public.machines m on m.id = c.machine_id;

  return private.ok(jsonb_build_object('balanceCents', balance, 'records', items, 'usage', usage,
    'next', case when more then private.page_cursor(last_ts, last_id) end));
end $$;
revoke all on function public.hangar_get_billing(int, timestamptz, uuid, date) from public, anon;
grant execute on function public.hangar_get_billing(int, timestamptz, uuid, date) to authenticated, service_role;
