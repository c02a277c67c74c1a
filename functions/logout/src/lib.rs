//! POST /functions/v1/logout — revoke the caller's refresh family.
shared::function!("logout", [Post], user => shared::api::account::logout);
