//! GET /functions/v1/get-pricing — the tiers and their prices, no auth.
shared::function!("get-pricing", [Get], public => shared::api::pricing::pricing);
