//! The one error type of every function. Each variant knows its HTTP status and its
//! `error_code` (API.md §1); `envelope::error_response` turns it into the response.
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    InvalidJson,
    Validation { field: String, message: String },
    Unauthorized,
    InvalidToken,
    TokenExpired,
    InsufficientCredits { balance_cents: i64, required_cents: i64 },
    Forbidden(String),
    /// A per-account (or per-machine) limit of API.md §1 is reached.
    QuotaExceeded { message: String, limit: i64, current: i64 },
    NotFound(String),
    MethodNotAllowed { allow: String },
    InvalidStateTransition { message: String, details: Value },
    Conflict(String),
    ProjectNotEmpty { machine_count: i64 },
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited { retry_after_secs: u32 },
    /// A missing configuration variable: the function cannot run at all.
    Misconfigured { variable: &'static str },
    /// Anything unexpected; the text goes to the log, never to the client.
    Internal(String),
    /// PostgREST or the runner answered badly; the text goes to the log only.
    Upstream(String),
    /// PostgREST or the database is unreachable; the text goes to the log only.
    Unavailable(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation { field: field.into(), message: message.into() }
    }

    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            InvalidJson | Validation { .. } => 400,
            Unauthorized | InvalidToken | TokenExpired => 401,
            InsufficientCredits { .. } => 402,
            Forbidden(_) | QuotaExceeded { .. } => 403,
            NotFound(_) => 404,
            MethodNotAllowed { .. } => 405,
            InvalidStateTransition { .. } | Conflict(_) | ProjectNotEmpty { .. } => 409,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            RateLimited { .. } => 429,
            Misconfigured { .. } | Internal(_) => 500,
            Upstream(_) => 502,
            Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidJson => "invalid_json",
            Validation { .. } => "validation_error",
            Unauthorized => "unauthorized",
            InvalidToken => "invalid_token",
            TokenExpired => "token_expired",
            InsufficientCredits { .. } => "insufficient_credits",
            Forbidden(_) => "forbidden",
            QuotaExceeded { .. } => "quota_exceeded",
            NotFound(_) => "not_found",
            MethodNotAllowed { .. } => "method_not_allowed",
            InvalidStateTransition { .. } => "invalid_state_transition",
            Conflict(_) => "conflict",
            ProjectNotEmpty { .. } => "project_not_empty",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            RateLimited { .. } => "rate_limited",
            Misconfigured { .. } | Internal(_) => "internal_error",
            Upstream(_) => "upstream_error",
            Unavailable(_) => "unavailable",
        }
    }

    /// The message the client sees: never internals.
    pub fn message(&self) -> String {
        use ApiError::*;
        match self {
            InvalidJson => "Request body is not valid JSON".into(),
            Validation { message, .. } => message.clone(),
            Unauthorized => "Missing bearer token".into(),
            InvalidToken => "Invalid token".into(),
            TokenExpired => "Token has expired".into(),
            InsufficientCredits { .. } => "Insufficient credits".into(),
            Forbidden(m) | NotFound(m) | Conflict(m) => m.clone(),
            QuotaExceeded { message, .. } => message.clone(),
            MethodNotAllowed { .. } => "Method not allowed".into(),
            InvalidStateTransition { message, .. } => message.clone(),
            ProjectNotEmpty { .. } => "Project still has machines".into(),
            PayloadTooLarge => "Request body exceeds 64 KiB".into(),
            UnsupportedMediaType => "Request body must be application/json".into(),
            RateLimited { .. } => "Too many requests".into(),
            Misconfigured { .. } | Internal(_) => "Internal error".into(),
            Upstream(_) => "An upstream service failed".into(),
            Unavailable(_) => "Service temporarily unavailable".into(),
        }
    }

    pub fn details(&self) -> Option<Value> {
        use ApiError::*;
        match self {
            Validation { field, .. } => Some(json!({ "field": field })),
            InsufficientCredits { balance_cents, required_cents } => Some(json!({
                "balanceCents": balance_cents, "requiredCents": required_cents
            })),
            InvalidStateTransition { details, .. } => Some(details.clone()),
            ProjectNotEmpty { machine_count } => Some(json!({ "machineCount": machine_count })),
            QuotaExceeded { limit, current, .. } => Some(json!({ "limit": limit, "current": current })),
            RateLimited { retry_after_secs } => Some(json!({ "retryAfter": retry_after_secs })),
            _ => None,
        }
    }

    /// What only the log may see.
    pub fn internal_detail(&self) -> Option<String> {
        use ApiError::*;
        match self {
            Internal(s) | Upstream(s) | Unavailable(s) => Some(s.clone()),
            Misconfigured { variable } => Some(format!("missing configuration variable {variable}")),
            _ => None,
        }
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(format!("worker: {e}"))
    }
}

/// Test helper: the field a validation error names.
#[cfg(test)]
pub(crate) fn field_of(e: ApiError) -> String {
    match e {
        ApiError::Validation { field, .. } => field,
        other => panic!("not a validation error: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_never_reach_the_message() {
        let e = ApiError::Upstream("PGRST body with secret".into());
        assert_eq!(e.status(), 502);
        assert!(!e.message().contains("secret"));
        let e = ApiError::Misconfigured { variable: "SUPABASE_JWT_SECRET" };
        assert_eq!((e.status(), e.code()), (500, "internal_error"));
        assert!(e.internal_detail().unwrap().contains("SUPABASE_JWT_SECRET"));
    }

    #[test]
    fn validation_names_the_field() {
        let e = ApiError::validation("displayName", "too long");
        assert_eq!(e.details().unwrap()["field"], "displayName");
        assert_eq!(e.code(), "validation_error");
    }
}
