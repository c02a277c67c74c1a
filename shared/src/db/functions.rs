//! The SQL functions the Workers call, one struct each: the parameters (sent as
//! `p_<field>`; a `None` is left out so the SQL default applies) and what the data of the
//! outcome decodes to. Grouped as the migrations group them.
use super::rpc;
use crate::api::models::Account;
use crate::domain::{Action, SqlPatch};
use crate::runner::Delivery;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

// ---- accounts and sessions -----------------------------------------------------------------

/// What the session functions answer: the account and its refresh family.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Signed {
    pub account: Account,
    pub session_id: Uuid,
}

rpc! {
    /// `exchange`: the account of a Privy user (created on first sign-in) and a new
    /// refresh family.
    Exchange => "hangar_exchange" -> Signed {
        privy_did: String,
        provider: Option<String>,
        identifier: Option<String>,
        refresh_hash: String,
        refresh_ttl_days: i64,
    }
}

rpc! {
    /// `refresh-session`: spends a refresh token; a reused one revokes its family.
    Refresh => "hangar_refresh" -> Signed {
        refresh_hash: String,
        new_refresh_hash: String,
        refresh_ttl_days: i64,
    }
}

rpc! {
    /// `logout`: revokes the session's refresh family.
    Logout => "hangar_logout" -> Value { session_id: Option<Uuid> }
}

rpc! {
    /// `me`: the caller's account.
    Me => "hangar_me" -> Account {}
}

rpc! {
    /// `me` PATCH.
    UpdateMe => "hangar_update_me" -> Account { display_name: SqlPatch, photo_url: SqlPatch }
}

rpc! {
    /// `health`: the database answers.
    Health => "hangar_health" -> Value {}
}

// ---- machines --------------------------------------------------------------------------------

/// What a transition answers: the machine, whether anything changed (202) or not (200),
/// and the job to hand to the runner.
#[derive(Deserialize)]
pub(crate) struct Transition {
    pub machine: super::Raw,
    pub changed: bool,
    #[serde(default)]
    pub delivery: Option<Delivery>,
}

rpc! {
    /// `create-machine`: project, quota, balance and Idempotency-Key checks, then the
    /// machine, its create job and event.
    CreateMachine => "hangar_create_machine" -> Transition {
        name: String,
        tier: Option<String>,
        provider: String,
        region: Option<String>,
        image: String,
        project_id: Option<Uuid>,
        configuration: Value,
        ssh_public_key: Option<String>,
        ssh_key_ids: Option<Vec<Uuid>>,
        idempotency_key: Option<String>,
        team_id: Option<Uuid>,
        cpu: Option<f64>,
        memory_mb: Option<i64>,
        disk_gb: Option<i64>,
    }
}

rpc! {
    /// start / stop / restart / delete.
    MachineAction => "hangar_machine_action" -> Transition { machine_id: Uuid, action: Action }
}

/// What update-machine answers: the machine, and the authorize_keys job of a running
/// machine whose SSH keys changed (handed to the runner, never shown to the caller).
#[derive(Deserialize)]
pub(crate) struct Updated {
    pub machine: super::Raw,
    #[serde(default)]
    pub delivery: Option<Delivery>,
}

rpc! {
    /// `update-machine`: name and project any time, tier only while stopped, SSH keys
    /// (an authorize_keys job while running; refused while on the way to a status).
    UpdateMachine => "hangar_update_machine" -> Updated {
        machine_id: Uuid,
        name: SqlPatch,
        project_id: SqlPatch,
        tier: SqlPatch,
        ssh_key_ids: SqlPatch,
    }
}

/// A page of machines, and where the next one starts.
#[derive(Deserialize)]
pub(crate) struct Page {
    pub machines: Vec<super::Raw>,
    pub next: Option<Value>,
}

rpc! {
    /// `get-user-machines`: keyset pages, newest first (own machines and the teams').
    ListMachines => "hangar_list_machines" -> Page {
        status: Option<String>,
        project_id: Option<Uuid>,
        team_id: Option<Uuid>,
        limit: i64,
        cursor_ts: Option<String>,
        cursor_id: Option<Uuid>,
        include_terminated: bool,
    }
}

rpc! {
    /// `get-machine-status`: the machine and its last 10 events.
    GetMachine => "hangar_get_machine" -> super::Raw { machine_id: Uuid }
}

rpc! {
    /// `log-machine-event`.
    LogEvent => "hangar_log_event" -> super::Raw {
        machine_id: Uuid,
        event_type: String,
        details: Option<Value>,
        level: Option<String>,
    }
}

rpc! {
    /// `get-logs`: events newest first, optionally before a moment.
    GetLogs => "hangar_get_logs" -> super::Raw { machine_id: Uuid, limit: i64, before: Option<String> }
}

rpc! {
    /// `get-job`.
    GetJob => "hangar_get_job" -> super::Raw { job_id: Uuid }
}

// ---- jobs on a running machine ---------------------------------------------------------------

/// A deploy or command job: the Job, the deployment (deploy only), what to deliver.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Queued {
    pub job: super::Raw,
    pub deployment_id: Option<Uuid>,
    pub delivery: Option<Delivery>,
}

rpc! {
    /// `cancel-job`: a deploy or command job, cancelled or marked for its runner to stop.
    CancelJob => "hangar_cancel_job" -> super::Raw { job_id: Uuid }
}

rpc! {
    /// `deploy-protocol` / `send-command`: params checked exactly as the runner reads them.
    MachineJob => "hangar_machine_job" -> Queued { machine_id: Uuid, action: Action, params: Value }
}

// ---- the outbox and the runner ---------------------------------------------------------------

rpc! {
    /// After a delivery attempt: delivered, or back in the queue with back-off, or failed.
    DeliveryResult => "hangar_delivery_result" -> Value {
        job_id: Uuid,
        ok: bool,
        error: Option<String>,
        agent_token_hash: Option<String>,
        max_attempts: i64,
        retry_base_ms: i64,
    }
}

/// The scheduler's claim: what the reaper did first, then the due jobs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DueJobs {
    pub timed_out: i64,
    pub requeued: i64,
    pub jobs: Vec<Delivery>,
}

rpc! {
    /// The scheduler's claim of due jobs (each with its payload as JSON text), after the
    /// reaper (timeouts, expired leases); the lease is the database's `job_lease_seconds`.
    ClaimDueJobs => "hangar_claim_due_jobs" -> DueJobs { limit: i64 }
}

rpc! {
    /// `runner-callback` with `status: claimed`: a runner's claim of a job (lease and
    /// fencing number, or why not). A claim sent again answers the same claim.
    JobClaim => "hangar_job_claim" -> Value { job_id: Uuid, runner_id: String }
}

/// What a runner report came to, and maybe a terminate to deliver (API.md §5).
#[derive(Deserialize)]
pub(crate) struct Applied {
    #[serde(default)]
    pub delivery: Option<Delivery>,
    #[serde(flatten)]
    pub report: serde_json::Map<String, Value>,
}

rpc! {
    /// `runner-callback`: one report, applied in one transaction; `signature` is the
    /// canonical (t, v1) that makes a replay a no-op.
    JobCallback => "hangar_job_callback" -> Applied {
        job_id: Uuid,
        status: String,
        outputs: Option<Value>,
        logs: Value,
        result: Option<Value>,
        error: Option<String>,
        signature: String,
        fence: i64,
    }
}
