//! The publisher thread: carries pushes for users connected to other nodes.
//!
//! [`Publisher::publish`] never blocks: it puts the item on a bounded queue
//! ([`QUEUE`]) and returns; a full queue drops the item and counts it. The thread takes
//! what is queued (up to [`BATCH`] items), looks up in one pipeline which nodes hold
//! each user (`NAME:route:USER`), and publishes one JSON array per node in a second
//! pipeline, in queue order (so one node's pushes for a user reach the other node in
//! the order they were made). Its own node is skipped: the route has delivered locally.
//!
//! When items were lost (queue full, or Redis failed), the thread, as soon as Redis
//! answers again, asks every node to sweep (`BusItem::Sweep`): each checks its
//! connections against the store and fills what they miss.
//! May touch: Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use redis::Connection;

use super::bus::{self, BusItem};
use super::keys::Keys;
use super::link::Link;
use crate::model::UserId;

/// Items waiting for the publisher at most.
pub const QUEUE: usize = 65_536;
/// Items per round at most.
const BATCH: usize = 1024;

/// Counters of the publisher.
#[derive(Default)]
pub struct PublishStats {
    /// Items published to another node.
    pub published: AtomicU64,
    /// Items lost (queue full or Redis failed).
    pub lost: AtomicU64,
}

/// The handle that queues items.
#[derive(Clone)]
pub struct Publisher {
    tx: Sender<BusItem>,
    lost: Arc<AtomicBool>,
    stats: Arc<PublishStats>,
}

impl Publisher {
    /// The handle and the thread's loop.
    pub fn new(link: Arc<Link>, keys: Keys, node: String) -> (Publisher, PublishLoop) {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let lost = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(PublishStats::default());
        let handle = Publisher {
            tx,
            lost: Arc::clone(&lost),
            stats: Arc::clone(&stats),
        };
        let run = PublishLoop {
            rx,
            link,
            keys,
            node,
            lost,
            stats,
        };
        (handle, run)
    }

    /// Queues an item for the other nodes it concerns ([`BusItem::users`]); never
    /// blocks.
    pub fn publish(&self, item: BusItem) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.lost.fetch_add(1, Ordering::Relaxed);
                self.lost.store(true, Ordering::Release);
            }
        }
    }

    /// The publisher's counters.
    pub fn stats(&self) -> &PublishStats {
        &self.stats
    }

    /// The publisher's counters, shared (they outlive the handle).
    pub fn shared_stats(&self) -> Arc<PublishStats> {
        Arc::clone(&self.stats)
    }
}

/// The publisher thread's loop.
pub struct PublishLoop {
    rx: Receiver<BusItem>,
    link: Arc<Link>,
    keys: Keys,
    node: String,
    lost: Arc<AtomicBool>,
    stats: Arc<PublishStats>,
}

impl PublishLoop {
    /// Runs until every [`Publisher`] handle is dropped and the queue is empty.
    pub fn run(self) {
        loop {
            let first = match self.rx.recv_timeout(Duration::from_millis(500)) {
                Ok(first) => first,
                Err(RecvTimeoutError::Timeout) => {
                    self.repair();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            batch.extend(self.rx.try_iter().take(BATCH - 1));
            let n = batch.len() as u64;
            let sent = self.link.call("publish", |conn| self.send(conn, &batch));
            match sent {
                Some(published) => {
                    self.stats.published.fetch_add(published, Ordering::Relaxed);
                    self.repair();
                }
                None => {
                    self.stats.lost.fetch_add(n, Ordering::Relaxed);
                    self.lost.store(true, Ordering::Release);
                }
            }
        }
    }

    /// After a loss: once Redis answers, every node sweeps.
    fn repair(&self) {
        if !self.lost.load(Ordering::Acquire) {
            return;
        }
        let nodes = self.link.call("sweep request", |conn| {
            let nodes: Vec<String> = redis::cmd("HKEYS").arg(self.keys.nodes()).query(conn)?;
            let payload = bus::encode(&[&BusItem::Sweep]);
            let mut pipe = redis::pipe();
            for node in &nodes {
                pipe.cmd("PUBLISH")
                    .arg(self.keys.channel(node))
                    .arg(&payload[..])
                    .ignore();
            }
            pipe.query::<()>(conn)?;
            Ok(nodes.len())
        });
        if let Some(nodes) = nodes {
            self.lost.store(false, Ordering::Release);
            log::info!("pushes were lost while redis was away: {nodes} nodes asked to sweep");
        }
    }

    /// Looks the users' nodes up and publishes; returns how many items went out.
    fn send(&self, conn: &mut Connection, batch: &[BusItem]) -> redis::RedisResult<u64> {
        let users: Vec<UserId> = batch
            .iter()
            .flat_map(|item| item.users().unwrap_or_default())
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut lookup = redis::pipe();
        lookup.cmd("HKEYS").arg(self.keys.nodes());
        for &user in &users {
            lookup.cmd("HKEYS").arg(self.keys.route(user));
        }
        let mut routes: Vec<Vec<String>> = lookup.query(conn)?;
        let all_nodes = if routes.is_empty() {
            Vec::new()
        } else {
            routes.remove(0)
        };
        let nodes_of: BTreeMap<UserId, Vec<String>> = users.into_iter().zip(routes).collect();
        let mut per_node: BTreeMap<&str, Vec<&BusItem>> = BTreeMap::new();
        for item in batch {
            let mut targets: BTreeSet<&str> = BTreeSet::new();
            let nodes: Vec<&String> = match item.users() {
                Some(users) => users
                    .iter()
                    .flat_map(|u| nodes_of.get(u).into_iter().flatten())
                    .collect(),
                None => all_nodes.iter().collect(),
            };
            for node in nodes {
                if *node != self.node {
                    targets.insert(node);
                }
            }
            for node in targets {
                per_node.entry(node).or_default().push(item);
            }
        }
        if per_node.is_empty() {
            return Ok(0);
        }
        let mut publish = redis::pipe();
        let mut count = 0u64;
        for (node, items) in &per_node {
            count += items.len() as u64;
            publish
                .cmd("PUBLISH")
                .arg(self.keys.channel(node))
                .arg(bus::encode(items))
                .ignore();
        }
        publish.query::<()>(conn)?;
        Ok(count)
    }
}
