//! Running jobs: at most RUNNER_CONCURRENCY at once, one at a time per machine, in arrival
//! order; then the final report (saved, sent with retries, re-sent until delivered).
//!
//! Before a job runs, two checks that need no executor (`precheck`):
//! - once a terminate of a machine succeeded here, a later job of that machine is not run:
//!   a terminate succeeds at once, anything else fails with [`TERMINATED`] (webhooks can
//!   arrive out of order; nothing may rebuild a machine the Worker has deleted);
//! - the job's params must be exactly its action's (protocol::payload::Params), else it
//!   fails with an error that names the key.
use crate::agent::Agents;
use crate::callback::{Callbacks, Delivery};
use crate::config::Mode;
use crate::job::{log_line, Action, Job, LogEntry, Outcome, Params};
use crate::journal::{Journal, SavedFinal};
use crate::report::{self, Batching, LogSink};
use crate::secrets;
use crate::simulate;
use crate::ssh::Ssh;
use crate::terraform::Terraform;
use protocol::payload::{Callback, JobStatus};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const RESTARTED: &str = "runner restarted while the job was running";
pub const SHUT_DOWN: &str = "runner shut down before the job started";
pub const TERMINATED: &str = "machine was terminated";

// One per runner: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Executor {
    Simulate { delay: Duration },
    Terraform { terraform: Terraform, ssh: Ssh },
}

impl Executor {
    pub fn mode(&self) -> Mode {
        match self {
            Executor::Simulate { .. } => Mode::Simulate,
            Executor::Terraform { .. } => Mode::Terraform,
        }
    }

    async fn run(&self, job: &Job, params: &Params, log: &LogSink) -> Outcome {
        match (self, params) {
            (Executor::Simulate { delay }, _) => simulate::run(job, params, log, *delay).await,
            // The machine's secrets.env first, then the protocol (secrets.rs).
            (Executor::Terraform { ssh, .. }, Params::Deploy(p)) => match secrets::before_deploy(ssh, job, log).await {
                Ok(written) => secrets::after_deploy(ssh.deploy(job, p, log).await, written),
                Err(failed) => failed,
            },
            (Executor::Terraform { ssh, .. }, Params::Command(p)) => ssh.command_job(job, p, log).await,
            (Executor::Terraform { ssh, .. }, Params::AuthorizeKeys) => ssh.authorize_keys(job, log).await,
            (Executor::Terraform { terraform, ssh }, Params::Lifecycle) => {
                let outcome = terraform.run(job, log).await;
                // Keys chosen while the machine was down (ssh.rs); never fails the job.
                if outcome.ok {
                    ssh.after_lifecycle(job, log).await;
                }
                secrets::after_create(ssh, job, outcome, log).await
            }
        }
    }
}

/// What every job needs.
pub struct Ctx {
    pub executor: Executor,
    pub journal: Journal,
    pub callbacks: Arc<Callbacks>,
    pub log_batch: usize,
    pub log_flush: Duration,
    pub redeliver: Duration,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
    /// Simulate mode: the machines' simulated agents (agent.rs).
    pub agents: Option<Arc<Agents>>,
}

pub struct Pool {
    ctx: Arc<Ctx>,
    machines: Mutex<HashMap<String, VecDeque<Job>>>,
    slots: Arc<Semaphore>,
    running: AtomicUsize,
    queued: AtomicUsize,
}

