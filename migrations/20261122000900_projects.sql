-- Projects group a user's machines. Users manage their own straight through PostgREST
-- (name and description; owner_id is always the caller).

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.accounts (id) on delete cascade,
  name text not null check (char_length(btrim(name)) between 1 and 63),
  description text check (description is null or char_length(description) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index projects_owner on public.projects (owner_id, created_at desc);
create trigger projects_touch before update on public.projects
  for each row execute function private.touch_updated_at();

alter table public.projects enable row level security;
create policy projects_own on public.projects for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));

revoke all on public.projects from anon, authenticated;
grant all on public.projects to service_role;
grant select, delete on public.projects to authenticated;
grant insert (name, description) on public.projects to authenticated;
grant update (name, description) on public.projects to authenticated;
