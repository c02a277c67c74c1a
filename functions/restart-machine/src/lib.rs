//! POST /functions/v1/restart-machine — running → restarting.
shared::function!("restart-machine", [Post], |call| shared::machines::act(call, "restart"));
