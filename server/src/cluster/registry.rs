//! The registry thread: this node's heartbeat, its re-registration when Redis forgot it,
//! and the reaping of dead nodes.
//!
//! Every `heartbeat_ms` it refreshes `NAME:node:ID:alive` (TTL `node_ttl_ms`) and its
//! [`NodeInfo`] in `NAME:nodes` (address, WebSocket URL, epoch, logged-in connections:
//! what the gateway assigns by and hands out). It **re-registers** (sets every local
//! user's route count from the hub, removes routes of users no longer here, announces
//! presence where that changed, and sweeps every connection against the store) when:
//! * the liveness key was gone (Redis restarted, or the others reaped this node),
//! * the previous beat is older than `node_ttl_ms` (this process was frozen),
//! * a Redis call failed since the last beat (a route change may have been missed).
//!
//! It **reaps** every registered node whose liveness key has expired: under a guard
//! (`SET NX` on `NAME:reap:ID:EPOCH`) so one survivor does it, it takes the dead node out
//! of each of its users' routes (a script that does nothing if the node came back) and
//! announces `presence` offline for users left with no connection anywhere.
//! May touch: Redis and the hub (read); announces presence through [`EventSlot`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult};
use serde::{Deserialize, Serialize};

use super::events::EventSlot;
use super::keys::Keys;
use super::link::Link;
use super::scripts;
use crate::hub::Hub;
use crate::model::{now_ms, UserId};

/// How long a reap guard lasts: one survivor reaps an epoch; another retries after this
/// if the first died mid-way.
const REAP_GUARD: Duration = Duration::from_secs(30);

/// A node as the registry (and the gateway) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `host:port` clients connect to.
    pub addr: String,
    /// The WebSocket URL, `ws://HOST:HTTP_PORT/ws` (HOST the host of `addr`); `None`
    /// (`null`) when the node has no HTTP port. Entries written before the field
    /// existed read as `None`.
    #[serde(default)]
    pub ws: Option<String>,
    /// Changes at every start of the node (ms since the epoch at start).
    pub epoch: u64,
    /// Logged-in connections on the node.
    pub conns: usize,
    /// When this was written, ms since the Unix epoch.
    pub updated_ms: i64,
}

/// What a node tells clients (through the gateway) to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// `host:port` of the TCP protocol.
    pub addr: String,
    /// The WebSocket URL, if the node has an HTTP port.
    pub ws: Option<String>,
}

/// The registry thread's loop.
pub struct RegistryLoop {
    /// Request connections.
    pub link: Arc<Link>,
    /// Key names.
    pub keys: Keys,
    /// This node.
    pub node: String,
    /// This start of it.
    pub epoch: u64,
    /// What clients connect to (set once the listeners are bound).
    pub advertise: Arc<OnceLock<Advertised>>,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Liveness TTL.
    pub node_ttl: Duration,
    /// Local connections.
    pub hub: Arc<Hub>,
    /// Where presence changes go (set once the application exists).
    pub events: EventSlot,
    /// Set at shutdown.
    pub stop: Arc<AtomicBool>,
}

impl RegistryLoop {
    /// Runs until `stop` is set, then deregisters the node.
    pub fn run(self) {
        let mut registered = false;
        let mut last_beat = Instant::now();
        while !self.stop.load(Ordering::Acquire) && self.advertise.get().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        while !self.stop.load(Ordering::Acquire) {
            let frozen = last_beat.elapsed() > self.node_ttl;
            if frozen {
                log::warn!(
                    "no heartbeat for {} ms (frozen?): the others may have reaped this node",
                    last_beat.elapsed().as_millis()
                );
            }
            let failed = self.link.take_failed();
            match self.link.call("heartbeat", |conn| self.beat(conn)) {
                Some(was_alive) => {
                    last_beat = Instant::now();
                    if !registered || !was_alive || frozen || failed {
                        registered = self.reregister();
                    }
                    self.reap_dead();
                }
                None => registered = false,
            }
            self.sleep(self.heartbeat);
        }
        self.deregister();
    }

    /// Sleeps in short steps, waking early at shutdown.
    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.stop.load(Ordering::Acquire) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Refreshes the liveness key and the registry entry; true if the key was there.
    fn beat(&self, conn: &mut Connection) -> RedisResult<bool> {
        let info = NodeInfo {
            addr: self.addr().to_string(),
            ws: self.advertise.get().and_then(|a| a.ws.clone()),
            epoch: self.epoch,
            conns: self.hub.logged_in(),
            updated_ms: now_ms(),
        };
        let info = serde_json::to_string(&info).unwrap_or_default();
        let ttl = u64::try_from(self.node_ttl.as_millis()).unwrap_or(u64::MAX);
        let (existed,): (bool,) = redis::pipe()
            .cmd("EXISTS")
            .arg(self.keys.alive(&self.node))
            .cmd("SET")
            .arg(self.keys.alive(&self.node))
            .arg(self.epoch)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("HSET")
            .arg(self.keys.nodes())
            .arg(&self.node)
            .arg(info)
            .ignore()
            .query(conn)?;
        Ok(existed)
    }

