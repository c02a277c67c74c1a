//! Everything the Hangar edge functions share: configuration, the HTTP envelope and
//! CORS, request parsing, auth, PostgREST access, domain types and the services that
//! the function crates call. A function crate only picks a service and answers.

pub mod account;
pub mod callback;
pub mod clock;
pub mod config;
pub mod cors;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod envelope;
pub mod error;
pub mod health;
pub mod jobs;
pub mod jwt;
pub mod log;
pub mod machines;
pub mod models;
pub mod privy;
pub mod rate_limit;
pub mod refresh;
pub mod request;
pub mod scheduler;
pub mod serve;

pub use config::Config;
pub use error::ApiError;
pub use request::Call;
pub use serve::{serve, Reply, Route};

/// What a function crate needs in scope.
pub mod prelude {
    pub use crate::error::ApiError;
    pub use crate::request::Call;
    pub use crate::serve::{serve, Reply, Route};
    pub use worker::{event, Context, Env, Method, Request, Response};
}
