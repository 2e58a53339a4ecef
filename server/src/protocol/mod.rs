//! The wire contract: framing errors, request parsing, response and push building.
//! The contract itself is documented in `docs/protocol.md`.

pub mod error;
pub mod request;
pub mod response;

pub use error::{ChatError, ErrorCode};
pub use request::{NotARequest, Request};
