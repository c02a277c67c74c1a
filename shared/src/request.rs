//! `Call`: one incoming request with what every handler needs (config, caller, body).
use crate::config::Config;
use crate::error::ApiError;
use crate::jwt::{self, SessionClaims};
use serde::de::DeserializeOwned;
use worker::{Context, Env, Method, Request};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How deeply any body may nest arrays and objects (API.md §1). Deeper JSON is refused
/// before it is parsed: it could not be stored (SQL checks the same limits) and it once
/// jammed the scheduler for every tenant.
pub const MAX_BODY_DEPTH: usize = 32;

pub struct Call {
    pub req: Request,
    pub env: Env,
    pub ctx: Context,
    pub config: Config,
    pub request_id: String,
    /// Path segments after `/functions/v1/<name>/`, e.g. `["<id>"]` for `instances/<id>`.
    pub sub_path: Vec<String>,
    /// The bearer token verified once, by `serve` (rate limits count per user).
    pub(crate) verified: Option<Result<Caller, ApiError>>,
}

/// The authenticated caller, from a verified session (or Supabase Auth) token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: SessionClaims,
    /// The raw bearer token, forwarded to PostgREST so that RLS sees the caller.
    pub token: String,
}

impl Call {
    pub fn method(&self) -> Method {
        self.req.method()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.req.headers().get(name).ok().flatten()
    }

    pub fn bearer(&self) -> Option<String> {
        bearer_token(self.header("authorization").as_deref())
    }

    /// The bearer token as a verified Hangar session or Supabase Auth access token.
    pub fn caller(&self) -> Result<Caller, ApiError> {
        match &self.verified {
            Some(verified) => verified.clone(),
            None => verify_caller(self.bearer(), &self.config.jwt_secret),
        }
    }

    /// Only the service role may call this function (operators, cron stand-ins).
    pub fn require_service_role(&self) -> Result<(), ApiError> {
        use subtle::ConstantTimeEq;
        let token = self.bearer().ok_or(ApiError::Unauthorized)?;
        let key = self.config.service_key.as_bytes();
        if token.len() == key.len() && bool::from(token.as_bytes().ct_eq(key)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Only the service role may call this function".into()))
        }
    }

    /// Sends `delivery` (a job for the runner) after the response has gone.
    pub fn deliver_later(&self, delivery: Option<crate::dispatch::Delivery>) {
        if let Some(delivery) = delivery {
            let (config, request_id) = (self.config.clone(), self.request_id.clone());
            self.ctx.wait_until(async move {
                crate::dispatch::deliver(config, delivery, request_id).await;
            });
        }
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let url = self.req.url().ok()?;
        let value = url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        value
    }

    /// Reads the body as JSON into `T`, enforcing size, media type and strict fields.
    /// An empty body reads as `{}`, so a missing field is named rather than "invalid JSON".
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        parse_json(&self.body().await?)
    }

    /// The raw body, size- and media-type-checked (signatures are over these bytes).
    /// Read as a stream: a body without Content-Length (chunked) is refused as soon as it
    /// passes the limit, not after it has been read whole.
    pub async fn body(&mut self) -> Result<Vec<u8>, ApiError> {
        use futures_util::StreamExt;
        if let Some(len) = self.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            if len > MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
        }
        let mut bytes = Vec::new();
        if let Ok(mut stream) = self.req.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| ApiError::InvalidJson)?;
                if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
        }
        check_media_type(self.header("content-type").as_deref(), bytes.len())?;
        Ok(bytes)
    }

    /// Rejects a body where none is expected, but tolerates `{}` and an empty body.
    pub async fn no_body(&mut self) -> Result<(), ApiError> {
        let _: crate::domain::Empty = self.json().await?;
        Ok(())
    }
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

pub fn check_media_type(content_type: Option<&str>, body_len: usize) -> Result<(), ApiError> {
    if body_len > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if body_len == 0 {
        return Ok(());
    }
    let essence = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Strict JSON into `T`; the error names the offending field as a dotted path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let scan = scan(bytes);
    if scan.depth > MAX_BODY_DEPTH {
        return Err(ApiError::validation("body", format!("JSON may nest at most {MAX_BODY_DEPTH} levels deep")));
    }
    if scan.nul {
        // Postgres text and jsonb cannot hold U+0000: refused here, not by the database.
        return Err(ApiError::validation("body", "strings must not contain the NUL character (\\u0000)"));
    }
    // Syntax first, then the fields from the parsed value: a mistyped enum (`"tier": 0`)
    // is then a validation error naming its field, not "invalid JSON".
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| ApiError::InvalidJson)?;
    if !value.is_object() {
        // serde would fill a struct from an array, in field order.
        return Err(ApiError::validation("body", "The body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        field_error(&path, &err.into_inner().to_string())
    })
}

