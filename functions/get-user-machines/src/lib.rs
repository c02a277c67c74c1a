//! GET /functions/v1/get-user-machines — the caller's machines, filtered and paginated.
shared::function!("get-user-machines", [Get], user => shared::api::machines::list);
