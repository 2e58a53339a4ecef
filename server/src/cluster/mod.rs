//! Cluster mode (`--redis`): several nodes share one MySQL database (the only log of
//! messages) and one Redis (routes, presence, the node registry, the cross-node bus).
//! The contract is `../shared/cluster.md`; how this node implements it, key by key and
//! failure by failure, is `docs/cluster.md`.
//!
//! Files:
//! * [`keys`]: every Redis key and channel name.
//! * [`link`]: pooled request connections with timeouts and a fail-fast window.
//! * [`scripts`]: the Lua scripts that change routes atomically.
//! * [`bus`]: what nodes publish to each other; [`events`]: what the cluster tells the
//!   node (presence changes it found, friendships changed elsewhere).
//! * [`publisher`]: the thread that publishes pushes for other nodes (never blocks a
//!   caller); [`route`]: the [`PushRoute`](crate::push_route::PushRoute) that delivers
//!   locally and queues for the publisher.
//! * [`subscriber`]: the thread that receives this node's channel.
//! * [`registry`]: the thread that heartbeats, re-registers and reaps dead nodes.
//!
//! A login registers its connection's route synchronously ([`Cluster::joined`], one
//! Redis round trip on the worker) before it reads `last_pos`; everything else that
//! talks to Redis runs on the cluster's three threads. When Redis is away, calls fail
//! fast, local delivery goes on, and the registry re-registers and sweeps once it is
//! back.

pub mod bus;
pub mod events;
pub mod keys;
pub mod link;
pub mod publisher;
pub mod registry;
pub mod route;
pub mod scripts;
pub mod subscriber;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use reactor::spawn_essential;

use self::bus::BusItem;
use self::events::{EventSlot, Events};
use self::keys::Keys;
use self::link::Link;
use self::publisher::{PublishStats, Publisher};
use self::registry::{Advertised, RegistryLoop};
use self::route::ClusterRoute;
use self::subscriber::SubscribeLoop;
use crate::hub::Hub;
use crate::model::{now_ms, UserId};

