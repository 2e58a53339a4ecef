//! The names of the cluster's Redis keys and channels, all under `NAME:` (`--cluster`),
//! so several clusters or test runs share one Redis without seeing each other.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `NAME:nodes` | hash | node id → the node's [`NodeInfo`](super::registry::NodeInfo) as JSON (`addr`, `ws`, `epoch`, `conns`, `updated_ms`) |
//! | `NAME:node:ID:alive` | string, TTL `node_ttl_ms` | the node's epoch while it heartbeats |
//! | `NAME:node:ID:users` | set | users with a connection on the node (for reaping) |
//! | `NAME:route:USER` | hash | node id → the user's logged-in connections there |
//! | `NAME:reap:ID:EPOCH` | string, TTL | who reaps a dead node's epoch (one node does) |
//! | `NAME:push:ID` | channel | pushes for the node's connections (see `bus.rs`) |
//!
//! May touch: nothing; names only.

use crate::model::UserId;

/// The key and channel names of one cluster.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Names under `cluster:`.
    pub fn new(cluster: &str) -> Self {
        Self {
            prefix: cluster.to_string(),
        }
    }

    /// The node registry.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// A node's liveness key.
    pub fn alive(&self, node: &str) -> String {
        format!("{}:node:{node}:alive", self.prefix)
    }

    /// The users with connections on a node.
    pub fn node_users(&self, node: &str) -> String {
        format!("{}:node:{node}:users", self.prefix)
    }

    /// Where a user's connections are.
    pub fn route(&self, user: UserId) -> String {
        format!("{}:route:{user}", self.prefix)
    }

    /// The guard that lets one node reap a dead node's epoch.
    pub fn reap_guard(&self, node: &str, epoch: u64) -> String {
        format!("{}:reap:{node}:{epoch}", self.prefix)
    }

    /// A node's push channel.
    pub fn channel(&self, node: &str) -> String {
        format!("{}:push:{node}", self.prefix)
    }
}
