//! The relay's set-up (not timed): `C` connections, each logged in as its own user, and
//! users `2k` / `2k+1` made friends.
//!
//! With several `--addr` (the nodes of a cluster) the two users of a pair are on two
//! different nodes ([`pair_node`]: user `2k` on node `k mod n`, user `2k+1` on node
//! `k+1 mod n`), so every message crosses nodes and the nodes share the connections
//! evenly; with one address everything is on it. Registration, login and befriending go
//! through each connection's own node (the nodes share one database).
//!
//! With the JSON protocol each connection registers and logs in its own user
//! (`<prefix>_<i>`, from its own source address, see [`crate::accounts::source_addr`]);
//! then `2k` sends `add_friend` and `2k+1` accepts the returned `request_id`. With
//! `--floor` the set-up is one `L` login per connection to `relay_floor` instead (see
//! [`crate::floor`]). `server_busy` and `rate_limited` answers are retried
//! ([`crate::client::Retry`]). JSON requests are `proto::Request`s. Each login's
//! `last_pos` starts the connection's timeline check ([`Relay::logged_in`]).
//! May touch: the connections it opens (handed to the caller in a [`Fleet`]) and the
//! relay's partner table.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::{ErrorCode, Op, Request};

use super::phase::Relay;
use crate::accounts::{source_addr, Accounts};
use crate::args::Resolved;
use crate::client::{wait_until, Delayer, Engine, Failure, Peer, PushSink, Retry};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::floor;
use crate::report::{bar, counts_line};
use crate::wire::wire_id;

/// The relay connections, set up and paired.
pub struct Fleet {
    /// Connection `i` is user `i`; `i` and `i ^ 1` are friends.
    pub peers: Vec<Arc<Peer>>,
    /// Seconds the set-up took.
    pub secs: f64,
    /// The retry helper of the set-up (its `retries` count them); scenarios may reuse it.
    pub retry: Retry,
}

/// The node (an index into the `--addr` list of `nodes` addresses) of relay connection
/// `i`: the pair `2k`, `2k+1` goes to nodes `k` and `k+1` (mod `nodes`), two different
/// nodes whenever there are at least two.
pub fn pair_node(i: usize, nodes: usize) -> usize {
    (i / 2 + (i & 1)) % nodes.max(1)
}

/// Counters of the set-up phase.
#[derive(Default)]
struct Setup {
    logged_in: AtomicUsize,
    login_failed: AtomicUsize,
    register_failed: AtomicUsize,
    friends: AtomicUsize,
    friends_failed: AtomicUsize,
}

