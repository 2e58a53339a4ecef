//! One file per route of the contract (`../shared/gateway.md`): each reads its request
//! (body fields by the protocol's rules), then applies it through the [`Gateway`]'s
//! parts, and answers. The router is [`Gateway`]'s `call` (`app.rs`).
//!
//! [`Gateway`]: crate::app::Gateway

pub mod codes;
pub mod health;
pub mod login;
pub mod metrics;
pub mod register;
pub mod reset;
