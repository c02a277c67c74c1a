//! POST or DELETE /functions/v1/delete-machine — → terminating (or terminated if never provisioned).
shared::function!("delete-machine", [Post, Delete], user => shared::api::machines::delete);
