//! GET /functions/v1/health — database and runner reachability, no auth.
shared::function!("health", [Get], shared::health::check);
