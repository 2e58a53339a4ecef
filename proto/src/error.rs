//! [`ErrorCode`]: the contract's error codes with their wire names, and [`ChatError`]:
//! the `error` object of a failed response.
//!
//! May touch: nothing; plain values.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An error code of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Frame length 0.
    BadFrame,
    /// Frame length above `max_frame`.
    FrameTooLarge,
    /// The frame is not a UTF-8 JSON object.
    BadJson,
    /// `type` names no operation.
    UnknownType,
    /// A field is missing, ill-typed or out of range.
    BadRequest,
    /// The operation needs a logged-in session.
    Unauthenticated,
    /// Wrong username, password or token.
    InvalidCredentials,
    /// The username is taken.
    UserExists,
    /// No user with that id.
    NoSuchUser,
    /// The two users are not friends.
    NotFriends,
    /// The two users are friends already.
    AlreadyFriends,
    /// No pending friend request with that id addressed to this user.
    NoSuchRequest,
    /// Too many requests (or password attempts); retry later.
    RateLimited,
    /// The server could not do it now; nothing was done; retry.
    ServerBusy,
    /// The server (or the client's address) is at its connection limit.
    ServerFull,
    /// A bug on the server's side.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order (so `ALL[code as usize] == code`).
    pub const ALL: [ErrorCode; 16] = [
        Self::BadFrame,
        Self::FrameTooLarge,
        Self::BadJson,
        Self::UnknownType,
        Self::BadRequest,
        Self::Unauthenticated,
        Self::InvalidCredentials,
        Self::UserExists,
        Self::NoSuchUser,
        Self::NotFriends,
        Self::AlreadyFriends,
        Self::NoSuchRequest,
        Self::RateLimited,
        Self::ServerBusy,
        Self::ServerFull,
        Self::Internal,
    ];

    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::FrameTooLarge => "frame_too_large",
            Self::BadJson => "bad_json",
            Self::UnknownType => "unknown_type",
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::UserExists => "user_exists",
            Self::NoSuchUser => "no_such_user",
            Self::NotFriends => "not_friends",
            Self::AlreadyFriends => "already_friends",
            Self::NoSuchRequest => "no_such_request",
            Self::RateLimited => "rate_limited",
            Self::ServerBusy => "server_busy",
            Self::ServerFull => "server_full",
            Self::Internal => "internal",
        }
    }

    /// Whether the contract lets a client simply retry after it.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::ServerBusy | Self::RateLimited)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: the `error` object of an `ok: false` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ChatError {
    /// The contract's code.
    pub code: ErrorCode,
    /// Human text; names the field for `bad_request`.
    pub message: String,
    /// For `rate_limited` and `server_busy`: when a retry may succeed, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ChatError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// `bad_request` about one field: ``field `NAME` PROBLEM``.
    pub fn field(field: &str, problem: &str) -> Self {
        Self::new(ErrorCode::BadRequest, format!("field `{field}` {problem}"))
    }

    /// The same error, telling the client to retry after `wait` (at least 1 ms).
    pub fn retry_after(mut self, wait: Duration) -> Self {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.retry_after_ms = Some(ms.max(1));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn all_is_every_code_in_declaration_order() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?}");
        }
        // `Internal` is the last variant: a code added after it must join ALL too.
        assert_eq!(ErrorCode::ALL.len(), ErrorCode::Internal as usize + 1);
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
