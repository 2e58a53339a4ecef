//! [`Events`]: what the cluster's threads tell the rest of the node, and the slot that
//! holds the receiver once the application exists.
//! May touch: nothing itself.

use std::sync::{Arc, OnceLock};

use crate::model::UserId;

/// What the cluster asks of the node.
pub trait Events: Send + Sync {
    /// Tell the user's friends they came online (`true`) or went offline everywhere
    /// (found by re-registration or by reaping a dead node).
    fn presence(&self, user: UserId, online: bool);
    /// These users' friendships changed on another node: forget cached friend lists.
    fn friends_changed(&self, users: &[UserId]);
}

/// Set once at start-up; until then events are dropped (there is nobody to tell yet).
pub type EventSlot = Arc<OnceLock<Arc<dyn Events>>>;