/// How deeply `bytes` nests arrays and objects, counted without parsing (brackets
/// inside strings do not count). Malformed JSON is left for the parser to name.
pub fn nesting_depth(bytes: &[u8]) -> usize {
    scan(bytes).depth
}

/// What one pass over a JSON text finds before it is parsed.
pub(crate) struct Scan {
    pub depth: usize,
    /// A `\u0000` escape inside a string.
    pub nul: bool,
}

pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let (mut depth, mut max, mut in_string, mut escaped, mut nul) = (0usize, 0usize, false, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, b'u') => {
                    nul |= bytes.get(i + 1..i + 5) == Some(b"0000");
                    escaped = false;
                }
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Scan { depth: max, nul }
}

/// Turns serde's message into `{field, message}`: unknown and missing fields name
/// themselves in backticks; other errors are at `path`.
fn field_error(path: &str, message: &str) -> ApiError {
    let base = if path == "." { "" } else { path };
    // serde_path_to_error already ends the path with an unknown field's name.
    let join = |name: &str| {
        if base.is_empty() || base == name || base.ends_with(&format!(".{name}")) {
            if base.is_empty() { name.to_string() } else { base.to_string() }
        } else {
            format!("{base}.{name}")
        }
    };
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(join)
    };
    if let Some(field) = named("unknown field `") {
        return ApiError::validation(field.clone(), format!("Unknown field `{field}`"));
    }
    if let Some(field) = named("missing field `") {
        return ApiError::validation(field.clone(), format!("`{field}` is required"));
    }
    let field = if base.is_empty() { "body".to_string() } else { base.to_string() };
    // serde appends " at line 1 column 12"; the client needs only the first part.
    let text = message.split(" at line ").next().unwrap_or(message);
    ApiError::validation(field.clone(), format!("`{field}`: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        token: String,
        identity_token: Option<String>,
    }


    #[test]
    fn names_unknown_missing_and_mistyped_fields() {
        assert_eq!(field_of(parse_json::<Body>(br#"{"token":"a","credits":5}"#).unwrap_err()), "credits");
        assert_eq!(field_of(parse_json::<Body>(b"{}").unwrap_err()), "token");
        assert_eq!(field_of(parse_json::<Body>(b"").unwrap_err()), "token");
        assert_eq!(field_of(parse_json::<Body>(br#"{"token":5}"#).unwrap_err()), "token");
        assert_eq!(field_of(parse_json::<Body>(br#"{"token":"a","identityToken":[]}"#).unwrap_err()), "identityToken");
        assert_eq!(field_of(parse_json::<Body>(b"[]").unwrap_err()), "body");
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(nesting_depth(b"{}"), 1);
        assert_eq!(nesting_depth(br#"{"a":"[[[[{{"}"#), 1);
        assert_eq!(nesting_depth(br#"{"a":"\"[["}"#), 1);
        assert_eq!(nesting_depth(deep(32).as_bytes()), 32);
        let body = format!(r#"{{"token":"a","identityToken":{}}}"#, deep(40));
        assert_eq!(field_of(parse_json::<Body>(body.as_bytes()).unwrap_err()), "body");
        assert_eq!(field_of(parse_json::<Body>(br#"{"token":"a\u0000b"}"#).unwrap_err()), "body");
        assert!(parse_json::<Body>(br#"{"token":"a\\u0000b"}"#).is_ok());
        let too_deep = format!("{{\"token\":{}}}", deep(31));
        assert_eq!(nesting_depth(too_deep.as_bytes()), 32);
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        assert_eq!(parse_json::<Body>(b"{bad").unwrap_err(), ApiError::InvalidJson);
        assert_eq!(parse_json::<Body>(br#"{"token":"a"} x"#).unwrap_err(), ApiError::InvalidJson);
    }

    #[test]
    fn media_type_and_size() {
        assert!(check_media_type(Some("application/json; charset=utf-8"), 2).is_ok());
        assert!(check_media_type(None, 0).is_ok());
        assert_eq!(check_media_type(Some("text/plain"), 2).unwrap_err(), ApiError::UnsupportedMediaType);
        assert_eq!(check_media_type(Some("application/json"), MAX_BODY_BYTES + 1).unwrap_err(), ApiError::PayloadTooLarge);
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")).as_deref(), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }
}
