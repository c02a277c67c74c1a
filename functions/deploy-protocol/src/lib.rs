//! POST /functions/v1/deploy-protocol — deploy a protocol on a running machine.
shared::function!("deploy-protocol", [Post], user => shared::api::machine_jobs::deploy);
