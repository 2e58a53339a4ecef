//! Who is online on this node, on which connections: the local routing table for pushes.
//!
//! Sharded by user id so that logins, logouts and pushes on different users do not
//! contend. A user is online here while at least one of their connections is logged in.
//! Pushes go only to connections that logged in with `push: true`; each such connection
//! has a [`Sequencer`] that sends its `message` pushes in timeline order, and asks the
//! gap-fill thread (through the channel [`Hub::new`] returns) to read from the store
//! what a gap is missing. The hub is this node's [`PushRoute`]; in a cluster the route
//! wraps it (`cluster/route.rs`).
//!
//! May touch: connections (send, close) and their sequencers, under the shard lock.
//! Never the store, never Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use reactor::{ConnHandle, ConnId};

use crate::model::{Message, Pos, UserId};
use crate::protocol::wire;
use crate::push_route::PushRoute;
use crate::sequencer::Sequencer;

const SHARDS: usize = 64;

/// Gap fills waiting at most; past it the gap-fill thread sweeps every connection.
pub const FILL_QUEUE: usize = 4096;

/// How long a gap may stay open before the store is asked: a cross-node push is
/// usually a millisecond or two behind; one that is this late is taken as lost.
pub const GAP_WAIT: Duration = Duration::from_millis(250);

/// A connection whose pushes have a gap the store must fill.
#[derive(Debug, Clone, Copy)]
pub struct FillRequest {
    /// The connection's user.
    pub user: UserId,
    /// The connection.
    pub conn: ConnId,
    /// Not before this (the missing push may still come).
    pub not_before: Instant,
}

struct Online {
    conn: ConnHandle,
    push: bool,
    seq: Sequencer,
    /// A fill is queued or running for this connection.
    filling: bool,
}

type Shard = HashMap<UserId, Vec<Online>>;

/// The online users of this node and their connections.
pub struct Hub {
    shards: Vec<Mutex<Shard>>,
    fills: Sender<FillRequest>,
    /// A fill request found the queue full: the gap-fill thread sweeps everyone.
    sweep: AtomicBool,
    /// Logged-in connections on this node.
    logged_in: AtomicUsize,
}

impl Hub {
    /// An empty hub, and the receiving end of its gap-fill requests (for
    /// `gap_fill::run`).
    pub fn new() -> (Hub, Receiver<FillRequest>) {
        let (fills, requests) = crossbeam_channel::bounded(FILL_QUEUE);
        let hub = Hub {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            fills,
            sweep: AtomicBool::new(false),
            logged_in: AtomicUsize::new(0),
        };
        (hub, requests)
    }

    fn shard(&self, user: UserId) -> &Mutex<Shard> {
        &self.shards[user.rem_euclid(SHARDS as i64) as usize]
    }

    /// Records a logged-in connection, its pushes held until [`Hub::start`]; true if it
    /// is the user's first one on this node.
    pub fn join(&self, user: UserId, conn: &ConnHandle, push: bool) -> bool {
        let mut shard = self.shard(user).lock();
        let conns = shard.entry(user).or_default();
        conns.push(Online {
            conn: conn.clone(),
            push,
            seq: Sequencer::new(),
            filling: false,
        });
        self.logged_in.fetch_add(1, Ordering::Relaxed);
        conns.len() == 1
    }

    /// The connection's login read `last_pos`: its pushes start after it.
    pub fn start(&self, user: UserId, conn: ConnId, last_pos: Pos) {
        let mut shard = self.shard(user).lock();
        let Some(online) = find(&mut shard, user, conn) else {
            return;
        };
        let handle = online.conn.clone();
        online.seq.start(last_pos, &mut |frame| {
            handle.send(frame);
        });
        self.ask_fill(user, online);
    }

    /// Forgets a connection: `Some(true)` if the user has no connection left on this
    /// node, `None` if the connection was not here.
    pub fn leave(&self, user: UserId, conn: ConnId) -> Option<bool> {
        let mut shard = self.shard(user).lock();
        let conns = shard.get_mut(&user)?;
        let before = conns.len();
        conns.retain(|o| o.conn.id() != conn);
        let removed = before - conns.len();
        self.logged_in.fetch_sub(removed, Ordering::Relaxed);
        if removed == 0 {
            return None;
        }
        if conns.is_empty() {
            shard.remove(&user);
        }
        Some(!shard.contains_key(&user))
    }

    /// Whether the user has a logged-in connection on this node.
    pub fn is_online(&self, user: UserId) -> bool {
        self.shard(user).lock().contains_key(&user)
    }

    /// Logged-in connections on this node.
    pub fn logged_in(&self) -> usize {
        self.logged_in.load(Ordering::Relaxed)
    }

    /// Each user with a logged-in connection on this node, and how many they have.
    pub fn user_counts(&self) -> Vec<(UserId, usize)> {
        let mut users = Vec::new();
        for shard in &self.shards {
            users.extend(shard.lock().iter().map(|(&u, conns)| (u, conns.len())));
        }
        users
    }

