//! The caller of a `user =>` route: a verified session (or Supabase Auth) token, and the
//! service-role check of `service =>` routes.
use crate::auth::jwt::{self, SessionClaims};
use crate::error::ApiError;

/// The authenticated caller, from a verified session (or Supabase Auth) token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub(crate) claims: SessionClaims,
    /// The raw bearer token, forwarded to PostgREST so that RLS sees the caller.
    pub(crate) token: String,
}

pub(crate) fn verify_caller(bearer: Option<String>, secret: &str) -> Result<Caller, ApiError> {
    let token = bearer.ok_or(ApiError::Unauthorized)?;
    let claims = jwt::verify_session(&token, secret)?;
    Ok(Caller { claims, token })
}

pub fn bearer_token(header: Option<&str>) -> Option<String> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// Only the service role may call this function (operators, cron stand-ins). The key is
/// compared in constant time.
pub(crate) fn require_service_role(bearer: Option<&str>, service_key: &str) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let token = bearer.ok_or(ApiError::Unauthorized)?;
    let key = service_key.as_bytes();
    if token.len() == key.len() && bool::from(token.as_bytes().ct_eq(key)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only the service role may call this function".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")).as_deref(), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn only_the_service_key_passes() {
        assert!(require_service_role(Some("k3y"), "k3y").is_ok());
        assert_eq!(require_service_role(Some("k3z"), "k3y").unwrap_err().status(), 403);
        assert_eq!(require_service_role(None, "k3y").unwrap_err(), ApiError::Unauthorized);
    }
}
