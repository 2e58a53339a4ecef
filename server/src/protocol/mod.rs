//! The wire contract as the server uses it: the `proto` crate (requests, results,
//! pushes, error codes), plus the conversions from the store's records to the wire's
//! objects ([`wire`]). The contract itself is documented in `docs/protocol.md`.
//! May touch: nothing; plain values.

pub mod wire;

pub use proto::{ChatError, ErrorCode};
