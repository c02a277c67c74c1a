//! GET /functions/v1/insights — one machine's CPU, memory, disk and network over the last hour, day or week.
shared::function!("insights", [Get], user => shared::api::metrics::insights);
