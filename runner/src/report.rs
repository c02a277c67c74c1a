//! The reports of one job while it runs, under its claim's fence: `{status: running}`
//! first, then its log lines in batches (RUNNER_LOG_BATCH lines, or whatever is pending
//! after RUNNER_LOG_FLUSH_MS), and a heartbeat (an empty `running` report) whenever nothing
//! was sent for the claim's heartbeat interval, which renews the lease. An answer that says
//! `cancel` (cancel-job) trips the job's `interrupt`. Lines that could not be delivered are
//! handed back to go with the final report.
use crate::callback::{Callbacks, Delivery};
use crate::job::{log_line, LogEntry};
use protocol::payload::{Callback, JobStatus, ReportAnswer};
use tokio_util::sync::CancellationToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A batch is also sent when its lines reach this many bytes.
const BATCH_BYTES: usize = 24 * 1024;

/// Where a job writes its log lines. Cheap to clone; sending never blocks.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<LogEntry>,
}

impl LogSink {
    pub fn entry(&self, e: LogEntry) {
        let _ = self.tx.send(e);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.entry(log_line("info", message));
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.entry(log_line("warn", message));
    }

    pub fn error(&self, message: impl Into<String>) {
        self.entry(log_line("error", message));
    }

    /// A sink whose lines go nowhere but to the returned receiver (tests, tools).
    pub fn detached() -> (LogSink, mpsc::UnboundedReceiver<LogEntry>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LogSink { tx }, rx)
    }
}

pub struct Batching {
    pub lines: usize,
    pub flush: Duration,
}

/// The claim a job runs under: its fencing number, how often to heartbeat, and what to
/// trip when the job must stop (cancel-job).
#[derive(Clone)]
pub struct Claim {
    pub fence: u64,
    pub heartbeat: Duration,
    pub interrupt: CancellationToken,
}

impl Claim {
    /// A third of the lease, at most 20 s (a lease of 60 s: every 20 s).
    pub fn heartbeat_of(lease_seconds: u64) -> Duration {
        Duration::from_millis((lease_seconds * 1000 / 3).clamp(200, 20_000))
    }
}

/// Starts the reporter of a job. When every [`LogSink`] clone is dropped, the handle
/// resolves to the lines that were not delivered.
pub fn start(callbacks: Arc<Callbacks>, batching: Batching, job_id: String, url: String, claim: Claim) -> (LogSink, JoinHandle<Vec<LogEntry>>) {
    let (sink, mut rx) = LogSink::detached();
    let task = tokio::spawn(async move {
        let send = |logs: Option<&[LogEntry]>| {
            let mut report = Callback::new(job_id.clone(), JobStatus::Running, claim.fence);
            report.logs = logs.map(<[LogEntry]>::to_vec).unwrap_or_default();
            let body = serde_json::to_value(&report).expect("serialisable");
            let callbacks = callbacks.clone();
            let url = url.clone();
            async move { callbacks.deliver(&url, &body).await }
        };
        // What an answer says about going on: `cancel` interrupts the job; a 409 ends the
        // claim's reports.
        let heed = |delivery: &Delivery| match delivery {
            Delivery::Delivered(data) => {
                if serde_json::from_value::<ReportAnswer>(data.clone()).is_ok_and(|a| a.cancel) {
                    crate::log_event!("warn", "job_cancel_requested", {"jobId": job_id});
                    claim.interrupt.cancel();
                }
                true
            }
            // The claim was taken over: reports change nothing from now on. Terraform is not
            // killed (an apply cut short may lose track of what it built); the new claimant's
            // apply waits for this one's state lock.
            Delivery::Rejected(409, text) => {
                crate::log_event!("warn", "claim_lost", {"jobId": job_id, "answer": text});
                false
            }
            other => {
                crate::log_event!("warn", "callback_failed", {"jobId": job_id, "status": "running", "error": format!("{other:?}")});
                false
            }
        };
        // Once a report could not be delivered, log lines wait for the final report instead
        // of delaying it with more retries; heartbeats go on.
        let mut healthy = heed(&send(None).await);
        let mut last_sent = Instant::now();
        let mut pending: Vec<LogEntry> = Vec::new();
        let mut bytes = 0;
        let mut deadline: Option<Instant> = None;
        loop {
            let flush_now = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(e) => {
                        bytes += e.message.len() + 64;
                        pending.push(e);
                        deadline.get_or_insert_with(|| Instant::now() + batching.flush);
                        pending.len() >= batching.lines || bytes >= BATCH_BYTES
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => true,
                _ = tokio::time::sleep_until(last_sent + claim.heartbeat) => {
                    heed(&send(None).await);
                    last_sent = Instant::now();
                    continue;
                }
            };
            if flush_now && healthy {
                let sent = send(Some(&pending)).await;
                last_sent = Instant::now();
                if heed(&sent) {
                    pending.clear();
                    bytes = 0;
                    deadline = None;
                } else {
                    healthy = false;
                }
            } else if flush_now {
                deadline = None;
            }
        }
        pending
    });
    (sink, task)
}
