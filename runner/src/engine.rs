//! The one interface between the engine (pool.rs: claim, heartbeat, run, report) and a
//! mode: [`Actions`], a method per action, implemented by simulate ([`Simulate`]) and by
//! terraform ([`TerraformMode`]), so that no mode can miss an action. [`Executor`] holds the
//! configured one; [`run`] calls the method of a job's action with its typed params.
use crate::job::{Action, Job, Outcome, Params};
use crate::report::LogSink;
use crate::secrets;
use crate::ssh::Ssh;
use crate::terraform::Terraform;
use crate::Mode;
use protocol::payload::{CommandParams, DeployParams};
use std::future::Future;
use std::time::Duration;

/// What a mode does for each action. Each method gets a claimed job whose params were
/// read already (deploy and command get theirs typed).
pub trait Actions: Send + Sync {
    fn create(&self, job: &Job, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn start(&self, job: &Job, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn stop(&self, job: &Job, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn restart(&self, job: &Job, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn terminate(&self, job: &Job, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn deploy(&self, job: &Job, params: &DeployParams, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn command(&self, job: &Job, params: &CommandParams, log: &LogSink) -> impl Future<Output = Outcome> + Send;
    fn authorize_keys(&self, job: &Job, log: &LogSink) -> impl Future<Output = Outcome> + Send;
}

/// Runs `job` with `mode`: the method of its action.
pub async fn run<A: Actions>(mode: &A, job: &Job, params: &Params, log: &LogSink) -> Outcome {
    match (job.action, params) {
        (Action::Create, _) => mode.create(job, log).await,
        (Action::Start, _) => mode.start(job, log).await,
        (Action::Stop, _) => mode.stop(job, log).await,
        (Action::Restart, _) => mode.restart(job, log).await,
        (Action::Terminate, _) => mode.terminate(job, log).await,
        (Action::Deploy, Params::Deploy(p)) => mode.deploy(job, p, log).await,
        (Action::Command, Params::Command(p)) => mode.command(job, p, log).await,
        (Action::AuthorizeKeys, _) => mode.authorize_keys(job, log).await,
        (action, _) => Outcome::failed(format!("internal: {action} without its params")),
    }
}

/// Simulate mode: no cloud; every step sleeps `delay` (simulate.rs).
pub struct Simulate {
    pub delay: Duration,
}

/// Terraform mode: lifecycle jobs with Terraform, the others over SSH.
pub struct TerraformMode {
    pub terraform: Terraform,
    pub ssh: Ssh,
}

impl TerraformMode {
    /// A lifecycle action: Terraform, then (once it succeeded) the keys chosen while the
    /// machine was down (ssh.rs, never failing the job) and a create's secrets.
    async fn lifecycle(&self, job: &Job, log: &LogSink) -> Outcome {
        let outcome = self.terraform.run(job, log).await;
        if outcome.ok {
            self.ssh.after_lifecycle(job, log).await;
        }
        secrets::after_create(&self.ssh, job, outcome, log).await
    }
}

impl Actions for TerraformMode {
    async fn create(&self, job: &Job, log: &LogSink) -> Outcome {
        self.lifecycle(job, log).await
    }
    async fn start(&self, job: &Job, log: &LogSink) -> Outcome {
        self.lifecycle(job, log).await
    }
    async fn stop(&self, job: &Job, log: &LogSink) -> Outcome {
        self.lifecycle(job, log).await
    }
    async fn restart(&self, job: &Job, log: &LogSink) -> Outcome {
        self.lifecycle(job, log).await
    }
    async fn terminate(&self, job: &Job, log: &LogSink) -> Outcome {
        self.lifecycle(job, log).await
    }
    /// The machine's secrets.env first, then the protocol (secrets.rs).
    async fn deploy(&self, job: &Job, params: &DeployParams, log: &LogSink) -> Outcome {
        match secrets::before_deploy(&self.ssh, job, log).await {
            Ok(written) => secrets::after_deploy(self.ssh.deploy(job, params, log).await, written),
            Err(failed) => failed,
        }
    }
    async fn command(&self, job: &Job, params: &CommandParams, log: &LogSink) -> Outcome {
        self.ssh.command_job(job, params, log).await
    }
    async fn authorize_keys(&self, job: &Job, log: &LogSink) -> Outcome {
        self.ssh.authorize_keys(job, log).await
    }
}

/// The configured mode. One per runner: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Executor {
    Simulate(Simulate),
    Terraform(TerraformMode),
}

impl Executor {
    pub fn mode(&self) -> Mode {
        match self {
            Executor::Simulate(_) => Mode::Simulate,
            Executor::Terraform(_) => Mode::Terraform,
        }
    }

    pub async fn run(&self, job: &Job, params: &Params, log: &LogSink) -> Outcome {
        match self {
            Executor::Simulate(s) => run(s, job, params, log).await,
            Executor::Terraform(t) => run(t, job, params, log).await,
        }
    }
}
