//! The Workers' side of the runner (API.md §5): jobs leave the outbox as signed webhooks
//! (`deliver`), come back as signed reports (`callback`), and the `scheduler` re-delivers
//! what is due.
pub(crate) mod callback;
pub(crate) mod deliver;
pub(crate) mod rotation;
pub(crate) mod scheduler;

pub(crate) use deliver::{hand_over, Delivery};
