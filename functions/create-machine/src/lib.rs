//! POST /functions/v1/create-machine — a new machine and its create job (Idempotency-Key honoured).
shared::function!("create-machine", [Post], user => shared::api::machines::create);
