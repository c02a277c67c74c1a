//! Running jobs: at most RUNNER_CONCURRENCY at once, one at a time per machine, in arrival
//! order. Each job: claim (claim.rs; not claimed, not run), run under the claim's fence
//! with its reporter (report.rs: logs, heartbeats), then the final report (saved, sent
//! with retries, re-sent until delivered).
//!
//! A claimed job's params must be exactly its action's (protocol::payload::Params), else
//! it fails with an error that names the key.
use crate::agent::Agents;
use crate::callback::{Callbacks, Delivery};
use crate::claim::{self, Claimed};
use crate::job::{log_line, Job, LogEntry, Outcome};
use crate::journal::{Journal, SavedFinal};
use crate::report::{self, Batching, Claim};
use crate::engine::Executor;
use protocol::payload::{Callback, JobStatus};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;


/// A job interrupted by cancel-job.
pub const INTERRUPTED: &str = "cancelled: the job was interrupted";

/// What every job needs.
pub struct Ctx {
    pub executor: Executor,
    /// This runner's id in its claims (RUNNER_ID).
    pub runner_id: String,
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
            self.run_one(job).await;
        }
    }

    /// One job: a slot, the claim, the run, the final report.
    async fn run_one(&self, job: Job) {
        let mut busy_wait = claim::BUSY_RETRY;
        let (permit, claim) = loop {
            let permit = tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => None,
                permit = self.slots.clone().acquire_owned() => permit.ok(),
            };
            let Some(permit) = permit else {
                // Never claimed: the reaper gives it to a runner again.
                self.not_run(&job, "the runner is shutting down");
                return;
            };
            match claim::claim(&self.ctx.callbacks, &job.callback_url, &job.job_id, &self.ctx.runner_id).await {
                Claimed::Yes { fence, lease_seconds } => break (permit, (fence, lease_seconds)),
                // An earlier job of the machine is not done: asked again, less and less often,
                // without holding a slot, for as long as it takes (a redelivery of this job
                // meanwhile is a duplicate here).
                Claimed::Busy { .. } => {
                    drop(permit);
                    tokio::select! {
                        _ = self.ctx.cancel.cancelled() => {}
                        _ = tokio::time::sleep(busy_wait) => {}
                    }
                    busy_wait = (busy_wait * 2).min(claim::BUSY_RETRY_MAX);
                }
                Claimed::No(reason) => return self.not_run(&job, &reason),
                Claimed::Unanswered(e) => return self.not_run(&job, &e),
            }
        };
        self.queued.fetch_sub(1, Ordering::SeqCst);
        self.running.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let (fence, lease_seconds) = claim;
        crate::log_event!("info", "job_started", {"jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id,
            "attempt": job.attempt, "fence": fence});
        if let Some(agents) = &self.ctx.agents {
            agents.before_job(&job).await;
        }
        let claim = Claim { fence, heartbeat: Claim::heartbeat_of(lease_seconds), interrupt: CancellationToken::new() };
        let (outcome, unsent) = execute(&self.ctx, &job, &claim).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        drop(permit);
        crate::log_event!(if outcome.ok { "info" } else { "warn" }, "job_finished", {
            "jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id,
            "outcome": outcome.status(), "error": outcome.error, "durationMs": started.elapsed().as_millis() as u64,
        });
        let succeeded = outcome.ok;
        finish(&self.ctx, &job.job_id, &job.callback_url, fence, outcome, unsent).await;
        // After the final report, so the machine runs in the database when its agent posts.
        if let Some(agents) = &self.ctx.agents {
            agents.after_job(&job, succeeded);
        }
    }

    /// A job this runner does not run (not claimed): forgotten here, logged.
    fn not_run(&self, job: &Job, why: &str) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
        self.ctx.journal.release(&job.job_id);
        crate::log_event!("info", "job_not_claimed", {"jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id, "reason": why});
    }
}

/// Runs a claimed job with its reporter; returns the outcome and the log lines not yet
/// delivered. Params that are not exactly the action's fail it without running.
async fn execute(ctx: &Arc<Ctx>, job: &Job, claim: &Claim) -> (Outcome, Vec<LogEntry>) {
    let params = match job.params() {
        Ok(params) => params,
        Err(e) => return (Outcome::failed(e.to_string()), vec![log_line("error", e.to_string())]),
    };
    let batching = Batching { lines: ctx.log_batch, flush: ctx.log_flush };
    let (sink, reporter) = report::start(ctx.callbacks.clone(), batching, job.job_id.clone(), job.callback_url.clone(), claim.clone());
    // In a task of its own, so that a panic becomes a failed job rather than a lost one, and
    // so that it can be interrupted: dropped, its Terraform or SSH child is killed.
    let (ctx2, job2, sink2) = (ctx.clone(), job.clone(), sink.clone());
    let mut task = tokio::spawn(async move { ctx2.executor.run(&job2, &params, &sink2).await });
    let outcome = tokio::select! {
        joined = &mut task => match joined {
            Ok(outcome) => outcome,
            Err(e) => {
                crate::log_event!("error", "job_panicked", {"jobId": job.job_id, "error": e.to_string()});
                sink.error("internal error in the runner");
                Outcome::failed("internal error in the runner")
            }
        },
        _ = claim.interrupt.cancelled() => {
            task.abort();
            let _ = task.await;
            crate::log_event!("warn", "job_interrupted", {"jobId": job.job_id, "action": job.action.as_str()});
            sink.warn(INTERRUPTED);
            Outcome::failed(INTERRUPTED)
        }
    };
    drop(sink);
    let unsent = reporter.await.unwrap_or_default();
    (outcome, unsent)
}

/// The final report of a job (scrubbed and fitted to size when it is sent).
pub fn final_body(job_id: &str, fence: u64, outcome: &Outcome, logs: Vec<LogEntry>) -> Value {
    let status = if outcome.ok { JobStatus::Succeeded } else { JobStatus::Failed };
    let report = Callback {
        outputs: outcome.outputs.clone(),
        logs,
        result: outcome.result.clone(),
        error: outcome.error.clone(),
        ..Callback::new(job_id, status, fence)
    };
    serde_json::to_value(&report).expect("serialisable")
}

/// Saves, then delivers the final report; on failure keeps re-sending it in the background.
pub async fn finish(ctx: &Arc<Ctx>, job_id: &str, url: &str, fence: u64, outcome: Outcome, logs: Vec<LogEntry>) {
    let saved = SavedFinal { callback_url: url.to_string(), body: final_body(job_id, fence, &outcome, logs) };
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
            ctx.journal.complete(job_id)
        }
    };
    if let Err(e) = written {
        crate::log_event!("error", "journal_error", {"jobId": job_id, "error": e.to_string()});
    }
}
