//! GET /functions/v1/get-job?jobId= — one job of the caller's.
shared::function!("get-job", [Get], user => shared::api::machines::job);
