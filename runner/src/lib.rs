//! hangar-runner: takes signed jobs from the Hangar Workers (API.md §5), runs them with
//! Terraform (or a simulation) and SSH, and reports back with signed callbacks.
//! `start` runs one in-process (the binary and the tests use it).

pub mod agent;
pub mod allowlist;
pub mod callback;
pub mod claim;
pub mod config;
pub mod engine;
pub mod job;
pub mod journal;
pub mod logging;
pub mod pool;
pub mod process;
pub mod report;
pub mod scrub;
pub mod secrets;
pub mod server;
pub mod simulate;
pub mod ssh;
pub mod terraform;

pub use config::{Config, Mode};

use callback::Callbacks;
use journal::Journal;
use engine::Executor;
use pool::{Ctx, Pool};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A started runner.
pub struct Runner {
    pub addr: SocketAddr,
    pub mode: Mode,
    pool: Arc<Pool>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    server: JoinHandle<()>,
    grace: Duration,
}

impl Runner {
    /// Jobs running / waiting right now.
    pub fn load(&self) -> (usize, usize) {
        (self.pool.running(), self.pool.queued())
    }

    /// Stops taking jobs (new webhooks get 503), leaves queued jobs unclaimed (to the
    /// reaper) and stops re-sending undelivered reports (they stay saved for the next start).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Waits for the server to stop and for running jobs to finish, at most the grace
    /// period; then returns (what is unfinished is the reaper's).
    pub async fn wait(self) -> bool {
        let _ = self.server.await;
        self.tracker.close();
        let done = tokio::time::timeout(self.grace, self.tracker.wait()).await.is_ok();
        log_event!(if done { "info" } else { "warn" }, "stopped", {"clean": done, "running": self.pool.running(), "queued": self.pool.queued()});
        done
    }

    /// `shutdown` then `wait`.
    pub async fn stop(self) -> bool {
        self.shutdown();
        self.wait().await
    }
}

/// What the reports must not reveal of this runner's file system (scrub.rs). Paths are
/// absolute by now.
fn scrubber(config: &Config) -> scrub::Scrubber {
    let env_path = |name: &str| std::env::var_os(name).map(std::path::PathBuf::from);
    let mut paths: Vec<(std::path::PathBuf, &str)> =
        vec![(config.workdir.clone(), "<workdir>"), (config.modules_dir.clone(), "<modules>")];
    if config.mode == Mode::Terraform {
        paths.push((config.terraform_bin.clone(), "<terraform>"));
    }
    if let Some(key) = &config.ssh_key {
        paths.push((key.clone(), "<ssh-key>"));
    }
    if let Some(cache) = env_path("TF_PLUGIN_CACHE_DIR") {
        paths.push((cache, "<plugin-cache>"));
    }
    if let Some(home) = env_path("HOME") {
        paths.push((home, "<home>"));
    }
    scrub::Scrubber::new(paths.iter().map(|(p, l)| (p.as_path(), *l)))
}

