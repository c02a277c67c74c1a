//! What a handler answers: a status, the data of the success envelope, a message.
use crate::error::ApiError;
use serde::Serialize;
use serde_json::Value;

/// A successful outcome: status, payload and an optional human message.
pub struct Reply {
    pub(crate) status: u16,
    pub(crate) data: Result<Value, String>,
    pub(crate) message: Option<String>,
    /// Set for a degraded answer that still carries data (health's 503).
    pub(crate) failure: Option<ApiError>,
}

impl Reply {
    pub fn with_status(status: u16, data: impl Serialize) -> Self {
        let data = serde_json::to_value(data).map_err(|e| e.to_string());
        Reply { status, data, message: None, failure: None }
    }
    pub fn ok(data: impl Serialize) -> Self {
        Self::with_status(200, data)
    }
    pub fn created(data: impl Serialize) -> Self {
        Self::with_status(201, data)
    }
    pub fn accepted(data: impl Serialize) -> Self {
        Self::with_status(202, data)
    }
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
    /// An error envelope that also carries `data` (for health checks).
    pub fn failing(data: impl Serialize, err: ApiError) -> Self {
        let mut reply = Self::with_status(err.status(), data);
        reply.failure = Some(err);
        reply
    }
}

