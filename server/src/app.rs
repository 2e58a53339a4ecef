//! The application: everything a command needs, shared by all workers.
//!
//! Owns the store, the online hub, the friend cache, the writer handle, the password
//! hasher and its guard, the metrics, plus the settings commands consult. Built once at
//! start-up.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::PasswordHasher;
use crate::cluster::Cluster;
use crate::friend_cache::FriendCache;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::model::UserId;
use crate::password_guard::PasswordGuard;
use crate::push_route::PushRoute;
use crate::store::Store;
use crate::writer::Writer;

/// Limits and timeouts commands apply (from the `[server]` and `[auth]` sections).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Largest frame in either direction; list responses are cut to fit.
    pub max_frame: usize,
    /// A connection must log in within this.
    pub login_timeout: Duration,
    /// A logged-in connection that sends nothing for this is closed.
    pub idle_timeout: Duration,
    /// Requests per second per connection.
    pub rate_limit_per_sec: u32,
    /// Burst allowance per connection.
    pub rate_limit_burst: u32,
    /// Lifetime of a login token.
    pub token_ttl: Duration,
    /// Whether `register` works on this node (a deployment that verifies e-mail
    /// addresses registers through the gateway instead).
    pub allow_register: bool,
}

/// Shared state of the chat server.
pub struct App {
    /// Limits and timeouts.
    pub settings: Settings,
    /// The persistent store.
    pub store: Arc<dyn Store>,
    /// Online users and their connections (presence, online flags).
    pub hub: Arc<Hub>,
    /// Where every push goes: the hub on one node, the cluster route in a cluster.
    pub pushes: Arc<dyn PushRoute>,
    /// This node's membership of a cluster (`--redis`); `None` on a single node.
    pub cluster: Option<Arc<Cluster>>,
    /// Cached friend lists.
    pub friends: FriendCache,
    /// The batched writer's queue.
    pub writer: Writer,
    /// argon2id hashing and verification.
    pub hasher: PasswordHasher,
    /// Who may make the server hash, and when.
    pub guard: PasswordGuard,
    /// What `GET /metrics` shows; commands count requests and errors in it.
    pub metrics: Arc<Metrics>,
}

/// Friend lists cached at most (users); see [`FriendCache`].
const FRIEND_CACHE_USERS: usize = 200_000;
/// In a cluster, how long a cached friend list is trusted (a lost invalidation from
/// another node is stale for at most this long).
const CLUSTER_FRIEND_CACHE_AGE: Duration = Duration::from_secs(2);

/// Where users' connections are and how pushes reach them.
pub struct Routing {
    /// This node's online connections.
    pub hub: Arc<Hub>,
    /// The push route (the hub itself on one node).
    pub pushes: Arc<dyn PushRoute>,
    /// Cluster membership, if any.
    pub cluster: Option<Arc<Cluster>>,
}

impl App {
    /// Assembles the application.
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        routing: Routing,
        writer: Writer,
        hasher: PasswordHasher,
        guard: PasswordGuard,
        metrics: Arc<Metrics>,
    ) -> Self {
        let Routing {
            hub,
            pushes,
            cluster,
        } = routing;
        let friends = FriendCache::new(
            FRIEND_CACHE_USERS,
            cluster.is_some().then_some(CLUSTER_FRIEND_CACHE_AGE),
        );
        Self {
            settings,
            store,
            pushes,
            hub,
            cluster,
            friends,
            writer,
            hasher,
            guard,
            metrics,
        }
    }
}

impl App {
    /// These users' friendships changed here: forget their cached lists on this node
    /// and, in a cluster, on every other.
    pub fn friends_changed(&self, users: &[UserId]) {
        self.friends.invalidate(users);
        if let Some(cluster) = &self.cluster {
            cluster.friends_changed(users);
        }
    }
}
