//! POST /functions/v1/stop-machine — running → stopping.
shared::function!("stop-machine", [Post], |call| shared::machines::act(call, "stop"));
