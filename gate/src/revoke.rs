//! Ending a user's sessions on every node after their tokens were revoked (a password
//! reset): one `logged_out` bus item (`chat::cluster::bus`) published on the push
//! channel of every registered node, which pushes `logged_out` to the user's sessions
//! there and closes them.
//!
//! Every node gets it, not only those the user's route names: a route can miss a node
//! (one that re-registered after a Redis outage has not yet written it back), and a
//! node without sessions of the user drops the item at the cost of one message.
//! Pub/sub delivers at most once: a node that is cut off from Redis at that moment
//! keeps the sessions; their tokens are gone, so they cannot log in again.
//! May touch: Redis (reads the registry, publishes), through the link it is given.

use chat::cluster::bus::{self, BusItem};
use chat::cluster::keys::Keys;
use chat::cluster::link::Link;
use chat::model::UserId;

/// Publishes `logged_out` (`reason`) for `user` to every registered node; returns how
/// many nodes it was published to, `None` if Redis did not answer.
pub fn log_out_everywhere(link: &Link, keys: &Keys, user: UserId, reason: &str) -> Option<usize> {
    let item = BusItem::LoggedOut {
        user,
        reason: reason.to_string(),
    };
    let payload = bus::encode(&[&item]);
    link.call("publishing logged_out", |conn| {
        let nodes: Vec<String> = redis::cmd("HKEYS").arg(keys.nodes()).query(conn)?;
        let mut pipe = redis::pipe();
        for id in &nodes {
            pipe.cmd("PUBLISH")
                .arg(keys.channel(id))
                .arg(payload.as_slice())
                .ignore();
        }
        pipe.query::<()>(conn)?;
        Ok(nodes.len())
    })
}
