-- The actions a job asks the runner for (API.md §5), stated once: public.jobs.action and
-- the transition table refer to this table. settles_to is where the job's machine ends
-- when the job succeeds; the status it holds while the job is under way is the
-- transition's to_status (private.status_while).

create table private.job_actions (
  action text primary key,
  -- null: the job leaves its machine as it is (deploy, command).
  settles_to text references private.machine_statuses (status)
);
insert into private.job_actions (action, settles_to) values
  ('create', 'running'),
  ('start', 'running'),
  ('stop', 'stopped'),
  ('restart', 'running'),
  ('terminate', 'terminated'),
  ('deploy', null),
  ('command', null),
  -- Installs the machine's chosen SSH keys on a running machine (API.md §7).
  ('authorize_keys', null);
revoke all on private.job_actions from public, anon, authenticated;
