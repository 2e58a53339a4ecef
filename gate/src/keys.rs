//! The gateway's own Redis keys, under the cluster's `NAME:` prefix beside the nodes'
//! (`chat::cluster::keys`), so that every gateway of a cluster shares them.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `NAME:code:PURPOSE:EMAIL` | hash, TTL `ttl_s` | the live code's hash and its wrong attempts |
//! | `NAME:code_wait:PURPOSE:EMAIL` | string, TTL `resend_after_s` | no new code for the address yet |
//! | `NAME:ip_codes:IP:HOUR` | counter, TTL 1 h | codes asked from one source address this hour |
//! | `NAME:ip_login:IP` | hash, short TTL | one source address's login token bucket |
//!
//! `EMAIL` is the address's lookup key (ASCII lowercase), `PURPOSE` `register` or
//! `reset_password`, `IP` the source key (an IPv6 address by its /64). May touch:
//! nothing; names only.

use std::net::IpAddr;

/// The gateway's key names in one cluster.
#[derive(Debug, Clone)]
pub struct GateKeys {
    prefix: String,
}

impl GateKeys {
    /// Names under `cluster:`.
    pub fn new(cluster: &str) -> Self {
        Self {
            prefix: cluster.to_string(),
        }
    }

    /// The live code of an address for a purpose.
    pub fn code(&self, purpose: &str, email_key: &str) -> String {
        format!("{}:code:{purpose}:{email_key}", self.prefix)
    }

    /// The resend cool-down of an address for a purpose.
    pub fn code_wait(&self, purpose: &str, email_key: &str) -> String {
        format!("{}:code_wait:{purpose}:{email_key}", self.prefix)
    }

    /// Codes asked from a source address in the hour `hour` (hours since the epoch).
    pub fn ip_codes(&self, ip: IpAddr, hour: u64) -> String {
        format!("{}:ip_codes:{ip}:{hour}", self.prefix)
    }

    /// A source address's login token bucket.
    pub fn ip_login(&self, ip: IpAddr) -> String {
        format!("{}:ip_login:{ip}", self.prefix)
    }
}
