//! POST /functions/v1/stop-machine — running → stopping.
shared::function!("stop-machine", [Post], user => shared::api::machines::stop);
