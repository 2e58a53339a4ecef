//! [`NodeEvents`]: what the cluster's threads ask of this node (announce a presence
//! change they found, forget friend lists changed on another node), delivered to the
//! application while it exists.
//! May touch: the application's presence and friend cache.

use std::sync::Weak;

use crate::app::App;
use crate::cluster::events::Events;
use crate::model::UserId;
use crate::presence;

/// The cluster's events, for the application behind a weak reference (the cluster's
/// threads outlive it at shutdown).
pub struct NodeEvents(pub Weak<App>);

impl Events for NodeEvents {
    fn presence(&self, user: UserId, online: bool) {
        if let Some(app) = self.0.upgrade() {
            presence::announce(&app, user, online);
        }
    }

    fn friends_changed(&self, users: &[UserId]) {
        if let Some(app) = self.0.upgrade() {
            app.friends.invalidate(users);
        }
    }
}
