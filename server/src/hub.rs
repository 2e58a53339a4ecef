//! Who is online, on which connections: the routing table for pushes and presence.
//!
//! Sharded by user id so that logins, logouts and pushes on different users do not
//! contend. A user is online while at least one of their connections is logged in.
//! Pushes go only to connections that logged in with `push: true`. The hub is the
//! local [`PushRoute`].

use std::collections::HashMap;

use parking_lot::Mutex;
use reactor::{ConnHandle, ConnId};

use crate::model::UserId;
use crate::push_route::PushRoute;

const SHARDS: usize = 64;

struct Online {
    conn: ConnHandle,
    push: bool,
}

/// The online users and their connections.
pub struct Hub {
    shards: Vec<Mutex<HashMap<UserId, Vec<Online>>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl Hub {
    fn shard(&self, user: UserId) -> &Mutex<HashMap<UserId, Vec<Online>>> {
        &self.shards[user.rem_euclid(SHARDS as i64) as usize]
    }

    /// Records a logged-in connection; true if it is the user's first one.
    pub fn join(&self, user: UserId, conn: &ConnHandle, push: bool) -> bool {
        let mut shard = self.shard(user).lock();
        let conns = shard.entry(user).or_default();
        conns.push(Online {
            conn: conn.clone(),
            push,
        });
        conns.len() == 1
    }

    /// Forgets a connection; true if the user has no connection left.
    pub fn leave(&self, user: UserId, conn: ConnId) -> bool {
        let mut shard = self.shard(user).lock();
        let Some(conns) = shard.get_mut(&user) else {
            return false;
        };
        let before = conns.len();
        conns.retain(|o| o.conn.id() != conn);
        let removed = conns.len() < before;
        if conns.is_empty() {
            shard.remove(&user);
        }
        removed && !shard.contains_key(&user)
    }

    /// Whether the user has a logged-in connection.
    pub fn is_online(&self, user: UserId) -> bool {
        self.shard(user).lock().contains_key(&user)
    }

    /// Sends a push frame to every push-enabled connection of `user` except `except`.
    fn send(&self, user: UserId, frame: &[u8], except: Option<ConnId>) {
        let shard = self.shard(user).lock();
        if let Some(conns) = shard.get(&user) {
            for online in conns
                .iter()
                .filter(|o| o.push && Some(o.conn.id()) != except)
            {
                online.conn.send(frame);
            }
        }
    }
}

impl PushRoute for Hub {
    fn push(&self, users: &[UserId], push: &proto::Push, except: Option<ConnId>) {
        let frame = push.encode();
        for &user in users {
            self.send(user, &frame, except);
        }
    }
}
