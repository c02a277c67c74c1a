//! Who is calling. A handler declared `user =>` receives a verified `Caller`; `service =>`
//! handlers run only for the service-role key; sign-in (`exchange`) verifies Privy tokens.
mod caller;
pub(crate) mod jwt;
pub(crate) mod privy;
pub(crate) mod refresh;

pub use caller::Caller;
pub(crate) use caller::{bearer_token, require_service_role, verify_caller};
