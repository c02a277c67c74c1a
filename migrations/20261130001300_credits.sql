-- add-credits (API.md §4): an operator adds credits to an account. Service role only
-- (the Worker's `service =>` route, and no EXECUTE for users or anon through /rpc). The
-- balance and its `credit` record are written in one transaction, so the ledger always
-- explains the balance. Bounds are checked here too, for callers of /rpc.

-- The BillingRecord of API.md §4.
create or replace function private.billing_record_json(r public.billing_records) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', r.id,
    'kind', r.kind,
    'amountCents', r.amount_cents,
    'description', r.description,
    'machineId', r.machine_id,
    'periodStart', private.ts(r.period_start),
    'periodEnd', private.ts(r.period_end),
    'createdAt', private.ts(r.created_at))
$$;
revoke all on function private.billing_record_json(public.billing_records) from public, anon, authenticated;
grant execute on function private.billing_record_json(public.billing_records) to authenticated, service_role;

-- {record: BillingRecord, balanceCents}: the record, and the balance it led to.
create or replace function public.hangar_add_credits(p_user_id uuid default null, p_amount_cents bigint default null, p_description text default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  r public.billing_records;
  balance bigint;
  memo pg_catalog.text := btrim(p_description);
begin
  if p_amount_cents is null or p_amount_cents not between 1 and 10000000 then
    return private.refuse('validation_error', '`amountCents` must be an integer from 1 to 10000000',
      jsonb_build_object('field', 'amountCents'));
  end if;
  if memo is null or char_length(memo) not between 1 and 200 then
    return private.refuse('validation_error', '`description` must be 1 to 200 characters',
      jsonb_build_object('field', 'description'));
  end if;
  update public.accounts set credit_balance_cents = credit_balance_cents + p_amount_cents
    where id = p_user_id
    returning credit_balance_cents into balance;
  if not found then
    return private.refuse('not_found', 'Account not found');
  end if;
  insert into public.billing_records (account_id, kind, amount_cents, description)
  values (p_user_id, 'credit', p_amount_cents, memo)
  returning * into r;
  return private.ok(jsonb_build_object('record', private.billing_record_json(r), 'balanceCents', balance));
end $$;
revoke all on function public.hangar_add_credits(uuid, bigint, text) from public, anon, authenticated;
grant execute on function public.hangar_add_credits(uuid, bigint, text) to service_role;
