//! How a store failure looks to a client: the conversion every command's `?` uses.
//!
//! `Unavailable` becomes `server_busy` (nothing was done; the client may retry),
//! anything else `internal`. The client is told only that; the detail goes to the log
//! here, once, where the failure turns into an answer, and the failure is counted
//! (`chat_store_errors_total`).
//! May touch: the log, the store-error counters.

use crate::protocol::{ChatError, ErrorCode};
use crate::store::StoreError;
use crate::store_errors::count_store_error;

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        count_store_error(&e);
        match e {
            StoreError::Unavailable(detail) => {
                log::warn!("store unavailable: {detail}");
                Self::new(
                    ErrorCode::ServerBusy,
                    "the store is unavailable; nothing was done, retry later",
                )
            }
            StoreError::Conflict(detail) => Self::new(ErrorCode::Internal, detail),
            StoreError::Internal(detail) => {
                log::error!("store error: {detail}");
                Self::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}
