//! GET /functions/v1/get-machine-status?machineId= — a machine and its recent events.
shared::function!("get-machine-status", [Get], user => shared::api::machines::status);
