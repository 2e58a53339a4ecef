//! Choosing the node a login goes to: the live node with the fewest logged-in
//! connections, counting the logins this gateway has just sent there.
//!
//! Nodes publish their [`NodeInfo`] (address, connection count, WebSocket URL) in
//! `NAME:nodes` at every heartbeat, and keep `NAME:node:ID:alive` (TTL `node_ttl_ms`)
//! while they live (`chat::cluster::registry`). A node whose liveness key is gone is
//! dead and never chosen, whatever its last count says (the original's counts froze
//! when a server died, and it kept being assigned).
//!
//! Between two heartbeats a node's published count does not move, so a burst of logins
//! would all go to the same node. The picker therefore adds the assignments it made
//! since the count it read was published (`updated_ms`): a new heartbeat, which counts
//! the connections that did arrive, resets them. Other gateways' fresh assignments are
//! not seen until the next heartbeat; with several gateways a burst spreads less evenly
//! for up to one heartbeat. May touch: Redis (reads), through the link it is given.

use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::Mutex;
use redis::Script;

use chat::cluster::keys::Keys;
use chat::cluster::link::Link;
use chat::cluster::registry::NodeInfo;

/// KEYS: the registry. ARGV: a liveness key's text before and after the node id.
/// Returns `[id, info, id, info, ...]` of the registered nodes whose liveness key exists:
/// the registry and the liveness checks in one round trip, as one consistent read.
static LIVE_NODES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local registry = redis.call('HGETALL', KEYS[1])
        local live = {}
        for i = 1, #registry, 2 do
            if redis.call('EXISTS', ARGV[1] .. registry[i] .. ARGV[2]) == 1 then
                live[#live + 1] = registry[i]
                live[#live + 1] = registry[i + 1]
            end
        end
        return live
        ",
    )
});

/// A node a login is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The node's id.
    pub id: String,
    /// Its TCP `host:port`.
    pub addr: String,
    /// Its WebSocket URL, if it has an HTTP port.
    pub ws: Option<String>,
}

/// Why no node could be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PickError {
    /// Redis did not answer.
    #[error("redis is unavailable")]
    Unavailable,
    /// No node is alive.
    #[error("no live node")]
    NoNode,
}

/// Logins this gateway sent to a node since the count it last read was published.
#[derive(Debug, Clone, Copy)]
struct Fresh {
    /// The `updated_ms` of the count they are on top of.
    since: i64,
    /// How many.
    count: usize,
}

/// See the module docs.
pub struct NodePicker {
    keys: Keys,
    fresh: Mutex<HashMap<String, Fresh>>,
}

impl NodePicker {
    /// A picker for the cluster of `keys`.
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            fresh: Mutex::new(HashMap::new()),
        }
    }

    /// The live nodes, by id, in one round trip ([`LIVE_NODES`]).
    pub fn live_nodes(&self, link: &Link) -> Result<Vec<(String, NodeInfo)>, PickError> {
        const MARK: &str = "\u{1}";
        let template = self.keys.alive(MARK);
        let (before, after) = template.split_once(MARK).unwrap_or((&template, ""));
        let flat: Vec<String> = link
            .call("reading the live nodes", |conn| {
                LIVE_NODES
                    .key(self.keys.nodes())
                    .arg(before)
                    .arg(after)
                    .invoke(conn)
            })
            .ok_or(PickError::Unavailable)?;
        let mut nodes: Vec<(String, NodeInfo)> = flat
            .chunks_exact(2)
            .filter_map(|pair| match serde_json::from_str::<NodeInfo>(&pair[1]) {
                Ok(info) => Some((pair[0].clone(), info)),
                Err(e) => {
                    log::warn!(
                        "node registry: entry of {:?} unreadable ({e}); skipped",
                        pair[0]
                    );
                    None
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(nodes)
    }

    /// Chooses the node for one login (see the module docs) and counts it.
    pub fn pick(&self, link: &Link) -> Result<Assigned, PickError> {
        let nodes = self.live_nodes(link)?;
        let mut fresh = self.fresh.lock();
        fresh.retain(|id, _| nodes.iter().any(|(live, _)| live == id));
        let load = |id: &str, info: &NodeInfo| {
            let extra = fresh
                .get(id)
                .filter(|f| f.since == info.updated_ms)
                .map_or(0, |f| f.count);
            info.conns.saturating_add(extra)
        };
        let (id, info) = nodes
            .iter()
            .min_by_key(|(id, info)| load(id, info))
            .ok_or(PickError::NoNode)?;
        let entry = fresh.entry(id.clone()).or_insert(Fresh {
            since: info.updated_ms,
            count: 0,
        });
        if entry.since != info.updated_ms {
            *entry = Fresh {
                since: info.updated_ms,
                count: 0,
            };
        }
        entry.count += 1;
        Ok(Assigned {
            id: id.clone(),
            addr: info.addr.clone(),
            ws: info.ws.clone(),
        })
    }
}
