//! Operator tools for the chat server. `chatload`, the load generator, lands with the
//! load-testing issue; until then this crate only reserves its place in the workspace.
