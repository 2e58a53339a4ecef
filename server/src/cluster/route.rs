//! [`ClusterRoute`]: the delivery seam in a cluster. Delivers through the local hub at
//! once, and queues the same push for the other nodes that hold the users' connections
//! (the publisher looks the routes up and publishes; it never blocks the caller).
//! May touch: the hub and the publisher's queue.

use std::sync::Arc;

use proto::Push;
use reactor::ConnId;

use super::bus::BusItem;
use super::publisher::Publisher;
use crate::hub::Hub;
use crate::model::{Message, Pos, UserId};
use crate::protocol::wire;
use crate::push_route::PushRoute;

/// Local delivery plus publication to the other nodes.
pub struct ClusterRoute {
    hub: Arc<Hub>,
    publisher: Publisher,
}

impl ClusterRoute {
    /// A route over this node's hub and publisher.
    pub fn new(hub: Arc<Hub>, publisher: Publisher) -> Self {
        Self { hub, publisher }
    }
}

impl PushRoute for ClusterRoute {
    fn push(&self, users: &[UserId], push: &Push) {
        self.hub.push(users, push);
        self.publisher.publish(BusItem::Push {
            users: users.to_vec(),
            push: push.clone(),
        });
    }

    fn message(&self, m: &Message, recipient_pos: Pos, origin: Option<ConnId>) {
        self.hub.message(m, recipient_pos, origin);
        let mut copies = vec![(m.to, wire::message_at(m, recipient_pos))];
        if m.from != m.to {
            copies.push((m.from, wire::message(m)));
        }
        for (user, message) in copies {
            self.publisher.publish(BusItem::Message { user, message });
        }
    }
}
