//! POST /functions/v1/exchange — a Privy access token (and identity token) for a session.
shared::function!("exchange", [Post], public => shared::api::account::exchange);