/// What a node needs to join a cluster (from the `[cluster]` config section).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `redis://host:port/db`.
    pub redis_url: String,
    /// The cluster's name: the prefix of every key and channel.
    pub name: String,
    /// This node's id.
    pub node_id: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// A node whose heartbeat is older than this is dead to the others.
    pub node_ttl: Duration,
}

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The Redis URL does not parse.
    #[error("redis url: {0}")]
    Url(#[from] redis::RedisError),
    /// A thread could not be started.
    #[error("cannot start a cluster thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// This node's membership of the cluster.
pub struct Cluster {
    keys: Keys,
    link: Arc<Link>,
    node: String,
    /// Taken at [`Cluster::stop`], so the publisher thread can end.
    publisher: Mutex<Option<Publisher>>,
    events: EventSlot,
    advertise: Arc<OnceLock<Advertised>>,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    /// The publisher's counters (kept after the publisher is taken at stop).
    published: Arc<PublishStats>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Cluster {
    /// Starts the publisher, subscriber and registry threads. Redis need not answer
    /// yet: the node registers as soon as it does.
    pub fn start(settings: &ClusterSettings, hub: &Arc<Hub>) -> Result<Cluster, ClusterError> {
        let link = Arc::new(Link::new(&settings.redis_url)?);
        let keys = Keys::new(&settings.name);
        let node = settings.node_id.clone();
        let epoch = u64::try_from(now_ms()).unwrap_or(0);
        let stop = Arc::new(AtomicBool::new(false));
        let events: EventSlot = Arc::new(OnceLock::new());
        let received = Arc::new(AtomicU64::new(0));
        let advertise = Arc::new(OnceLock::new());
        let (publisher, publish_loop) =
            Publisher::new(Arc::clone(&link), keys.clone(), node.clone());
        let published = publisher.shared_stats();
        let subscribe_loop = SubscribeLoop {
            link: Arc::clone(&link),
            channel: keys.channel(&node),
            hub: Arc::clone(hub),
            events: Arc::clone(&events),
            stop: Arc::clone(&stop),
            received: Arc::clone(&received),
        };
        let registry_loop = RegistryLoop {
            link: Arc::clone(&link),
            keys: keys.clone(),
            node: node.clone(),
            epoch,
            advertise: Arc::clone(&advertise),
            heartbeat: settings.heartbeat,
            node_ttl: settings.node_ttl,
            hub: Arc::clone(hub),
            events: Arc::clone(&events),
            stop: Arc::clone(&stop),
        };
        let threads = vec![
            spawn_essential("cluster-publish".into(), move || publish_loop.run())?,
            spawn_essential("cluster-subscribe".into(), move || subscribe_loop.run())?,
            spawn_essential("cluster-registry".into(), move || registry_loop.run())?,
        ];
        log::info!(
            "cluster {}: node {} (epoch {epoch}), heartbeat {} ms, ttl {} ms",
            settings.name,
            node,
            settings.heartbeat.as_millis(),
            settings.node_ttl.as_millis()
        );
        Ok(Cluster {
            keys,
            link,
            node,
            publisher: Mutex::new(Some(publisher)),
            events,
            advertise,
            stop,
            received,
            published,
            threads: Mutex::new(threads),
        })
    }

    /// The `host:port` clients should connect to and the WebSocket URL (`None` without
    /// an HTTP port), once the listeners are bound; the node registers itself only
    /// after this.
    pub fn set_advertise(&self, addr: String, ws: Option<String>) {
        match &ws {
            Some(ws) => log::info!("cluster node {} advertises {addr} and {ws}", self.node),
            None => log::info!("cluster node {} advertises {addr}", self.node),
        }
        let _ = self.advertise.set(Advertised { addr, ws });
    }

    /// The push route of this node: local delivery plus publication.
    pub fn route(&self, hub: Arc<Hub>) -> Option<ClusterRoute> {
        Some(ClusterRoute::new(hub, self.publisher.lock().clone()?))
    }

    /// Where the cluster's events go (presence changes the registry finds, friendships
    /// changed elsewhere); set once, when the application exists.
    pub fn set_events(&self, events: Arc<dyn Events>) {
        let _ = self.events.set(events);
    }

    /// Tells every other node that these users' friendships changed.
    pub fn friends_changed(&self, users: &[UserId]) {
        if let Some(publisher) = &*self.publisher.lock() {
            publisher.publish(BusItem::FriendsChanged {
                users: users.to_vec(),
            });
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Registers one more logged-in connection of `user` here. `Some(true)` if the user
    /// was offline everywhere; `None` when Redis did not answer (the registry repairs
    /// the route once it does).
    pub fn joined(&self, user: UserId) -> Option<bool> {
        self.link.call("route join", |conn| {
            scripts::join(conn, &self.keys, &self.node, user)
        })
    }

    /// One logged-in connection of `user` fewer here. `Some(true)` if the user is now
    /// offline everywhere; `None` when Redis did not answer.
    pub fn left(&self, user: UserId) -> Option<bool> {
        self.link.call("route leave", |conn| {
            scripts::leave(conn, &self.keys, &self.node, user)
        })
    }

    /// Whether each user has a logged-in connection on a live node; `None` when Redis
    /// did not answer.
    pub fn online(&self, users: &[UserId]) -> Option<Vec<bool>> {
        if users.is_empty() {
            return Some(Vec::new());
        }
        self.link.call("presence", |conn| {
            let mut pipe = redis::pipe();
            for &user in users {
                pipe.cmd("EXISTS").arg(self.keys.route(user));
            }
            pipe.query(conn)
        })
    }

    /// Asks every node holding `user`'s sessions to push `logged_out` and close them.
    pub fn log_out(&self, user: UserId, reason: &str) {
        if let Some(publisher) = &*self.publisher.lock() {
            publisher.publish(BusItem::LoggedOut {
                user,
                reason: reason.to_string(),
            });
        }
    }

    /// Items received from other nodes so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Redis errors so far.
    pub fn redis_errors(&self) -> u64 {
        self.link.errors()
    }

    /// Items published to other nodes so far.
    pub fn published(&self) -> u64 {
        self.published.published.load(Ordering::Relaxed)
    }

    /// Items that could not be published so far (queue full or Redis failed).
    pub fn publish_lost(&self) -> u64 {
        self.published.lost.load(Ordering::Relaxed)
    }

    /// Whether Redis answers `PING` now (one round trip through the link, which fails
    /// fast during an outage; a failure counts as a Redis error). For the health probe.
    pub fn ping(&self) -> bool {
        self.link
            .call("health", |conn| redis::cmd("PING").query::<String>(conn))
            .is_some()
    }

    /// Stops the threads: the publisher once every route is gone and its queue is
    /// drained, the subscriber, and the registry after it deregisters the node.
    pub fn stop(&self) {
        self.publisher.lock().take();
        self.stop.store(true, Ordering::Release);
        for thread in self.threads.lock().drain(..) {
            if thread.join().is_err() {
                log::error!("a cluster thread panicked");
            }
        }
    }
}
