//! POST /functions/v1/runner-callback — the runner's signed job reports (API.md §5).
shared::function!("runner-callback", [Post], public => shared::api::runner::callback);