    /// Writes every local user's route afresh; true when it all went through.
    fn reregister(&self) -> bool {
        let started = Instant::now();
        let local = self.hub.user_counts();
        let here: std::collections::HashSet<UserId> = local.iter().map(|(u, _)| *u).collect();
        let listed: Option<Vec<UserId>> = self.link.call("re-register", |conn| {
            redis::cmd("SMEMBERS")
                .arg(self.keys.node_users(&self.node))
                .query(conn)
        });
        let Some(listed) = listed else { return false };
        let stale = listed.into_iter().filter(|u| !here.contains(u));
        let changes: Vec<(UserId, usize)> =
            local.iter().copied().chain(stale.map(|u| (u, 0))).collect();
        let mut announced = 0;
        for (user, count) in &changes {
            let changed = self.link.call("re-register", |conn| {
                scripts::set_count(conn, &self.keys, &self.node, *user, *count)
            });
            match changed {
                None => return false,
                Some(Some(online)) => {
                    announced += 1;
                    self.announce(*user, online);
                }
                Some(None) => {}
            }
        }
        // Pushes for these connections may have gone elsewhere (or nowhere) meanwhile.
        self.hub.request_sweep();
        log::info!(
            "registered node {} (epoch {}) at {}: {} local users, {} presence changes, {} ms",
            self.node,
            self.epoch,
            self.addr(),
            local.len(),
            announced,
            started.elapsed().as_millis()
        );
        true
    }

    /// Reaps every registered node whose liveness key has expired.
    fn reap_dead(&self) {
        let dead: Option<Vec<(String, u64)>> = self.link.call("registry", |conn| {
            let nodes: Vec<(String, String)> =
                redis::cmd("HGETALL").arg(self.keys.nodes()).query(conn)?;
            let mut dead = Vec::new();
            for (node, info) in nodes {
                if node == self.node {
                    continue;
                }
                let alive: bool = redis::cmd("EXISTS")
                    .arg(self.keys.alive(&node))
                    .query(conn)?;
                if !alive {
                    let epoch = serde_json::from_str::<NodeInfo>(&info).map_or(0, |i| i.epoch);
                    dead.push((node, epoch));
                }
            }
            Ok(dead)
        });
        for (node, epoch) in dead.unwrap_or_default() {
            self.reap(&node, epoch);
        }
    }

    /// Takes a dead node's users offline (if this node wins the guard).
    fn reap(&self, dead: &str, epoch: u64) {
        let guard_ms = u64::try_from(REAP_GUARD.as_millis()).unwrap_or(u64::MAX);
        let won: Option<bool> = self.link.call("reap", |conn| {
            let set: Option<String> = redis::cmd("SET")
                .arg(self.keys.reap_guard(dead, epoch))
                .arg(&self.node)
                .arg("NX")
                .arg("PX")
                .arg(guard_ms)
                .query(conn)?;
            Ok(set.is_some())
        });
        if won != Some(true) {
            return;
        }
        let users: Vec<UserId> = self
            .link
            .call("reap", |conn| {
                redis::cmd("SMEMBERS")
                    .arg(self.keys.node_users(dead))
                    .query(conn)
            })
            .unwrap_or_default();
        let mut offline = 0;
        for &user in &users {
            let gone = self
                .link
                .call("reap", |conn| scripts::reap(conn, &self.keys, dead, user));
            if gone == Some(true) {
                offline += 1;
                self.announce(user, false);
            }
        }
        let _ = self
            .link
            .call("reap", |conn| scripts::forget(conn, &self.keys, dead));
        log::warn!(
            "node {dead} (epoch {epoch}) is dead: reaped {} users, {offline} now offline",
            users.len()
        );
    }

    fn addr(&self) -> &str {
        self.advertise.get().map_or("", |a| a.addr.as_str())
    }

    fn announce(&self, user: UserId, online: bool) {
        if let Some(events) = self.events.get() {
            events.presence(user, online);
        }
    }

    /// At shutdown: leaves the registry. Connections have closed and left their routes;
    /// a re-registration with no local user removes whatever a failed call left behind.
    fn deregister(&self) {
        self.reregister();
        let _ = self.link.call("deregister", |conn| {
            redis::pipe()
                .cmd("DEL")
                .arg(self.keys.alive(&self.node))
                .ignore()
                .cmd("HDEL")
                .arg(self.keys.nodes())
                .arg(&self.node)
                .ignore()
                .query::<()>(conn)
        });
        log::info!("node {} left the cluster", self.node);
    }
}
