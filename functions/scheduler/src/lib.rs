//! The `scheduler` Worker: on its cron trigger it meters usage (charges, stops machines of
//! accounts at zero), prunes old metrics and re-delivers due jobs; the same tick runs on
//! `POST /functions/v1/scheduler` with the service-role key (operators, tests).
shared::function!("scheduler", [Post], service => shared::api::runner::tick, cron => shared::api::runner::cron);
