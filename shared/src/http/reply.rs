//! What a handler answers: a status, the data of the success envelope, a message.
//! The data is kept as JSON text (serialized once, here): the envelope is written around
//! it without another tree, and data a handler passes through unchanged (a `Box<RawValue>`
//! from the database) is copied as it came (`make bench`: the `Value` round trips were a
//! large part of a request's CPU).
use crate::error::ApiError;
use serde::Serialize;
use serde_json::value::RawValue;

/// A successful outcome: status, payload and an optional human message.
pub struct Reply {
    pub(crate) status: u16,
    pub(crate) data: Result<Box<RawValue>, String>,
    pub(crate) message: Option<String>,
    /// Set for a degraded answer that still carries data (health's 503).
    pub(crate) failure: Option<ApiError>,
    /// A page's cursor beside `data` in the envelope (`GET instances`, API.md §3: seed 000
    /// reads `data` as the list itself): `Some(None)` is the last page.
    pub(crate) next_cursor: Option<Option<String>>,
}

impl Reply {
    pub fn with_status(status: u16, data: impl Serialize) -> Self {
        let data = serde_json::value::to_raw_value(&data).map_err(|e| e.to_string());
        Reply { status, data, message: None, failure: None, next_cursor: None }
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
    /// `nextCursor` beside `data` (null on the last page).
    pub fn next_cursor(mut self, cursor: Option<String>) -> Self {
        self.next_cursor = Some(cursor);
        self
    }
    /// An error envelope that also carries `data` (for health checks).
    pub fn failing(data: impl Serialize, err: ApiError) -> Self {
        let mut reply = Self::with_status(err.status(), data);
        reply.failure = Some(err);
        reply
    }
}
