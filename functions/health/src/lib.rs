//! GET /functions/v1/health — database and runner reachability, no auth.
shared::function!("health", [Get], public => shared::api::health::check);
