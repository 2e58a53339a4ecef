//! Connections per source address: the acceptor's count, and the key it counts by.
//!
//! One host must not be able to take every connection the server allows. The acceptor
//! asks [`SourceLimit::admit`] for each accepted socket; the [`SourceTicket`] it gets back
//! travels with the connection to its sub-reactor and gives the place back when the
//! reactor drops the connection. IPv6 addresses count by their /64 prefix (one host
//! usually holds a whole /64), IPv4-mapped IPv6 addresses as the IPv4 address.
//!
//! Bound: one entry per source address with a connection open.
//! May touch: nothing but its own table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

/// The address a limit should count `ip` under: itself for IPv4, its /64 for IPv6.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Open connections per source address, capped.
pub(crate) struct SourceLimit {
    max_per_source: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's place in its source's count; dropping it gives it back.
pub(crate) struct SourceTicket {
    limit: Arc<SourceLimit>,
    key: IpAddr,
}

impl SourceLimit {
    pub(crate) fn new(max_per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_source: max_per_source.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A ticket if `ip`'s source has fewer than the cap open.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<SourceTicket> {
        let key = source_key(ip);
        let mut open = self.open.lock();
        let n = open.entry(key).or_insert(0);
        if *n >= self.max_per_source {
            return None;
        }
        *n += 1;
        Some(SourceTicket {
            limit: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn sources(&self) -> usize {
        self.open.lock().len()
    }
}

impl Drop for SourceTicket {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_source_and_gives_places_back() {
        let limit = SourceLimit::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t1 = limit.admit(a).unwrap();
        let _t2 = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none());
        let _t3 = limit.admit(b).unwrap();
        drop(t1);
        assert!(limit.admit(a).is_some());
        assert_eq!(limit.sources(), 2);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let k = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:bbbb::2"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.7"), k("192.0.2.7"));
        assert_eq!(k("192.0.2.7"), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
