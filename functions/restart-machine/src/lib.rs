//! POST /functions/v1/restart-machine — running → restarting.
shared::function!("restart-machine", [Post], user => shared::api::machines::restart);
