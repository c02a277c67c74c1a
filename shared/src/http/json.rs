//! Request bodies: media type and size, then strict JSON into a type. Errors name the
//! offending field as a JSON path; nesting and NUL characters are refused before parsing.
use crate::error::ApiError;
use crate::http::call::MAX_BODY_BYTES;
use serde::de::DeserializeOwned;

/// How deeply any body may nest arrays and objects (API.md §1). Deeper JSON is refused
/// before it is parsed: it could not be stored (SQL checks the same limits) and it once
/// jammed the scheduler for every tenant.
pub const MAX_BODY_DEPTH: usize = 32;

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
#[cfg(test)]
pub(crate) fn nesting_depth(bytes: &[u8]) -> usize {
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
}
