//! Rate limits (API.md §1) through the Workers rate-limiting binding. A Worker declares
//! `RATE_LIMITER` (every request: per user, or per client IP without a session) and,
//! where machines are created, `CREATE_RATE_LIMITER` (POSTs only). The limits are the
//! bindings' own settings, generated from RATE_LIMIT_* by scripts/gen-wrangler.mjs, which
//! also tells each Worker which bindings it must have (`RATE_LIMIT_BINDINGS`; `none` for
//! runner-callback and scheduler, which are not limited).
//!
//! `record-metrics` counts per client address until the agent token is verified, then per
//! token, i.e. per machine (API.md §8 "Limits the database holds"): machines report from
//! the cloud, often many behind one NAT address, and a per-address count would let them
//! throttle each other once they are known; but a token nobody has verified yet is counted
//! on its address, so a caller inventing tokens shares one bucket rather than getting a
//! bucket per token. "Verified" is what this isolate has seen the database accept
//! ([`agent_verified`]); the database still checks every request. The key is a hash of
//! the token, so the token itself is never a key.
use crate::error::ApiError;
use std::cell::RefCell;
use std::collections::HashSet;
use worker::Env;

pub const BINDING: &str = "RATE_LIMITER";
pub const CREATE_BINDING: &str = "CREATE_RATE_LIMITER";
/// The bindings count per 60-second period; a refused client may retry after that.
pub const PERIOD_SECS: u32 = 60;

/// The function whose callers are machines' agents, counted per agent token.
pub const AGENT_ROUTE: &str = "record-metrics";

/// Agent tokens this isolate has seen the database accept (their keys). Bounded: when it
/// is full it starts again, and a forgotten token counts on its address until its next
/// accepted request.
const MAX_VERIFIED_AGENTS: usize = 10_000;
thread_local! {
    static VERIFIED_AGENTS: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// The key of an agent token, from its hex SHA-256 (`refresh::hash`, what the database stores).
fn agent_key(token_hash: &str) -> String {
    format!("agent:{}", &token_hash[..32])
}

/// `record-metrics` after the database accepted the token whose hash is `token_hash` (the
/// handler has it already): its later requests count on it.
pub fn agent_verified(token_hash: &str) {
    VERIFIED_AGENTS.with(|set| {
        let mut set = set.borrow_mut();
        if set.len() >= MAX_VERIFIED_AGENTS {
            set.clear();
        }
        set.insert(agent_key(token_hash));
    });
}

/// Who a limit counts on `route` (`authorization`: the request's header): on
/// `record-metrics` the agent token (its machine) once verified, else [`key`].
pub fn route_key(route: &str, user: Option<uuid::Uuid>, authorization: Option<&str>, client_ip: Option<&str>) -> String {
    match (route, crate::auth::bearer_token(authorization)) {
        (AGENT_ROUTE, Some(token)) => {
            let k = agent_key(&crate::auth::refresh::hash(&token));
            if VERIFIED_AGENTS.with(|set| set.borrow().contains(&k)) { k } else { key(user, client_ip) }
        }
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

/// Counts this request against the Worker's limits (`bindings`: the configuration's
/// `RATE_LIMIT_BINDINGS`, what the Worker must have); `creating` adds the create limit.
/// A binding the configuration names but the Worker lacks is `503`: a Worker deployed
/// without it would otherwise serve without a limit.
pub async fn check(env: &Env, bindings: &[String], key: &str, creating: bool) -> Result<(), ApiError> {
    for name in bindings.iter().filter(|b| creating || b.as_str() != CREATE_BINDING) {
        let limiter = env
            .rate_limiter(name)
            .map_err(|_| ApiError::Unavailable(format!("rate-limit binding {name} is not declared for this Worker")))?;
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
    fn unverified_agent_tokens_count_on_their_address() {
        // Made-up tokens from one address share its bucket (issue 15, defect 6).
        for t in ["Bearer made-up-1", "Bearer made-up-2", "Bearer made-up-3"] {
            assert_eq!(route_key(AGENT_ROUTE, None, Some(t), Some("9.9.9.9")), "ip:9.9.9.9");
        }
    }

    #[test]
    fn verified_agents_count_per_token_not_per_address() {
        agent_verified(&crate::auth::refresh::hash("token-a"));
        agent_verified(&crate::auth::refresh::hash("token-b"));
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
