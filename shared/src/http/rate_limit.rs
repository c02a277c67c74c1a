//! Rate limits (API.md §1) through the Workers rate-limiting binding. A Worker declares
//! `RATE_LIMITER` (every request: per user, or per client IP without a session) and,
//! where machines are created, `CREATE_RATE_LIMITER` (POSTs only). The limits are the
//! bindings' own settings, generated from RATE_LIMIT_* by scripts/gen-wrangler.mjs; a
//! Worker without the binding (runner-callback, scheduler) is not limited.
//!
//! `record-metrics` counts per agent token, i.e. per machine (each machine has its own):
//! machines report from the cloud, often many behind one NAT address, and a per-address
//! count would let them throttle each other. The key is a hash of the token, so the token
//! itself is never a key; a caller inventing tokens gets a bucket per token, but each such
//! request is one indexed lookup that stores nothing (401).
use crate::error::ApiError;
use worker::Env;

pub const BINDING: &str = "RATE_LIMITER";
pub const CREATE_BINDING: &str = "CREATE_RATE_LIMITER";
/// The bindings count per 60-second period; a refused client may retry after that.
pub const PERIOD_SECS: u32 = 60;

/// The function whose callers are machines' agents, counted per agent token.
pub const AGENT_ROUTE: &str = "record-metrics";

/// Who a limit counts on `route` (`authorization`: the request's header): on
/// `record-metrics` the agent token (its machine), on the others [`key`].
pub fn route_key(route: &str, user: Option<uuid::Uuid>, authorization: Option<&str>, client_ip: Option<&str>) -> String {
    match (route, crate::auth::bearer_token(authorization)) {
        (AGENT_ROUTE, Some(token)) => format!("agent:{}", &crate::auth::refresh::hash(&token)[..32]),
        _ => key(user, client_ip),
    }
}

/// Who a limit counts: the verified user, else the client's address.
pub fn key(user: Option<uuid::Uuid>, client_ip: Option<&str>) -> String {
    match user {
        Some(sub) => format!("user:{sub}"),
        None => format!("ip:{}", client_ip.filter(|ip| !ip.is_empty()).unwrap_or("unknown")),
    }
}

/// Counts this request against the Worker's limits; `creating` adds the create limit.
pub async fn check(env: &Env, key: &str, creating: bool) -> Result<(), ApiError> {
    let bindings: &[&str] = if creating { &[BINDING, CREATE_BINDING] } else { &[BINDING] };
    for name in bindings {
        // A binding that is not declared means no limit here (see the file comment).
        let Ok(limiter) = env.rate_limiter(name) else { continue };
        let outcome = limiter.limit(key.to_string()).await?;
        if !outcome.success {
            return Err(ApiError::RateLimited { retry_after_secs: PERIOD_SECS });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_user_or_the_address() {
        let nil = uuid::Uuid::nil();
        assert_eq!(key(Some(nil), Some("1.2.3.4")), format!("user:{nil}"));
        assert_eq!(key(None, Some("1.2.3.4")), "ip:1.2.3.4");
        assert_eq!(key(None, None), "ip:unknown");
        assert_eq!(route_key("me", Some(nil), Some("Bearer jwt"), Some("1.2.3.4")), format!("user:{nil}"));
        assert_eq!(route_key("me", None, Some("Bearer bad"), Some("1.2.3.4")), "ip:1.2.3.4");
    }

    #[test]
    fn agents_count_per_token_not_per_address() {
        // Two machines behind one NAT address: two buckets.
        let (a, b) = (route_key(AGENT_ROUTE, None, Some("Bearer token-a"), Some("1.2.3.4")), route_key(AGENT_ROUTE, None, Some("Bearer token-b"), Some("1.2.3.4")));
        assert_ne!(a, b);
        assert!(a.starts_with("agent:") && a.len() == "agent:".len() + 32, "{a}");
        assert_eq!(a, route_key(AGENT_ROUTE, None, Some("Bearer token-a"), Some("5.6.7.8")), "one machine, one bucket, whatever its address");
        assert!(!a.contains("token-a"), "the token itself is never a key");
        assert_eq!(a, route_key(AGENT_ROUTE, None, Some("bearer  token-a "), None), "the token as the handler reads it");
        // Without a token (401 anyway) the address counts.
        assert_eq!(route_key(AGENT_ROUTE, None, None, Some("1.2.3.4")), "ip:1.2.3.4");
        assert_eq!(route_key(AGENT_ROUTE, None, Some("Basic token-a"), Some("1.2.3.4")), "ip:1.2.3.4");
    }
}
