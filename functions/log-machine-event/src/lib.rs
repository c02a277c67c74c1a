//! POST /functions/v1/log-machine-event — a user's event on its machine.
shared::function!("log-machine-event", [Post], user => shared::api::machines::log_event);
