//! A cache of friend lists, so that `send_message` and presence do not query the store
//! for every message.
//!
//! Lists are loaded from the store on first use. Any change to a user's friendships
//! (accept, delete) removes that user's entry and bumps a global epoch; a load that
//! overlapped any invalidation is used once but not cached, so a stale list can never
//! be installed. Bounded: at `capacity` entries the cache is emptied and refills on
//! demand.
//!
//! In a cluster, a friendship may change on another node: that node broadcasts the
//! change (`cluster::bus::BusItem::FriendsChanged`) and every node invalidates. Since
//! the bus may lose a publication, entries there also expire after `max_age`, which
//! bounds how long a lost invalidation can leave a list stale.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::model::UserId;
use crate::store::{Store, StoreResult};

#[derive(Default)]
struct Inner {
    lists: HashMap<UserId, (Arc<HashSet<UserId>>, Instant)>,
    epoch: u64,
}

/// Friend lists by user.
pub struct FriendCache {
    inner: Mutex<Inner>,
    capacity: usize,
    max_age: Option<Duration>,
}

impl FriendCache {
    /// A cache holding at most `capacity` users' lists, each for at most `max_age`
    /// (`None`: until invalidated).
    pub fn new(capacity: usize, max_age: Option<Duration>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            max_age,
        }
    }

    /// The user's friends, from the cache or the store.
    pub fn friends_of(&self, store: &dyn Store, user: UserId) -> StoreResult<Arc<HashSet<UserId>>> {
        let epoch = {
            let inner = self.inner.lock();
            if let Some((list, loaded)) = inner.lists.get(&user) {
                if self.max_age.is_none_or(|age| loaded.elapsed() < age) {
                    return Ok(Arc::clone(list));
                }
            }
            inner.epoch
        };
        let list: Arc<HashSet<UserId>> = Arc::new(store.friend_ids(user)?.into_iter().collect());
        let mut inner = self.inner.lock();
        if inner.epoch == epoch {
            if inner.lists.len() >= self.capacity {
                inner.lists.clear();
            }
            inner
                .lists
                .insert(user, (Arc::clone(&list), Instant::now()));
        }
        Ok(list)
    }

    /// The user's friends if the list is cached and fresh; never reads the store
    /// (`None`: ask [`FriendCache::friends_of`]).
    pub fn cached(&self, user: UserId) -> Option<Arc<HashSet<UserId>>> {
        let inner = self.inner.lock();
        let (list, loaded) = inner.lists.get(&user)?;
        self.max_age
            .is_none_or(|age| loaded.elapsed() < age)
            .then(|| Arc::clone(list))
    }

    /// Whether `a` and `b` are friends.
    pub fn are_friends(&self, store: &dyn Store, a: UserId, b: UserId) -> StoreResult<bool> {
        Ok(self.friends_of(store, a)?.contains(&b))
    }

    /// Forgets the lists of users whose friendships changed.
    pub fn invalidate(&self, users: &[UserId]) {
        let mut inner = self.inner.lock();
        inner.epoch += 1;
        for user in users {
            inner.lists.remove(user);
        }
    }
}
