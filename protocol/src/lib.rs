//! hangar-protocol: the one definition of what travels between the Workers and the runner
//! (API.md §5), so that the two sides cannot drift apart:
//! - [`signing`]: the `Hangar-Signature` header, with a separate signing context per
//!   direction (a webhook can never be replayed as a callback, or the reverse);
//! - [`payload`]: the webhook body (Worker → runner: SQL's `private.delivery_json` plus
//!   the Worker's fields, read here by the runner, which answers 400 to a body that breaks
//!   it), the typed `params` of each action, and the callback body (runner → Worker).
//!
//! No worker/wasm dependency: the edge crate (wasm32) and the native runner both use it.

pub mod payload;
pub mod signing;