    /// Sends a frame to every push connection of `user` (no ordering: not a message).
    pub fn send(&self, user: UserId, frame: &[u8]) {
        let shard = self.shard(user).lock();
        for online in shard.get(&user).into_iter().flatten().filter(|o| o.push) {
            online.conn.send(frame);
        }
    }

    /// Delivers position `pos` of `user`'s timeline to each of their push connections,
    /// in order: `frame` to every one but `origin`, whose own send's ack carries it.
    /// `frame` is built only if some connection needs it (a sender whose only connection
    /// is the sending one gets no push at all).
    pub fn deliver(
        &self,
        user: UserId,
        pos: Pos,
        frame: impl FnOnce() -> Vec<u8>,
        origin: Option<ConnId>,
    ) {
        let mut shard = self.shard(user).lock();
        let Some(conns) = shard.get_mut(&user) else {
            return;
        };
        let mut make = Some(frame);
        let mut built: Option<Vec<u8>> = None;
        for online in conns.iter_mut().filter(|o| o.push) {
            let handle = &online.conn;
            let frame = if Some(handle.id()) == origin {
                None
            } else {
                if built.is_none() {
                    built = make.take().map(|make| make());
                }
                built.as_deref()
            };
            online.seq.offer(pos, frame, &mut |f| {
                handle.send(f);
            });
            self.ask_fill(user, online);
        }
    }

    /// Where a fill of `conn` starts: the last position it has, when it is still here,
    /// started, and (unless `always`) missing something.
    pub fn fill_point(&self, user: UserId, conn: ConnId, always: bool) -> Option<Pos> {
        let mut shard = self.shard(user).lock();
        let online = find(&mut shard, user, conn)?;
        if always || online.seq.has_gap() {
            online.seq.delivered()
        } else {
            None
        }
    }

    /// Feeds positions read from the store to `conn` (repeats are dropped).
    pub fn fill(&self, user: UserId, conn: ConnId, messages: &[Message]) {
        let mut shard = self.shard(user).lock();
        let Some(online) = find(&mut shard, user, conn) else {
            return;
        };
        let handle = online.conn.clone();
        for m in messages {
            let frame = proto::Push::Message(wire::message(m)).encode();
            online.seq.offer(m.pos, Some(&frame), &mut |f| {
                handle.send(f);
            });
        }
    }

    /// A fill of `conn` finished; asks again if a gap is left.
    pub fn fill_done(&self, user: UserId, conn: ConnId) {
        let mut shard = self.shard(user).lock();
        if let Some(online) = find(&mut shard, user, conn) {
            online.filling = false;
            self.ask_fill(user, online);
        }
    }

    /// Every started push connection: `(user, conn)` (for a sweep).
    pub fn push_connections(&self) -> Vec<(UserId, ConnId)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            for (&user, conns) in shard.lock().iter() {
                out.extend(
                    conns
                        .iter()
                        .filter(|o| o.push && o.seq.delivered().is_some())
                        .map(|o| (user, o.conn.id())),
                );
            }
        }
        out
    }

    /// Asks the gap-fill thread to check every connection against the store (after
    /// cross-node pushes may have been lost: Redis was away, or this node was frozen).
    pub fn request_sweep(&self) {
        self.sweep.store(true, Ordering::Release);
    }

    /// Takes the sweep flag: true once after [`Hub::request_sweep`], or after a fill
    /// request found the queue full.
    pub fn take_sweep(&self) -> bool {
        self.sweep.swap(false, Ordering::AcqRel)
    }

    /// Sends `frame` to the user's push connections, then closes all of them (a
    /// revoked user: `logged_out`). Returns how many were closed.
    pub fn close_user(&self, user: UserId, frame: &[u8]) -> usize {
        let shard = self.shard(user).lock();
        let conns = shard.get(&user).map_or(&[][..], Vec::as_slice);
        for online in conns {
            if online.push {
                online.conn.send(frame);
            }
            online.conn.close();
        }
        conns.len()
    }

    /// Queues a fill for a connection with a gap, unless one is queued already.
    fn ask_fill(&self, user: UserId, online: &mut Online) {
        if online.filling || !online.seq.has_gap() {
            return;
        }
        let request = FillRequest {
            user,
            conn: online.conn.id(),
            not_before: Instant::now() + GAP_WAIT,
        };
        match self.fills.try_send(request) {
            Ok(()) => online.filling = true,
            Err(TrySendError::Full(_)) => self.sweep.store(true, Ordering::Release),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn find(shard: &mut Shard, user: UserId, conn: ConnId) -> Option<&mut Online> {
    shard
        .get_mut(&user)?
        .iter_mut()
        .find(|o| o.conn.id() == conn)
}

impl PushRoute for Hub {
    fn push(&self, users: &[UserId], push: &proto::Push) {
        let frame = push.encode();
        for &user in users {
            self.send(user, &frame);
        }
    }

    fn message(&self, m: &Message, recipient_pos: Pos, origin: Option<ConnId>) {
        let to = || proto::Push::Message(wire::message_at(m, recipient_pos)).encode();
        self.deliver(m.to, recipient_pos, to, origin);
        if m.from != m.to {
            let from = || proto::Push::Message(wire::message(m)).encode();
            self.deliver(m.from, m.pos, from, origin);
        }
    }
}
