//! The contract's error codes, and the error every command returns. The wire layer knows
//! nothing of the store: how a store failure looks to a client is `cmd/store_error.rs`.

use std::fmt;
use std::time::Duration;

/// An error code of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The connection sent too many requests.
    RateLimited,
    /// The store is unavailable or the writer is full; nothing was done; retry.
    ServerBusy,
    /// The server is at `max_connections`.
    ServerFull,
    /// A bug on our side.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
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
}

/// A failed request: the code and a human-readable message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    /// The contract's code.
    pub code: ErrorCode,
    /// Human text; names the field for `bad_request`.
    pub message: String,
    /// For `rate_limited` and `server_busy`: when a retry may succeed, in ms.
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

    /// The same error, telling the client to retry after `wait` (at least 1 ms).
    pub fn retry_after(mut self, wait: Duration) -> Self {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.retry_after_ms = Some(ms.max(1));
        self
    }

    /// `bad_request` about one field.
    pub fn field(field: &str, problem: &str) -> Self {
        Self::new(ErrorCode::BadRequest, format!("field `{field}` {problem}"))
    }
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}
