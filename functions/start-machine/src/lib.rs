//! POST /functions/v1/start-machine — stopped or error → starting.
shared::function!("start-machine", [Post], user => shared::api::machines::start);
