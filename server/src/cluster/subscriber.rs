//! The subscriber thread: receives this node's channel (`NAME:push:ID`) and hands each
//! item to the hub.
//!
//! A dedicated connection, subscribed and read with a timeout (so the thread notices
//! shutdown). When the subscription breaks (Redis restarted or dropped the client for a
//! full output buffer), items published meanwhile are gone: after every (re)subscribe
//! the thread asks for a sweep, which fills every connection from the store.
//! May touch: Redis (its own connection), the hub, and the node through `EventSlot`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::bus::{self, BusItem};
use super::events::EventSlot;
use super::link::Link;
use crate::hub::Hub;

/// How long one read waits before the thread checks for shutdown.
const READ_WAIT: Duration = Duration::from_millis(500);
/// Back-off between reconnects, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The subscriber thread's loop.
pub struct SubscribeLoop {
    /// Request connections (the subscriber opens its own with them).
    pub link: Arc<Link>,
    /// This node's channel.
    pub channel: String,
    /// Where items go.
    pub hub: Arc<Hub>,
    /// Where friendship changes go.
    pub events: EventSlot,
    /// Set at shutdown.
    pub stop: Arc<AtomicBool>,
    /// Items received.
    pub received: Arc<AtomicU64>,
}

impl SubscribeLoop {
    /// Runs until `stop` is set.
    pub fn run(self) {
        let mut backoff = Duration::from_millis(100);
        let mut ever = false;
        while !self.stop.load(Ordering::Acquire) {
            match self.session(&mut ever) {
                Ok(()) => return,
                Err(e) => {
                    log::warn!("redis subscription to {} lost: {e}; retrying", self.channel);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One subscription, until it breaks (`Err`) or shutdown (`Ok`).
    fn session(&self, ever: &mut bool) -> redis::RedisResult<()> {
        let mut conn = self.link.connect()?;
        let mut pubsub = conn.as_pubsub();
        pubsub.subscribe(&self.channel)?;
        pubsub.set_read_timeout(Some(READ_WAIT))?;
        if *ever {
            log::info!("redis subscription to {} is back", self.channel);
        }
        *ever = true;
        // Anything published to this node before now may be lost.
        self.hub.request_sweep();
        while !self.stop.load(Ordering::Acquire) {
            let msg = match pubsub.get_message() {
                Ok(msg) => msg,
                Err(e) if e.is_timeout() => continue,
                Err(e) => return Err(e),
            };
            let payload: Vec<u8> = msg.get_payload()?;
            match bus::decode(&payload) {
                Ok(items) => {
                    self.received
                        .fetch_add(items.len() as u64, Ordering::Relaxed);
                    for item in items {
                        self.apply(item);
                    }
                }
                Err(e) => log::warn!("unreadable publication on {}: {e}", self.channel),
            }
        }
        Ok(())
    }
}

impl SubscribeLoop {
    /// Does what one item asks on this node.
    fn apply(&self, item: BusItem) {
        let hub = &self.hub;
        match item {
            BusItem::Message { user, message } => {
                let pos = message.pos;
                hub.deliver(user, pos, || proto::Push::Message(message).encode(), None);
            }
            BusItem::Push { users, push } => {
                let frame = push.encode();
                for user in users {
                    hub.send(user, &frame);
                }
            }
            BusItem::LoggedOut { user, reason } => {
                let frame = proto::Push::LoggedOut { reason }.encode();
                let closed = hub.close_user(user, &frame);
                if closed > 0 {
                    log::info!("user {user} logged out elsewhere: {closed} sessions closed");
                }
            }
            BusItem::FriendsChanged { users } => {
                if let Some(events) = self.events.get() {
                    events.friends_changed(&users);
                }
            }
            BusItem::Sweep => hub.request_sweep(),
        }
    }
}
