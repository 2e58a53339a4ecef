//! [`Limits`]: how big a request may be and how long a client may take to send one.
//!
//! Plain values, read by the codec (sizes) and the handler (times).

use std::time::Duration;

/// Size and time limits of an HTTP server. Every field has a default (see
/// [`Limits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes the request line and headers may take, the blank line that ends them
    /// included (default 8 KiB). A head not complete within it gets `431` and close.
    pub max_head: usize,
    /// Bytes of body (`Content-Length`) a request may carry (default 64 KiB). Above it:
    /// `413` and close, as soon as the head has arrived.
    pub max_body: usize,
    /// How long a new connection may take to send its first complete request, head and
    /// body (default 10 s). Past it: `408` and close.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay without a complete next request after a
    /// response (default 60 s). Past it the connection is closed without an answer.
    pub idle_timeout: Duration,
}

impl Limits {
    /// The default head limit, 8 KiB.
    pub const DEFAULT_MAX_HEAD: usize = 8 * 1024;
    /// The default body limit, 64 KiB.
    pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
}

impl Default for Limits {
    /// 8 KiB of head, 64 KiB of body, 10 s for the first request, 60 s of keep-alive idle.
    fn default() -> Self {
        Self {
            max_head: Self::DEFAULT_MAX_HEAD,
            max_body: Self::DEFAULT_MAX_BODY,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}
