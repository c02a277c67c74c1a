//! GET, PATCH /functions/v1/me — the caller's account.
shared::function!("me", [Get, Patch], user => shared::api::account::me);
