-- get-pricing (API.md §4): the tiers and their prices, for anyone, also without a token.
-- SECURITY INVOKER as the caller (anon may read public.tiers). anon has no USAGE on the
-- `private` schema, so the outcome is built here rather than with private.ok.
-- pricePerHourCents is the table's generated column: monthly / 730, rounded up.

create or replace function public.hangar_pricing() returns jsonb
language sql stable security invoker set search_path = '' as $$
  select jsonb_build_object('ok', true, 'data', jsonb_build_object(
    'tiers', coalesce(jsonb_agg(jsonb_build_object(
        'id', t.id,
        'cpu', t.cpu,
        'memoryMb', t.memory_mb,
        'diskGb', t.disk_gb,
        'pricePerMonthCents', t.price_per_month_cents,
        'pricePerHourCents', t.price_per_hour_cents)
      order by t.price_per_month_cents, t.id), '[]'),
    'currency', 'USD'))
  from public.tiers t
$$;
revoke all on function public.hangar_pricing() from public;
grant execute on function public.hangar_pricing() to anon, authenticated, service_role;
