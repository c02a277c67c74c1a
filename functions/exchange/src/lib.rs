//! POST /functions/v1/exchange — a Privy access token (and identity token) for a session.
shared::function!("exchange", [Post], shared::account::exchange);
