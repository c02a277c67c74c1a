//! The `scheduler` Worker: on its cron trigger it re-delivers due jobs. The same tick can be
//! run by hand with `POST /functions/v1/scheduler` and the service-role key (operators, tests).
use shared::prelude::*;
use shared::{log, scheduler, Config};

#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    let request_id = format!("cron-{}", shared::clock::now_millis());
    let outcome = match Config::from_env(&env) {
        Ok(config) => scheduler::tick(&config, &request_id).await,
        Err(e) => Err(e),
    };
    let line = match outcome {
        Ok(report) => serde_json::json!({"level": "info", "request_id": request_id, "function": "scheduler", "report": report}),
        Err(e) => serde_json::json!({"level": "error", "request_id": request_id, "function": "scheduler",
            "error": e.internal_detail().unwrap_or_else(|| e.code().into())}),
    };
    log::line(&line);
}

shared::function!("scheduler", [Post], |call: Call| async move {
    call.require_service_role()?;
    let report = scheduler::tick(&call.config, &call.request_id).await?;
    Ok(Reply::ok(report))
});
