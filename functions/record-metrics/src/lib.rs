//! POST /functions/v1/record-metrics — a machine's agent posts load samples (its agent token is the bearer).
shared::function!("record-metrics", [Post], public => shared::api::metrics::record);
