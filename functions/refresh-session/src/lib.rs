//! POST /functions/v1/refresh-session — spend a refresh token for a new session.
shared::function!("refresh-session", [Post], public => shared::api::account::refresh_session);
