//! GET /functions/v1/get-logs (and get-recent-logs) — a machine's events, newest first.
shared::function!("get-logs", [Get], user => shared::api::machines::logs);
