-- The transition table of API.md §3 as data, which the functions read (allowed actions,
-- refusals, the next status, the job to queue, the status a job's machine holds while
-- it runs). One row per action and status it may be asked in:
--   job_action set   the action moves the machine to to_status and queues that job;
--   job_action null  the machine is already there or on its way (to_status =
--                    from_status): 200 with the machine, no job, no event.
-- Any other (action, status) is refused 409 invalid_state_transition, listing the
-- actions that have a job from that status in `ordinal` order (details.allowed).
-- create has no from_status: a new machine starts in provisioning with a create job.
-- Not here: delete of a machine whose create was never handed to the runner ends in
-- `terminated` at once (the hand-off rule, hangar_machine_action), and update-machine's
-- tier change, which needs `stopped`.

create table private.machine_transitions (
  action text not null,
  from_status text references private.machine_statuses (status),
  to_status text not null references private.machine_statuses (status),
  job_action text references private.job_actions (action),
  ordinal smallint not null,
  constraint machine_transitions_once unique nulls not distinct (action, from_status),
  constraint machine_transitions_noop_stays check (job_action is not null or to_status = from_status)
);
insert into private.machine_transitions (action, from_status, to_status, job_action, ordinal) values
  ('create', null, 'provisioning', 'create', 0),
  ('start', 'stopped', 'starting', 'start', 1),
  ('start', 'error', 'starting', 'start', 1),
  ('start', 'starting', 'starting', null, 1),
  ('start', 'running', 'running', null, 1),
  ('stop', 'running', 'stopping', 'stop', 2),
  ('stop', 'stopping', 'stopping', null, 2),
  ('stop', 'stopped', 'stopped', null, 2),
  ('restart', 'running', 'restarting', 'restart', 3),
  ('restart', 'restarting', 'restarting', null, 3),
  ('delete', 'provisioning', 'terminating', 'terminate', 4),
  ('delete', 'starting', 'terminating', 'terminate', 4),
  ('delete', 'running', 'terminating', 'terminate', 4),
  ('delete', 'stopping', 'terminating', 'terminate', 4),
  ('delete', 'stopped', 'terminating', 'terminate', 4),
  ('delete', 'restarting', 'terminating', 'terminate', 4),
  ('delete', 'error', 'terminating', 'terminate', 4),
  ('delete', 'terminating', 'terminating', null, 4),
  ('delete', 'terminated', 'terminated', null, 4),
  ('deploy', 'running', 'running', 'deploy', 5),
  ('command', 'running', 'running', 'command', 6);
revoke all on private.machine_transitions from public, anon, authenticated;

-- A job that moves its machine moves it to one status, whatever the status it came
-- from: private.status_while relies on it.
do $$
begin
  if exists (
    select 1 from private.machine_transitions
    where job_action is not null and to_status is distinct from from_status
    group by job_action having count(distinct to_status) > 1
  ) then
    raise exception 'private.machine_transitions: a job action moves machines to two statuses';
  end if;
end $$;
