//! Presence: a user comes online with their first logged-in connection and goes
//! offline when the last one leaves; online friends get a `presence` push each time.

use reactor::ConnHandle;

use crate::app::App;
use crate::model::UserId;
use crate::session::Identity;

/// Registers a logged-in connection and tells friends if the user just came online.
pub fn arrived(app: &App, conn: &ConnHandle, identity: &Identity) {
    let user = identity.user.user_id;
    if app.hub.join(user, conn, identity.push) {
        announce(app, user, true);
    }
}

/// Forgets a connection (logout or close) and tells friends if the user went offline.
pub fn went_away(app: &App, conn: &ConnHandle, identity: &Identity) {
    let user = identity.user.user_id;
    if app.hub.leave(user, conn.id()) {
        announce(app, user, false);
    }
}

fn announce(app: &App, user: UserId, online: bool) {
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
    app.pushes.push(&friends, &push, None);
}
