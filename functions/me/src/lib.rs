//! GET, PATCH /functions/v1/me — the caller's account.
shared::function!("me", [Get, Patch], shared::account::me_or_update);