fn setup_json(
    peers: &[Arc<Peer>],
    relay: &Arc<Relay>,
    accounts: &Accounts,
    retry: &Retry,
    setup: &Arc<Setup>,
    pb: &indicatif::ProgressBar,
) {
    for peer in peers {
        let i = peer.index();
        let s = Arc::clone(setup);
        let login = accounts.login_request(i, true);
        let (r, pb) = (retry.clone(), pb.clone());
        let relay = Arc::clone(relay);
        // The login waits for the registration's answer: a registration put off by
        // `server_busy` / `rate_limited` must not let the login overtake it.
        retry.request(
            peer,
            accounts.register_request(i),
            Box::new(move |peer, outcome| {
                match outcome {
                    Ok(_) => {}
                    Err(Failure::Server(e)) if e.code == ErrorCode::UserExists => {}
                    Err(_) => {
                        s.register_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                r.request(
                    peer,
                    login,
                    Box::new(move |peer, outcome| {
                        match outcome.ok().and_then(|f| Some((f.user_id?, f.last_pos?))) {
                            Some((uid, last_pos)) => {
                                peer.set_user_id(uid);
                                relay.logged_in(peer.index(), last_pos);
                                s.logged_in.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {
                                s.login_failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        pb.inc(1);
                    }),
                );
            }),
        );
    }
}

fn befriend(peers: &[Arc<Peer>], retry: &Retry, setup: &Arc<Setup>, pb: &indicatif::ProgressBar) {
    for pair in peers.chunks_exact(2) {
        let (a, b) = (&pair[0], Arc::clone(&pair[1]));
        let s = Arc::clone(setup);
        let pb = pb.clone();
        let r = retry.clone();
        let add = Request::AddFriend {
            user_id: wire_id(b.user_id()),
            message: String::new(),
        };
        retry.request(
            a,
            add,
            Box::new(move |_, outcome| match outcome {
                Ok(f) => {
                    let Some(request_id) = f.request_id else {
                        s.friends_failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    r.request(
                        &b,
                        Request::AcceptFriend {
                            request_id: wire_id(request_id),
                        },
                        Box::new(move |_, outcome| {
                            let counter = if outcome.is_ok() {
                                &s.friends
                            } else {
                                &s.friends_failed
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            pb.inc(1);
                        }),
                    );
                }
                Err(Failure::Server(e)) if e.code == ErrorCode::AlreadyFriends => {
                    s.friends.fetch_add(1, Ordering::Relaxed);
                    pb.inc(1);
                }
                Err(_) => {
                    s.friends_failed.fetch_add(1, Ordering::Relaxed);
                }
            }),
        );
    }
}

fn setup_floor(peers: &[Arc<Peer>], setup: &Arc<Setup>, pb: &indicatif::ProgressBar) {
    for peer in peers {
        let uid = peer.index() as u32 + 1;
        let s = Arc::clone(setup);
        let pb = pb.clone();
        peer.request(
            Op::Login,
            |seq| floor::encode_login(seq, uid),
            Box::new(move |peer, outcome| {
                if outcome.is_ok() {
                    peer.set_user_id(u64::from(uid));
                    s.logged_in.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.login_failed.fetch_add(1, Ordering::Relaxed);
                }
                pb.inc(1);
            }),
        );
    }
}

/// Opens `conns` connections speaking `wire` (pushes go to `relay`), each to its node
/// ([`pair_node`] over `common.addrs`), logs each in and pairs them as friends (JSON)
/// within `timeout`; records the partners and each login's `last_pos` in `relay`. Fails with [`LoadError::Setup`] when a connection cannot be opened, or
/// when not every connection logged in or not every pair became friends in time.
pub fn set_up(
    engine: &Engine,
    common: &Resolved,
    relay: &Arc<Relay>,
    (conns, wire): (usize, Wire),
    accounts: &Accounts,
    timeout: Duration,
) -> Result<Fleet, LoadError> {
    let c = conns;
    let floor = wire == Wire::Floor;
    let setup_start = Instant::now();
    let sink: Arc<dyn PushSink> = relay.clone();
    let mut peers = Vec::with_capacity(c);
    for i in 0..c {
        let addr = common.node_addr(pair_node(i, common.addrs.len()));
        let local = source_addr(common.spread, addr, i);
        let peer = engine
            .connect(i, local, addr, wire, Arc::clone(&sink))
            .map_err(|e| LoadError::Setup(format!("connection {i} to {addr}: {e}")))?;
        peers.push(peer);
    }
    let setup = Arc::new(Setup::default());
    let retry = Retry::new(Delayer::start()?);
    let steps = if floor { c } else { c + c / 2 };
    let pb = bar(steps as u64, "set-up", common.progress);
    if floor {
        setup_floor(&peers, &setup, &pb);
    } else {
        setup_json(&peers, relay, accounts, &retry, &setup, &pb);
    }
    let deadline = setup_start + timeout;
    wait_until(deadline, || {
        setup.logged_in.load(Ordering::Relaxed) + setup.login_failed.load(Ordering::Relaxed) >= c
    });
    let logged_in = setup.logged_in.load(Ordering::Relaxed);
    if logged_in < c {
        pb.finish_and_clear();
        return Err(LoadError::Setup(format!(
            "{logged_in} of {c} connections logged in ({} registrations and {} logins failed; \
             connect errors: {}; closes: {}; errors: {})",
            setup.register_failed.load(Ordering::Relaxed),
            setup.login_failed.load(Ordering::Relaxed),
            counts_line(&engine.health().connect_errors.json()),
            counts_line(&engine.health().closes.json()),
            counts_line(&engine.health().errors.json()),
        )));
    }
    relay.set_partners((0..c).map(|i| peers[i ^ 1].user_id()).collect());
    if !floor {
        befriend(&peers, &retry, &setup, &pb);
        wait_until(deadline, || {
            setup.friends.load(Ordering::Relaxed) + setup.friends_failed.load(Ordering::Relaxed)
                >= c / 2
        });
        let friends = setup.friends.load(Ordering::Relaxed);
        if friends < c / 2 {
            pb.finish_and_clear();
            return Err(LoadError::Setup(format!(
                "{friends} of {} friendships made (errors: {})",
                c / 2,
                counts_line(&engine.health().errors.json())
            )));
        }
    }
    pb.finish_and_clear();
    Ok(Fleet {
        peers,
        secs: setup_start.elapsed().as_secs_f64(),
        retry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_straddle_two_nodes() {
        for i in 0..100 {
            assert_eq!(pair_node(i, 1), 0, "one node takes everything");
        }
        for n in 2..=5 {
            let mut per_node = vec![0; n];
            for i in 0..(2 * n * 10) {
                let (a, b) = (pair_node(i, n), pair_node(i ^ 1, n));
                assert!(a < n && a != b, "pair of {i} on nodes {a} and {b} of {n}");
                per_node[a] += 1;
            }
            assert!(per_node.iter().all(|&k| k == 20), "{n} nodes: {per_node:?}");
        }
        // Two nodes: 0 on the first, 1 on the second; 2 on the second, 3 on the first.
        let nodes: Vec<usize> = (0..4).map(|i| pair_node(i, 2)).collect();
        assert_eq!(nodes, [0, 1, 1, 0]);
    }
}
