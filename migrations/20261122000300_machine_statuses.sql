-- The statuses a machine can be in (API.md §3), stated once: public.machines.status and
-- the transition table refer to this table, and what a status means for billing is a
-- column here rather than a list in a function.

create table private.machine_statuses (
  status text primary key,
  -- The machine costs its tier's hourly price in this status (it runs, or is on its way
  -- there): create and start need a balance of one hour of every such machine.
  billed boolean not null
);
insert into private.machine_statuses (status, billed) values
  ('provisioning', true),
  ('starting', true),
  ('running', true),
  ('stopping', false),
  ('stopped', false),
  ('restarting', true),
  ('terminating', false),
  ('terminated', false),
  ('error', false);
revoke all on private.machine_statuses from public, anon, authenticated;
