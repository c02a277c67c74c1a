-- Metrics in and out (API.md §4): record-metrics (the agent, by its token), insights
-- (whoever sees the machine), and the scheduler's pruning.

-- record-metrics (service role: the Worker checked the body; the agent is no database
-- user). The machine is the one whose agent_token_hash is p_token_hash (the hex SHA-256
-- of the bearer token), and it must not be terminated; p_machine_id, when the agent names
-- its machine, must be that one. Anything else is invalid_token (401), whichever part is
-- wrong. Samples are {cpuUsage, memoryUsage, diskUsage, networkIn, networkOut,
-- recordedAt?}; without recordedAt a sample is taken now. A sample in a 10-second slot
-- already stored for the machine (a retry, or a flood) is dropped: `stored` counts what
-- was kept. The table's CHECKs hold the ranges for any caller.
create or replace function public.hangar_record_metrics(
  p_token_hash text default null, p_machine_id uuid default null, p_samples jsonb default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  stored int;
begin
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    return private.refuse('invalid_token', 'Invalid agent token');
  end if;
  select * into m from public.machines
  where agent_token_hash = p_token_hash and status <> 'terminated'
  limit 1;
  if not found or (p_machine_id is not null and m.id <> p_machine_id) then
    return private.refuse('invalid_token', 'Invalid agent token');
  end if;
  if pg_catalog.jsonb_typeof(p_samples) is distinct from 'array' or pg_catalog.jsonb_array_length(p_samples) not between 1 and 100 then
    return private.refuse('validation_error', 'One sample or an array of 1 to 100', jsonb_build_object('field', 'body'));
  end if;
  insert into public.machine_metrics (machine_id, owner_id, recorded_at, cpu, memory, disk, net_in, net_out)
  select m.id, m.owner_id, coalesce((s ->> 'recordedAt')::pg_catalog.timestamptz, now()),
    (s ->> 'cpuUsage')::numeric, (s ->> 'memoryUsage')::numeric, (s ->> 'diskUsage')::numeric,
    (s ->> 'networkIn')::bigint, (s ->> 'networkOut')::bigint
  from pg_catalog.jsonb_array_elements(p_samples) s
  on conflict (machine_id, slot) do nothing;
  get diagnostics stored = row_count;
  return private.ok(jsonb_build_object('accepted', pg_catalog.jsonb_array_length(p_samples), 'stored', stored,
    'machineId', m.id));
end $$;
revoke all on function public.hangar_record_metrics(text, uuid, jsonb) from public, anon, authenticated;
grant execute on function public.hangar_record_metrics(text, uuid, jsonb) to service_role;

-- A machine's `summary` over (p_since, now()]: the sample count, and the average (2
-- decimals) and the peak of each measure. One shape for insights of one machine and for
-- the overview of all of them. Runs as the caller (RLS on machine_metrics).
create or replace function private.metrics_summary(p_machine_id uuid, p_since timestamptz) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
      'samples', count(*),
      'cpu', jsonb_build_object('avg', round(avg(s.cpu), 2), 'max', max(s.cpu)),
      'memory', jsonb_build_object('avg', round(avg(s.memory), 2), 'max', max(s.memory)),
      'disk', jsonb_build_object('avg', round(avg(s.disk), 2), 'max', max(s.disk)),
      'networkIn', jsonb_build_object('avg', round(avg(s.net_in)), 'max', max(s.net_in)),
      'networkOut', jsonb_build_object('avg', round(avg(s.net_out)), 'max', max(s.net_out)))
  from public.machine_metrics s
  where s.machine_id = p_machine_id and s.recorded_at > p_since and s.recorded_at <= now()
$$;
revoke all on function private.metrics_summary(uuid, timestamptz) from public, anon, authenticated;
grant execute on function private.metrics_summary(uuid, timestamptz) to authenticated, service_role;

-- insights without a machine (API.md §4, seed 000's dashboard): one {machineId, name,
-- status, summary} per machine the caller sees that is not terminated, newest first (at
-- most 100), over the same windows.
-- insights: the samples of a machine the caller sees (its creator, its team's members) over the last hour, day or week: `series`,
-- one point per bucket that has samples (1h: 1 min, 24h: 15 min, 7d: 1 h; each the
-- average of its samples, recordedAt its start), and `summary`: the average (2
-- decimals) and the peak of each measure over the whole window, and the sample count.
-- Network values are bytes per sample (the agent sends the change since its last one).
create or replace function public.hangar_insights(p_machine_id uuid default null, p_period text default null) returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
declare
  span interval;
  bucket interval;
  since pg_catalog.timestamptz;
  series pg_catalog.jsonb;
  summary pg_catalog.jsonb;
begin
  case p_period
    when '1h' then span := interval '1 hour'; bucket := interval '1 minute';
    when '24h' then span := interval '24 hours'; bucket := interval '15 minutes';
    when '7d' then span := interval '7 days'; bucket := interval '1 hour';
    else return private.refuse('validation_error', '`period` must be one of 1h, 24h, 7d', jsonb_build_object('field', 'period'));
  end case;
  since := now() - span;
  if p_machine_id is null then
    return private.ok(coalesce((
      select jsonb_agg(jsonb_build_object('machineId', m.id, 'name', m.name, 'status', m.status,
          'summary', private.metrics_summary(m.id, since)) order by m.created_at desc, m.id desc)
      from (select mm.* from public.machines mm
            where mm.status <> 'terminated' and private.can_act(mm.owner_id, mm.team_id, 'read')
            order by mm.created_at desc, mm.id desc limit 100) m), '[]'));
  end if;
  if not exists (select 1 from public.machines where id = p_machine_id and private.can_act(owner_id, team_id, 'read')) then
    return private.refuse('not_found', 'Machine not found');
  end if;

  select coalesce(jsonb_agg(jsonb_build_object(
      'recordedAt', private.ts(b.at), 'samples', b.n,
      'cpuUsage', round(b.cpu, 2), 'memoryUsage', round(b.memory, 2), 'diskUsage', round(b.disk, 2),
      'networkIn', round(b.net_in), 'networkOut', round(b.net_out)) order by b.at), '[]')
    into series
  from (
    select date_bin(bucket, s.recorded_at, since) as at, count(*) as n,
      avg(s.cpu) as cpu, avg(s.memory) as memory, avg(s.disk) as disk,
      avg(s.net_in) as net_in, avg(s.net_out) as net_out
    from public.machine_metrics s
    where s.machine_id = p_machine_id and s.recorded_at > since and s.recorded_at <= now()
    group by 1) b;

  summary := private.metrics_summary(p_machine_id, since);

  return private.ok(jsonb_build_object('machineId', p_machine_id, 'period', p_period,
    'from', private.ts(since), 'to', private.ts(now()), 'bucketSeconds', extract(epoch from bucket)::int,
    'series', series, 'summary', summary));
end $$;
revoke all on function public.hangar_insights(uuid, text) from public, anon;
grant execute on function public.hangar_insights(uuid, text) to authenticated, service_role;

-- The scheduler keeps 8 days of samples (insights reads at most 7).
create or replace function public.hangar_prune_metrics() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  pruned int;
begin
  delete from public.machine_metrics where recorded_at < now() - interval '8 days';
  get diagnostics pruned = row_count;
  return private.ok(jsonb_build_object('pruned', pruned));
end $$;
revoke all on function public.hangar_prune_metrics() from public, anon, authenticated;
grant execute on function public.hangar_prune_metrics() to service_role;
