//! Presence: a user comes online with their first logged-in connection (on any node)
//! and goes offline when the last one leaves; online friends get a `presence` push each
//! time.
//!
//! On one node the hub alone knows; in a cluster, the user's route in Redis does (the
//! hub's answer stands in while Redis does not answer, and the cluster's registry
//! announces what it repairs later). A node that dies takes its users offline through
//! the registry of a surviving node (`cluster/registry.rs`), which calls [`announce`].
//! May touch: the hub, the cluster's routes, the friend cache, the push route.

use reactor::ConnHandle;

use crate::app::App;
use crate::model::UserId;
use crate::session::Identity;

/// Registers a logged-in connection (here and in the cluster's routes) and tells
/// friends if the user just came online.
pub fn arrived(app: &App, conn: &ConnHandle, identity: &Identity) {
    let user = identity.user.user_id;
    let first_here = app.hub.join(user, conn, identity.push);
    let first = match &app.cluster {
        Some(cluster) => cluster.joined(user).unwrap_or(first_here),
        None => first_here,
    };
    if first {
        announce(app, user, true);
    }
}

/// Forgets a connection (logout or close) and tells friends if the user went offline.
pub fn went_away(app: &App, conn: &ConnHandle, identity: &Identity) {
    let user = identity.user.user_id;
    let Some(last_here) = app.hub.leave(user, conn.id()) else {
        return;
    };
    let last = match &app.cluster {
        Some(cluster) => cluster.left(user).unwrap_or(last_here),
        None => last_here,
    };
    if last {
        announce(app, user, false);
    }
}

/// Whether each user is online (anywhere in the cluster).
pub fn online(app: &App, users: &[UserId]) -> Vec<bool> {
    if let Some(flags) = app.cluster.as_ref().and_then(|c| c.online(users)) {
        return flags;
    }
    users.iter().map(|&u| app.hub.is_online(u)).collect()
}

/// Pushes `presence` to the user's friends.
pub fn announce(app: &App, user: UserId, online: bool) {
    let friends = match app.friends.friends_of(&*app.store, user) {
        Ok(friends) => friends,
        Err(e) => {
            log::warn!("presence of user {user} not announced: {e}");
            return;
        }
    };
    let push = proto::Push::Presence {
        user_id: user,
        online,
    };
    let friends: Vec<UserId> = friends.iter().copied().collect();
    app.pushes.push(&friends, &push);
}
