//! Rate limits (API.md §1) through the Workers rate-limiting binding. A Worker declares
//! `RATE_LIMITER` (every request: per user, or per client IP without a session) and,
//! where machines are created, `CREATE_RATE_LIMITER` (POSTs only). The limits are the
//! bindings' own settings, generated from RATE_LIMIT_* by scripts/gen-wrangler.mjs; a
//! Worker without the binding (runner-callback, scheduler) is not limited.
use crate::error::ApiError;
use worker::Env;

pub const BINDING: &str = "RATE_LIMITER";
pub const CREATE_BINDING: &str = "CREATE_RATE_LIMITER";
/// The bindings count per 60-second period; a refused client may retry after that.
pub const PERIOD_SECS: u32 = 60;

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
        assert_eq!(key(Some(uuid::Uuid::nil()), Some("1.2.3.4")), format!("user:{}", uuid::Uuid::nil()));
        assert_eq!(key(None, Some("1.2.3.4")), "ip:1.2.3.4");
        assert_eq!(key(None, None), "ip:unknown");
    }
}
