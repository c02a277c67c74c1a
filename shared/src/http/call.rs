//! `Call`: one incoming request with what every handler needs (config, body, query,
//! the request id) and what may run after the response (`after_response`).
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::json::{check_media_type, parse_json};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use worker::{Context, Method, Request};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Call {
    pub(crate) req: Request,
    pub(crate) ctx: Context,
    pub(crate) config: crate::config::Shared,
    pub(crate) request_id: String,
    /// Path segments after `/functions/v1/<name>/`, e.g. `["<id>"]` for `instances/<id>`.
    pub(crate) sub_path: Vec<String>,
    /// The bearer token verified once, by `serve` (rate limits count per user).
    pub(crate) verified: Option<Result<Caller, ApiError>>,
    /// A read sent as POST (`serve`): its body's fields, read instead of the query's.
    pub(crate) read: Option<ReadBody>,
}

/// The fields of a read's JSON body, and which of them the read asked for.
#[derive(Clone, Default)]
pub(crate) struct ReadBody {
    /// None: an empty body, the query's fields are read as for a GET.
    fields: Option<Rc<serde_json::Map<String, Value>>>,
    asked: Rc<RefCell<Vec<String>>>,
}

impl ReadBody {
    /// The first field the read did not ask for, if any.
    pub(crate) fn unasked(&self) -> Option<String> {
        let asked = self.asked.borrow();
        self.fields.as_ref()?.keys().find(|k| !asked.contains(k)).cloned()
    }
}

impl Call {
    /// The method the handler serves: GET for a read sent as POST.
    pub(crate) fn method(&self) -> Method {
        match self.read {
            Some(_) => Method::Get,
            None => self.req.method(),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.req.headers().get(name).ok().flatten()
    }

    /// The verified caller of a `user =>` route (the `function!` macro calls it).
    #[doc(hidden)]
    pub fn caller(&self) -> Result<Caller, ApiError> {
        match &self.verified {
            Some(verified) => verified.clone(),
            None => crate::auth::verify_caller(self.bearer(), self.config.jwt_secret.expose()),
        }
    }

    /// The check of a `service =>` route (the `function!` macro calls it).
    #[doc(hidden)]
    pub fn require_service_role(&self) -> Result<(), ApiError> {
        crate::auth::require_service_role(self.bearer().as_deref(), self.config.service_key.expose())
    }

    fn bearer(&self) -> Option<String> {
        crate::auth::bearer_token(self.header("authorization").as_deref())
    }

    /// Runs `work` after the response has gone (`ctx.wait_until`): the runner's webhook.
    pub(crate) fn after_response(&self, work: impl Future<Output = ()> + 'static) {
        self.ctx.wait_until(work);
    }

    /// A query field, from the URL or, for a read sent as POST, from its body (a string as
    /// is, a number or a boolean as its JSON text; null is absent).
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        if let Some(ReadBody { fields: Some(fields), asked }) = &self.read {
            asked.borrow_mut().push(name.to_string());
            return match fields.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            };
        }
        // The runtime's URL is serialized already (WHATWG): its query is what follows the
        // first `?` up to a `#`, read without parsing the whole URL again (`make bench`).
        query_param(&self.req.inner().url(), name)
    }

    /// Turns this POST into the read it stands for: the body (empty, or a JSON object of
    /// strings, numbers, booleans and nulls) replaces the query, which must then be empty.
    pub(crate) async fn read_from_body(&mut self) -> Result<ReadBody, ApiError> {
        let bytes = self.body().await?;
        let fields = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            parse_json::<serde_json::Map<String, Value>>(&bytes)?
        };
        if let Some((key, _)) = fields.iter().find(|(_, v)| v.is_object() || v.is_array()) {
            return Err(ApiError::validation(key, format!("`{key}` must be a string, a number or a boolean")));
        }
        let has_query = query_of(&self.req.inner().url()).is_some_and(|q| !q.is_empty());
        if has_query && !fields.is_empty() {
            return Err(ApiError::validation("body", "Send a read's fields in the query or in the body, not both"));
        }
        let fields = (!fields.is_empty()).then(|| Rc::new(fields));
        let read = ReadBody { fields, asked: Rc::default() };
        self.read = Some(read.clone());
        Ok(read)
    }

    /// Reads the body as JSON into `T`, enforcing size, media type and strict fields.
    /// An empty body reads as `{}`, so a missing field is named rather than "invalid JSON".
    pub(crate) async fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        parse_json(&self.body().await?)
    }

    /// The raw body, size- and media-type-checked (signatures are over these bytes).
    /// Read as a stream: a body without Content-Length (chunked) is refused as soon as it
    /// passes the limit, not after it has been read whole.
    pub(crate) async fn body(&mut self) -> Result<Vec<u8>, ApiError> {
        use futures_util::StreamExt;
        if let Some(len) = self.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            if len > MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            // Framed by its Content-Length (within the limit), not chunked: read whole, in one
            // call, rather than chunk by chunk through Rust (`make bench` measured the
            // stream's reads and lock releases as a large part of a POST's CPU).
            if self.header("transfer-encoding").is_none() {
                let bytes = self.req.bytes().await.map_err(|_| ApiError::InvalidJson)?;
                check_media_type(self.header("content-type").as_deref(), bytes.len())?;
                return Ok(bytes);
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
    pub(crate) async fn no_body(&mut self) -> Result<(), ApiError> {
        let _: crate::domain::Empty = self.json().await?;
        Ok(())
    }
}

/// The query of a serialized (WHATWG) URL: what follows the first `?`, up to a `#`. The
/// `url` crate is not linked into the Workers (its parser was ~10 KiB gzip of each).
fn query_of(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    Some(query.split_once('#').map_or(query, |(q, _)| q))
}

/// `name`'s first value in the query of a serialized URL, decoded as `Url::query_pairs`
/// decodes it.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query_of(url)?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::{query_of, query_param};

    #[test]
    fn query_params_read_as_the_url_crate_reads_them() {
        let urls = [
            "https://h.example/functions/v1/get-logs?machineId=abc&limit=5",
            "https://h.example/functions/v1/get-logs?limit=5&machineId=a%20b+c&machineId=second",
            "https://h.example/functions/v1/get-logs?machineId=x#machineId=fragment",
            "https://h.example/functions/v1/get-logs?machineId",
            "https://h.example/functions/v1/get-logs?%6dachineId=%E2%9C%93",
            "https://h.example/functions/v1/get-logs",
            "https://h.example/functions/v1/get-logs?",
            "http://127.0.0.1:8787/functions/v1/get-logs?before=2026-11-22T02%3A20%3A08Z&machineId=%ZZ",
        ];
        for u in urls {
            let parsed = url::Url::parse(u).unwrap();
            for name in ["machineId", "limit", "before"] {
                let expected = parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
                assert_eq!(query_param(parsed.as_str(), name), expected, "{u} {name}");
            }
            assert_eq!(query_of(parsed.as_str()), parsed.query(), "{u}");
        }
    }
}
