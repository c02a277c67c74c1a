//! GET /functions/v1/get-billing — the caller's balance, billing records (cursor pages) and a month's usage.
shared::function!("get-billing", [Get], user => shared::api::billing::get);
