//! POST /functions/v1/logout — revoke the caller's refresh family.
shared::function!("logout", [Post], shared::account::logout);
