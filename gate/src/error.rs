//! [`ApiError`]: every way a gateway request fails, with its HTTP status and the
//! contract's error code, and the conversions from the errors of the parts it uses.
//! A `429` and a `503` carry `retry_after` (seconds) in the body and a `Retry-After`
//! header. May touch: nothing; plain values.

use std::time::Duration;

use proto::{ChatError, ErrorCode};
use reactor_http::Response;
use serde_json::json;

use crate::codes::CodeError;
use crate::ip_limits::LimitError;
use crate::nodes::PickError;
use chat::auth::AuthError;
use chat::store::StoreError;

/// A failed request: what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The contract's error code (`bad_request`, `invalid_code`, ...).
    pub code: &'static str,
    /// Human text; names the field for `bad_request`.
    pub message: String,
    /// When a retry may succeed (429, 503).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with no retry hint.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `429 rate_limited`, retry after `wait`.
    pub fn rate_limited(message: impl Into<String>, wait: Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(429, "rate_limited", message)
        }
    }

    /// `503 server_busy`: nothing was done; retry after `wait`.
    pub fn busy(message: impl Into<String>, wait: Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(503, "server_busy", message)
        }
    }

    /// `500 internal`: a bug or a broken dependency, logged where it is found.
    pub fn internal() -> Self {
        Self::new(500, "internal", "internal error")
    }

    /// `400 invalid_code`: wrong, expired, used and dead codes alike.
    pub fn invalid_code() -> Self {
        Self::new(
            400,
            "invalid_code",
            "the code is wrong, expired or used; ask for a new one",
        )
    }

    /// The response: `{"ok": false, "error": {...}}`, plus `retry_after` in seconds
    /// (rounded up, at least 1) and `Retry-After` when there is a hint.
    pub fn response(&self) -> Response {
        let mut body = json!({
            "ok": false,
            "error": {"code": self.code, "message": self.message},
        });
        let Some(wait) = self.retry_after else {
            return Response::json(self.status, &body);
        };
        let secs = wait.as_millis().div_ceil(1000).max(1);
        body["retry_after"] = json!(secs);
        Response::json(self.status, &body).header("Retry-After", secs.to_string())
    }
}

impl From<ChatError> for ApiError {
    /// The node protocol's errors (field checks, the password guard) as HTTP.
    fn from(e: ChatError) -> Self {
        let status = match e.code {
            ErrorCode::BadRequest | ErrorCode::BadJson => 400,
            ErrorCode::InvalidCredentials | ErrorCode::Unauthenticated => 401,
            ErrorCode::UserExists => 409,
            ErrorCode::RateLimited => 429,
            ErrorCode::ServerBusy | ErrorCode::ServerFull => 503,
            _ => 500,
        };
        Self {
            status,
            code: e.code.as_str(),
            message: e.message,
            retry_after: e.retry_after_ms.map(Duration::from_millis),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => {
                log::warn!("store unavailable: {why}");
                Self::busy(
                    "the database is unavailable; nothing was done, retry",
                    Duration::from_secs(1),
                )
            }
            other => {
                log::error!("store: {other}");
                Self::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    /// Hashing a password failed: a bug (the parameters were checked at start-up).
    fn from(e: AuthError) -> Self {
        log::error!("hashing a password: {e}");
        Self::internal()
    }
}

/// Redis is down: nothing was done.
fn redis_down() -> ApiError {
    ApiError::busy(
        "redis is unavailable; nothing was done, retry",
        Duration::from_secs(1),
    )
}

impl From<CodeError> for ApiError {
    fn from(_: CodeError) -> Self {
        redis_down()
    }
}

impl From<LimitError> for ApiError {
    fn from(_: LimitError) -> Self {
        redis_down()
    }
}

impl From<PickError> for ApiError {
    fn from(e: PickError) -> Self {
        match e {
            PickError::Unavailable => redis_down(),
            PickError::NoNode => ApiError {
                retry_after: Some(Duration::from_secs(1)),
                ..ApiError::new(503, "no_node", "no chat node is up; retry")
            },
        }
    }
}
