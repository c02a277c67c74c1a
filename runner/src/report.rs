//! The reports of one job while it runs: `{status: running}` first, then its log lines in
//! batches (RUNNER_LOG_BATCH lines, or whatever is pending after RUNNER_LOG_FLUSH_MS).
//! Lines that could not be delivered are handed back to go with the final report.
use crate::callback::{Callbacks, Delivery};
use crate::job::{log_line, LogEntry};
use protocol::payload::{Callback, JobStatus};
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

/// Starts the reporter of a job. When every [`LogSink`] clone is dropped, the handle
/// resolves to the lines that were not delivered.
pub fn start(callbacks: Arc<Callbacks>, batching: Batching, job_id: String, url: String) -> (LogSink, JoinHandle<Vec<LogEntry>>) {
    let (sink, mut rx) = LogSink::detached();
    let task = tokio::spawn(async move {
        let send = |logs: Option<&[LogEntry]>| {
            let mut report = Callback::new(job_id.clone(), JobStatus::Running);
            report.logs = logs.map(<[LogEntry]>::to_vec).unwrap_or_default();
            let body = serde_json::to_value(&report).expect("serialisable");
            let callbacks = callbacks.clone();
            let url = url.clone();
            async move { callbacks.deliver(&url, &body).await }
        };
        // Once a report could not be delivered, the rest waits for the final report
        // instead of delaying it with more retries.
        let mut healthy = match send(None).await {
            Delivery::Delivered => true,
            other => {
                crate::log_event!("warn", "callback_failed", {"jobId": job_id, "status": "running", "error": format!("{other:?}")});
                false
            }
        };
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
            };
            if flush_now && healthy {
                match send(Some(&pending)).await {
                    Delivery::Delivered => {
                        pending.clear();
                        bytes = 0;
                        deadline = None;
                    }
                    other => {
                        crate::log_event!("warn", "callback_failed", {"jobId": job_id, "status": "running", "error": format!("{other:?}")});
                        healthy = false;
                    }
                }
            } else if flush_now {
                deadline = None;
            }
        }
        pending
    });
    (sink, task)
}
