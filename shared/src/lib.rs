//! Everything the Hangar edge functions share. A function crate is one line: its route,
//! methods, who may call it and its handler in `api` (`shared::function!`). The layers,
//! from the edge inwards:

/// HTTP plumbing: serve (the pipeline), `Call`, `Reply`, the envelope, CORS, body
/// parsing, rate limits, and the `function!` macro.
mod http;
/// Who is calling: the `Caller` from a session (or Supabase Auth) JWT, Privy sign-in,
/// refresh tokens.
mod auth;
/// The API: one module per resource; each handler parses its input into domain types,
/// makes one database call and replies.
pub mod api;
/// The runner's side of the outbox: delivering jobs, receiving callbacks, the scheduler.
mod runner;
/// PostgREST: one typed struct per SQL function, one call site.
mod db;
/// Domain types, parsed once at the edge: one type per file, with its tests.
mod domain;
/// Secret values at rest: AES-256-GCM under `SECRETS_KEY` (WebCrypto in the Worker).
mod crypto;
/// Configuration from the Worker's environment; secrets redacted in `Debug`.
mod config;
/// The one error type, and its mapping to status and `error_code`.
mod error;
/// Time in UTC (the Worker's clock).
mod clock;
/// JSON log lines.
mod log;

#[cfg(test)]
mod proptests;

pub use error::ApiError;
pub use http::{Call, Reply};
pub use auth::Caller;

/// What the `function!` macro expands to; not an API.
#[doc(hidden)]
pub mod __function {
    pub use crate::http::{serve, Route};
    pub use worker::{event, Context, Env, Method, Request, Response, ScheduleContext, ScheduledEvent};
}
