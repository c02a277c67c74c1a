//! A keyset cursor (`cursor` of get-user-machines, get-billing, teams, projects): the
//! (created_at, id) of the last item of a page, as the SQL function gives it, in base64url
//! JSON. Opaque to clients; anything that is not one is a 400 naming the field. Also the
//! `?limit=&cursor=` pair that asks for a page (`PageQuery`).
use crate::error::ApiError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageCursor {
    /// RFC 3339, µs precision.
    pub ts: String,
    pub id: Uuid,
}

impl PageCursor {
    pub fn parse(field: &str, raw: &str) -> Result<PageCursor, ApiError> {
        let bad = || ApiError::validation(field, format!("`{field}` is not a cursor from a previous page"));
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let cursor: PageCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        chrono::DateTime::parse_from_rfc3339(&cursor.ts).map_err(|_| bad())?;
        Ok(cursor)
    }

    /// The cursor of the next page, from the SQL function's `next` (`{ts, id}`).
    pub fn encode(next: &Value) -> String {
        URL_SAFE_NO_PAD.encode(next.to_string())
    }
}

/// `?limit=(1..100, default 50)&cursor=` of a paged read.
#[derive(Debug, PartialEq)]
pub(crate) struct PageQuery {
    pub limit: i64,
    pub cursor: Option<PageCursor>,
}

impl PageQuery {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<PageQuery, ApiError> {
        let limit = match limit {
            None => 50,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| ApiError::validation("limit", "`limit` must be an integer from 1 to 100"))?,
        };
        Ok(PageQuery { limit, cursor: cursor.map(|c| PageCursor::parse("cursor", c)).transpose()? })
    }

    /// The cursor's moment, as the SQL functions take it (`p_cursor_ts`).
    pub fn cursor_ts(&self) -> Option<String> {
        self.cursor.as_ref().map(|c| c.ts.clone())
    }

    /// The cursor's id (`p_cursor_id`).
    pub fn cursor_id(&self) -> Option<Uuid> {
        self.cursor.as_ref().map(|c| c.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of;
    use serde_json::json;

    #[test]
    fn round_trips() {
        let next = json!({"ts": "2026-11-30T09:15:26.959108Z", "id": Uuid::nil()});
        let c = PageCursor::parse("cursor", &PageCursor::encode(&next)).unwrap();
        assert_eq!(c, PageCursor { ts: "2026-11-30T09:15:26.959108Z".into(), id: Uuid::nil() });
    }

    #[test]
    fn page_queries() {
        assert_eq!(PageQuery::parse(None, None).unwrap(), PageQuery { limit: 50, cursor: None });
        assert_eq!(PageQuery::parse(Some(" 100 "), None).unwrap().limit, 100);
        for bad in ["0", "101", "x", "-1", "1.5"] {
            assert_eq!(field_of(PageQuery::parse(Some(bad), None).unwrap_err()), "limit", "{bad}");
        }
        assert_eq!(field_of(PageQuery::parse(None, Some("nope")).unwrap_err()), "cursor");
        let next = json!({"ts": "2026-11-30T09:15:26.959108Z", "id": Uuid::nil()});
        let q = PageQuery::parse(Some("3"), Some(&PageCursor::encode(&next))).unwrap();
        assert_eq!((q.cursor_ts().as_deref(), q.cursor_id()), (Some("2026-11-30T09:15:26.959108Z"), Some(Uuid::nil())));
    }

    #[test]
    fn refuses_garbage() {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        for bad in [
            "garbage!".to_string(),
            enc(json!({"ts": "yesterday", "id": Uuid::nil()})),
            enc(json!({"ts": "2026-11-30T09:15:26Z"})),
            enc(json!({"ts": "2026-11-30T09:15:26Z", "id": "x"})),
            enc(json!({"ts": "2026-11-30T09:15:26Z", "id": Uuid::nil(), "more": 1})),
            enc(json!([1, 2])),
        ] {
            assert_eq!(field_of(PageCursor::parse("cursor", &bad).unwrap_err()), "cursor", "{bad}");
        }
    }
}
