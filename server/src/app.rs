//! The application: everything a command needs, shared by all workers.
//!
//! Owns the store, the online hub, the friend cache, the writer handle, the password
//! hasher and its guard, plus the settings commands consult. Built once at start-up.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::PasswordHasher;
use crate::friend_cache::FriendCache;
use crate::hub::Hub;
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
}

/// Shared state of the chat server.
pub struct App {
    /// Limits and timeouts.
    pub settings: Settings,
    /// The persistent store.
    pub store: Arc<dyn Store>,
    /// Online users and their connections (presence, online flags).
    pub hub: Arc<Hub>,
    /// Where every push goes (today the hub itself).
    pub pushes: Arc<dyn PushRoute>,
    /// Cached friend lists.
    pub friends: FriendCache,
    /// The batched writer's queue.
    pub writer: Writer,
    /// argon2id hashing and verification.
    pub hasher: PasswordHasher,
    /// Who may make the server hash, and when.
    pub guard: PasswordGuard,
}

/// Friend lists cached at most (users); see [`FriendCache`].
const FRIEND_CACHE_USERS: usize = 200_000;

impl App {
    /// Assembles the application.
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        writer: Writer,
        hasher: PasswordHasher,
        guard: PasswordGuard,
    ) -> Self {
        Self {
            settings,
            store,
            pushes: Arc::clone(&hub) as Arc<dyn PushRoute>,
            hub,
            friends: FriendCache::new(FRIEND_CACHE_USERS),
            writer,
            hasher,
            guard,
        }
    }
}
