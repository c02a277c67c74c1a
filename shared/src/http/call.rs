//! `Call`: one incoming request with what every handler needs (config, body, query,
//! the request id) and what may run after the response (`after_response`).
use crate::auth::Caller;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::json::{check_media_type, parse_json};
use serde::de::DeserializeOwned;
use std::future::Future;
use worker::{Context, Method, Request};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Call {
    pub(crate) req: Request,
    pub(crate) ctx: Context,
    pub(crate) config: Config,
    pub(crate) request_id: String,
    /// Path segments after `/functions/v1/<name>/`, e.g. `["<id>"]` for `instances/<id>`.
    pub(crate) sub_path: Vec<String>,
    /// The bearer token verified once, by `serve` (rate limits count per user).
    pub(crate) verified: Option<Result<Caller, ApiError>>,
}

impl Call {
    pub(crate) fn method(&self) -> Method {
        self.req.method()
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

    pub(crate) fn query(&self, name: &str) -> Option<String> {
        let url = self.req.url().ok()?;
        let value = url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        value
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
