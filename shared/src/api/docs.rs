//! `docs` (API.md §6): the OpenAPI 3.1 document of every function (docs/openapi.json), as
//! JSON for tools (`Accept: application/json`, `?format=json`, or no preference) or as a
//! page for browsers (`Accept: text/html` or `?format=html`): docs/docs.html with the
//! document inlined and a renderer of its own, so the page loads nothing from elsewhere.
//!
//! The answer is a file, not an envelope, yet it still goes through `serve` (request id,
//! CORS, method and path checks, rate limit, the log line): the handler answers an empty
//! envelope and `fetch` swaps its body for the file, keeping the headers. Errors stay
//! envelopes.
use crate::error::ApiError;
use crate::http::{serve, Call, Reply, Route};
use serde_json::Value;
use worker::{Context, Env, Headers, Method, Request, Response};

/// The document, as kept in the repository.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");
/// The page: `PAGE_HEAD`, the document, `PAGE_TAIL` (split where docs.html says).
const PAGE: &str = include_str!("../../../docs/docs.html");
const SLOT: &str = "/*OPENAPI*/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
}

/// `?format=` wins; else a browser's `Accept` (it names text/html) gets the page; anything
/// else (JSON tools, curl, no header) the document.
fn negotiate(format: Option<&str>, accept: Option<&str>) -> Result<Format, ApiError> {
    match format.map(str::trim) {
        Some("json") => Ok(Format::Json),
        Some("html") => Ok(Format::Html),
        Some(_) => Err(ApiError::validation("format", "`format` must be json or html")),
        None => {
            let accept = accept.unwrap_or("").to_ascii_lowercase();
            let html = accept.split(',').any(|m| m.split(';').next().unwrap_or("").trim() == "text/html");
            Ok(if html { Format::Html } else { Format::Json })
        }
    }
}

/// The page with the document inlined. Inside `<script type="application/json">` only a
/// `</` could end the element early; `<\/` is the same JSON.
fn page() -> String {
    let (head, tail) = PAGE.split_once(SLOT).unwrap_or((PAGE, ""));
    let mut out = String::with_capacity(PAGE.len() + OPENAPI.len());
    out.push_str(head);
    out.push_str(&OPENAPI.replace("</", "<\\/"));
    out.push_str(tail);
    out
}

/// The Worker's `fetch` (functions/docs).
pub async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let format = negotiate(
        crate::http::call::query_param(&req.inner().url(), "format").as_deref(),
        req.headers().get("accept").ok().flatten().as_deref(),
    );
    let route = Route { name: "docs", methods: &[Method::Get], sub_paths: false };
    let checked = format.clone();
    let mut res = serve(req, env, ctx, route, move |call: Call| async move { check(call, checked) }).await?;
    let (Ok(format), 200) = (format, res.status_code()) else {
        return Ok(res);
    };
    let headers = std::mem::replace(res.headers_mut(), Headers::new());
    headers.set("vary", "Accept")?;
    headers.set("cache-control", "public, max-age=300")?;
    let body = match format {
        Format::Json => {
            headers.set("content-type", "application/json; charset=utf-8")?;
            OPENAPI.as_bytes().to_vec()
        }
        Format::Html => {
            headers.set("content-type", "text/html; charset=utf-8")?;
            headers.set("content-security-policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")?;
            page().into_bytes()
        }
    };
    Ok(Response::from_bytes(body)?.with_status(200).with_headers(headers))
}

/// Inside `serve` (which answers a sub-path 404): a bad `format` is 400; otherwise an empty
/// answer that `fetch` replaces.
fn check(_call: Call, format: Result<Format, ApiError>) -> Result<Reply, ApiError> {
    format.map(|_| Reply::ok(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of;

    #[test]
    fn format_and_accept_choose_the_answer() {
        assert_eq!(negotiate(None, None).ok(), Some(Format::Json));
        assert_eq!(negotiate(None, Some("application/json")).ok(), Some(Format::Json));
        assert_eq!(negotiate(None, Some("*/*")).ok(), Some(Format::Json));
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(negotiate(None, Some(browser)).ok(), Some(Format::Html));
        assert_eq!(negotiate(Some("json"), Some(browser)).ok(), Some(Format::Json));
        assert_eq!(negotiate(Some("html"), None).ok(), Some(Format::Html));
        assert_eq!(field_of(negotiate(Some("yaml"), None).err().unwrap()), "format");
    }

    #[test]
    fn the_document_is_openapi_3_1_and_names_this_function() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert!(doc["paths"]["/functions/v1/docs"]["get"].is_object());
    }

    #[test]
    fn the_page_inlines_the_document_once_and_safely() {
        assert_eq!(PAGE.matches(SLOT).count(), 1, "docs/docs.html has one {SLOT}");
        let page = page();
        assert!(!page.contains(SLOT));
        let start = page.find(r#"<script type="application/json" id="openapi">"#).expect("the data element");
        let inner = &page[start..];
        let inner = &inner[inner.find('>').unwrap() + 1..inner.find("</script>").unwrap()];
        let parsed: Value = serde_json::from_str(inner).expect("the inlined document parses");
        assert_eq!(parsed, serde_json::from_str::<Value>(OPENAPI).unwrap());
    }
}