/// Starts a runner: checks the configuration, opens the working directory, builds the
/// executor of its mode, re-sends what a previous run left, listens.
pub async fn start(mut config: Config) -> Result<Runner, String> {
    let mode = config.validate()?;
    make_paths_absolute(&mut config)?;
    let runner_id = config.runner_id();
    let workdir = config.workdir.clone();
    let journal = Journal::open(&workdir).map_err(|e| format!("cannot open the working directory {}: {e}", workdir.display()))?;
    let left = journal.recover().map_err(|e| format!("cannot read the journal in {}: {e}", workdir.display()))?;
    let executor = executor(&config)?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let agents = match mode {
        Mode::Simulate => Some(
            agent::Agents::open(&workdir, config.simulate_metrics_interval, cancel.clone(), tracker.clone())
                .map_err(|e| format!("cannot open {}/agents: {e}", workdir.display()))?,
        ),
        Mode::Terraform => None,
    };
    let ctx = Arc::new(Ctx {
        executor,
        runner_id: runner_id.clone(),
        journal,
        callbacks: Arc::new(Callbacks::new(
            config.secret.clone(),
            config.callback_retries,
            Duration::from_millis(config.callback_backoff_ms),
            scrubber(&config),
        )),
        log_batch: config.log_batch as usize,
        log_flush: Duration::from_millis(config.log_flush_ms),
        redeliver: Duration::from_millis(config.redeliver_ms.max(10)),
        cancel: cancel.clone(),
        tracker: tracker.clone(),
        agents: agents.clone(),
    });
    let pool = Pool::new(ctx.clone(), config.concurrency as usize);

    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    log_event!("info", "started", {
        "listen": addr.to_string(), "mode": mode.as_str(), "runnerId": runner_id, "workdir": workdir.display().to_string(),
        "concurrency": config.concurrency, "terraformBin": (mode == Mode::Terraform).then(|| config.terraform_bin.display().to_string()),
        "simulateMetricsIntervalMs": (mode == Mode::Simulate).then_some(config.simulate_metrics_interval.as_millis() as u64),
        "modulesDir": config.modules_dir.display().to_string(), "leftover": left.finals.len(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    resend_leftovers(&ctx, left);
    // The simulated agents of the machines that were running when the runner stopped.
    if let Some(agents) = &agents {
        let resumed = agents.resume();
        if resumed > 0 {
            log_event!("info", "agents_resumed", {"count": resumed});
        }
    }
    let server = serve(listener, server::App { pool: pool.clone(), secret: Arc::from(config.secret.as_str()) }, cancel.clone());
    Ok(Runner { addr, mode, pool, cancel, tracker, server, grace: Duration::from_secs(config.shutdown_grace_secs) })
}

/// Children run in other directories: every path made absolute first.
fn make_paths_absolute(config: &mut Config) -> Result<(), String> {
    let absolute = |p: &std::path::Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    config.workdir = absolute(&config.workdir)?;
    config.modules_dir = absolute(&config.modules_dir)?;
    if config.terraform_bin.components().count() > 1 {
        config.terraform_bin = absolute(&config.terraform_bin)?;
    }
    if config.ssh_bin.components().count() > 1 {
        config.ssh_bin = absolute(&config.ssh_bin)?;
    }
    if let Some(key) = &config.ssh_key {
        config.ssh_key = Some(absolute(key)?);
    }
    Ok(())
}

/// The executor of the configured mode.
fn executor(config: &Config) -> Result<Executor, String> {
    // The runner's own public key, which machines get and authorize_keys keeps (ssh.rs).
    let runner_key = ssh::runner_public_key(config.ssh_public_key.as_deref(), config.ssh_key.as_deref())?;
    Ok(match config.mode {
        Mode::Simulate => Executor::Simulate(engine::Simulate { delay: config.sim_delay() }),
        Mode::Terraform => {
            if !config.modules_dir.is_dir() {
                log_event!("warn", "config", {"message": format!("RUNNER_MODULES_DIR {} is not a directory", config.modules_dir.display())});
            }
            if config.allowed_images.is_empty() {
                log_event!("warn", "config", {"message": "ALLOWED_IMAGES is empty: every create will fail"});
            }
            let state = terraform::State {
                conn_str: config.state_database_url.clone().expect("validated: terraform mode has RUNNER_STATE_DATABASE_URL"),
                schema: config.state_schema.clone(),
            };
            Executor::Terraform(engine::TerraformMode {
                terraform: terraform::Terraform::new(config.terraform_bin.clone(), config.modules_dir.clone(), config.workdir.clone(), config.allowed_images.clone(), state)
                    .with_runner_key(runner_key.clone()),
                ssh: ssh::Ssh {
                    bin: config.ssh_bin.clone(),
                    key: config.ssh_key.clone(),
                    user: config.ssh_user.clone(),
                    workdir: config.workdir.clone(),
                    public_key: runner_key,
                },
            })
        }
    })
}

/// What a previous run left: saved final reports are sent as they are (their fence decides
/// whether they still count). Never dropped silently.
fn resend_leftovers(ctx: &Arc<Ctx>, left: journal::Leftovers) {
    for id in &left.corrupt {
        log_event!("error", "journal_corrupt", {"jobId": id, "message": "unreadable journal entry moved to jobs/corrupt/"});
    }
    for id in &left.abandoned {
        log_event!("warn", "job_abandoned", {"jobId": id, "message": "a job of a previous run, left to the reaper"});
    }
    for (id, saved) in left.finals {
        log_event!("info", "job_recovered", {"jobId": id, "report": "saved"});
        let ctx2 = ctx.clone();
        ctx.tracker.spawn(async move { pool::deliver_final(&ctx2, id, saved).await });
    }
}

/// Serves the webhooks until `cancel`.
fn serve(listener: tokio::net::TcpListener, app: server::App, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(listener, server::router(app)).with_graceful_shutdown(async move { cancel.cancelled().await }).await;
        if let Err(e) = served {
            log_event!("error", "server_error", {"error": e.to_string()});
        }
    })
}
