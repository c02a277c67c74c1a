//! POST /functions/v1/cancel-job { jobId } — cancels a deploy or command job of the caller's.
shared::function!("cancel-job", [Post], user => shared::api::machine_jobs::cancel);
