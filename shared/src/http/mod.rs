//! The request pipeline and its parts. `serve` runs every request: request id, CORS,
//! method check, configuration, rate limit, the handler, the envelope, the log line.
pub(crate) mod call;
pub(crate) mod cors;
mod envelope;
pub(crate) mod json;
pub(crate) mod rate_limit;
mod reply;
mod serve;

pub use call::Call;
pub(crate) use json::{parse_json, scan};
pub use reply::Reply;
pub use serve::{serve, Route};
