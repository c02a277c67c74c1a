//! POST /functions/v1/send-command — run a command on a running machine.
shared::function!("send-command", [Post], user => shared::api::machine_jobs::command);