impl Pool {
    pub fn new(ctx: Arc<Ctx>, concurrency: usize) -> Arc<Pool> {
        Arc::new(Pool {
            ctx,
            machines: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(concurrency)),
            running: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
        })
    }

    pub fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Queues an accepted (journaled) job behind the other jobs of its machine.
    pub fn submit(self: &Arc<Self>, job: Job) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let machine = job.machine.id.clone();
        let mut machines = self.machines.lock().unwrap();
        if let Some(queue) = machines.get_mut(&machine) {
            queue.push_back(job);
            return;
        }
        machines.insert(machine.clone(), VecDeque::from([job]));
        let pool = self.clone();
        self.ctx.tracker.spawn(async move { pool.machine_loop(machine).await });
    }

    /// Runs the jobs of one machine one after the other. The machine's entry stays in the
    /// map (possibly empty) while a job runs, so that new jobs queue behind it.
    async fn machine_loop(self: Arc<Self>, machine: String) {
        loop {
            let job = {
                let mut machines = self.machines.lock().unwrap();
                match machines.get_mut(&machine).and_then(VecDeque::pop_front) {
                    Some(job) => job,
                    None => {
                        machines.remove(&machine);
                        return;
                    }
                }
            };
            let permit = tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => None,
                permit = self.slots.clone().acquire_owned() => permit.ok(),
            };
            self.queued.fetch_sub(1, Ordering::SeqCst);
            let Some(permit) = permit else {
                crate::log_event!("warn", "job_not_started", {"jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id});
                finish(&self.ctx, &job.job_id, &job.callback_url, Outcome::failed(SHUT_DOWN), Vec::new()).await;
                continue;
            };
            self.running.fetch_add(1, Ordering::SeqCst);
            let started = Instant::now();
            crate::log_event!("info", "job_started", {"jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id, "attempt": job.attempt});
            if let Some(agents) = &self.ctx.agents {
                agents.before_job(&job).await;
            }
            let (outcome, unsent) = execute(&self.ctx, &job).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            crate::log_event!(if outcome.ok { "info" } else { "warn" }, "job_finished", {
                "jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id,
                "outcome": outcome.status(), "error": outcome.error, "durationMs": started.elapsed().as_millis() as u64,
            });
            let succeeded = outcome.ok;
            finish(&self.ctx, &job.job_id, &job.callback_url, outcome, unsent).await;
            // After the final report, so the machine runs in the database when its agent posts.
            if let Some(agents) = &self.ctx.agents {
                agents.after_job(&job, succeeded);
            }
        }
    }
}

/// What is decided before a job runs.
enum Precheck {
    /// Run it with these params.
    Run(Params),
    /// Do not run it: this is its outcome, and the line that says why.
    Settled(Outcome, LogEntry),
}

fn precheck(ctx: &Ctx, job: &Job) -> Precheck {
    if ctx.journal.is_terminated(&job.machine.id) {
        return if job.action == Action::Terminate {
            let line = log_line("info", format!("machine {} was already terminated by this runner; nothing to do", job.machine.id));
            Precheck::Settled(Outcome::succeeded(), line)
        } else {
            let line = log_line("error", format!("{} refused: {TERMINATED}", job.action));
            Precheck::Settled(Outcome::failed(TERMINATED), line)
        };
    }
    match job.params() {
        Ok(params) => Precheck::Run(params),
        Err(e) => Precheck::Settled(Outcome::failed(e.to_string()), log_line("error", e.to_string())),
    }
}

/// Runs a job with its reporter; returns the outcome and the log lines not yet delivered.
async fn execute(ctx: &Arc<Ctx>, job: &Job) -> (Outcome, Vec<LogEntry>) {
    let params = match precheck(ctx, job) {
        Precheck::Run(params) => params,
        Precheck::Settled(outcome, line) => return (outcome, vec![line]),
    };
    let outcome_and_logs = run_reported(ctx, job, params).await;
    if job.action == Action::Terminate && outcome_and_logs.0.ok {
        if let Err(e) = ctx.journal.mark_terminated(&job.machine.id, &job.job_id) {
            crate::log_event!("error", "journal_error", {"jobId": job.job_id, "machineId": job.machine.id, "error": e.to_string()});
        }
    }
    outcome_and_logs
}

async fn run_reported(ctx: &Arc<Ctx>, job: &Job, params: Params) -> (Outcome, Vec<LogEntry>) {
    let batching = Batching { lines: ctx.log_batch, flush: ctx.log_flush };
    let (sink, reporter) = report::start(ctx.callbacks.clone(), batching, job.job_id.clone(), job.callback_url.clone());
    // In a task of its own, so that a panic becomes a failed job rather than a lost one.
    let (ctx2, job2, sink2) = (ctx.clone(), job.clone(), sink.clone());
    let outcome = match tokio::spawn(async move { ctx2.executor.run(&job2, &params, &sink2).await }).await {
        Ok(outcome) => outcome,
        Err(e) => {
            crate::log_event!("error", "job_panicked", {"jobId": job.job_id, "error": e.to_string()});
            sink.error("internal error in the runner");
            Outcome::failed("internal error in the runner")
        }
    };
    drop(sink);
    let unsent = reporter.await.unwrap_or_default();
    (outcome, unsent)
}

/// The final report of a job (scrubbed and fitted to size when it is sent).
pub fn final_body(job_id: &str, outcome: &Outcome, logs: Vec<LogEntry>) -> Value {
    let status = if outcome.ok { JobStatus::Succeeded } else { JobStatus::Failed };
    let report = Callback {
        job_id: job_id.to_string(),
        status,
        outputs: outcome.outputs.clone(),
        logs,
        result: outcome.result.clone(),
        error: outcome.error.clone(),
    };
    serde_json::to_value(&report).expect("serialisable")
}

/// Saves, then delivers the final report; on failure keeps re-sending it in the background.
pub async fn finish(ctx: &Arc<Ctx>, job_id: &str, url: &str, outcome: Outcome, logs: Vec<LogEntry>) {
    let saved = SavedFinal { callback_url: url.to_string(), body: final_body(job_id, &outcome, logs) };
    if let Err(e) = ctx.journal.save_final(job_id, &saved) {
        crate::log_event!("error", "journal_error", {"jobId": job_id, "error": e.to_string()});
    }
    deliver_final(ctx, job_id.to_string(), saved).await;
}

/// Delivers a saved final report with the configured retries; if it still fails, a tracked
/// task re-sends it every RUNNER_REDELIVER_MS until it is delivered or the runner stops
/// (the saved report is sent again at the next start).
pub async fn deliver_final(ctx: &Arc<Ctx>, job_id: String, saved: SavedFinal) {
    match ctx.callbacks.deliver(&saved.callback_url, &saved.body).await {
        Delivery::Failed(e) => {
            crate::log_event!("warn", "final_not_delivered", {"jobId": job_id, "error": e, "retryEveryMs": ctx.redeliver.as_millis() as u64});
            let ctx2 = ctx.clone();
            ctx.tracker.spawn(async move { redeliver(ctx2, job_id, saved).await });
        }
        done => settle(ctx, &job_id, &saved, done),
    }
}

async fn redeliver(ctx: Arc<Ctx>, job_id: String, saved: SavedFinal) {
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tokio::time::sleep(ctx.redeliver) => {}
        }
        match ctx.callbacks.deliver_with(&saved.callback_url, &saved.body, 0).await {
            Delivery::Failed(_) => continue,
            done => return settle(&ctx, &job_id, &saved, done),
        }
    }
}

fn settle(ctx: &Ctx, job_id: &str, saved: &SavedFinal, delivery: Delivery) {
    let status = saved.body.get("status").and_then(Value::as_str).unwrap_or("?");
    let written = match &delivery {
        Delivery::Rejected(code, text) => {
            crate::log_event!("error", "final_rejected", {"jobId": job_id, "status": code, "answer": text});
            ctx.journal.reject(job_id, saved, &format!("{code} {text}"))
        }
        _ => {
            crate::log_event!("info", "final_delivered", {"jobId": job_id, "status": status});
            ctx.journal.complete(job_id, status)
        }
    };
    if let Err(e) = written {
        crate::log_event!("error", "journal_error", {"jobId": job_id, "error": e.to_string()});
    }
}
