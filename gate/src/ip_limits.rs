//! Per-source-address limits kept in Redis, so that every gateway of a cluster counts
//! against the same budget: codes asked per hour ([`IpLimits::take_code`], a counter per
//! clock hour) and logins per second ([`IpLimits::take_login`], a token bucket refilled
//! at `login_per_ip_per_s` up to `login_burst`, in a Lua script on Redis's clock).
//!
//! A source is its address, an IPv6 one by its /64 (`reactor::source_key`), as the
//! nodes' own limits count it. When Redis is down the limits cannot be checked and the
//! request is refused (`503`): the codes and logins behind them need Redis anyway.
//! May touch: Redis, through the link it is given.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;

use crate::keys::GateKeys;
use chat::cluster::link::Link;

/// The limits' settings.
#[derive(Debug, Clone, Copy)]
pub struct IpLimitSettings {
    /// Codes one source may ask for per clock hour.
    pub codes_per_hour: u32,
    /// Logins one source earns per second.
    pub login_per_s: f64,
    /// Logins one source may make in a burst.
    pub login_burst: u32,
}

/// Why a limit could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Redis did not answer.
    #[error("redis is unavailable")]
    Unavailable,
}

/// KEYS: bucket. ARGV: rate per s, burst. Takes one token if there is one and returns 0,
/// else returns the ms until one is there. The bucket lives on Redis's clock (`TIME`),
/// so gateways with skewed clocks share it fairly.
static TAKE_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1]) or burst
        local at = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
        local wait = 0
        if tokens >= 1 then
            tokens = tokens - 1
        else
            wait = math.ceil((1 - tokens) * 1000 / rate)
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
        redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
        return wait
        ",
    )
});

/// The per-source limits of one cluster.
pub struct IpLimits {
    keys: GateKeys,
    settings: IpLimitSettings,
}

impl IpLimits {
    /// Limits under `keys`, by `settings`.
    pub fn new(keys: GateKeys, settings: IpLimitSettings) -> Self {
        Self { keys, settings }
    }

    /// Counts one code asked for by `ip`: `Ok(None)` if within this hour's budget, else
    /// `Ok(Some(wait))` until the next hour.
    pub fn take_code(&self, link: &Link, ip: IpAddr) -> Result<Option<Duration>, LimitError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let hour = now / 3600;
        let key = self.keys.ip_codes(reactor::source_key(ip), hour);
        let count: u64 = link
            .call("counting codes per address", |conn| {
                let (count,): (u64,) = redis::pipe()
                    .atomic()
                    .cmd("INCR")
                    .arg(&key)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(3600)
                    .ignore()
                    .query(conn)?;
                Ok(count)
            })
            .ok_or(LimitError::Unavailable)?;
        if count <= u64::from(self.settings.codes_per_hour) {
            Ok(None)
        } else {
            Ok(Some(Duration::from_secs((hour + 1) * 3600 - now)))
        }
    }

    /// Takes one login from `ip`'s bucket: `Ok(None)` if there was one, else
    /// `Ok(Some(wait))` until there is.
    pub fn take_login(&self, link: &Link, ip: IpAddr) -> Result<Option<Duration>, LimitError> {
        let key = self.keys.ip_login(reactor::source_key(ip));
        let rate = self.settings.login_per_s.max(0.001);
        let wait: i64 = link
            .call("taking a login token", |conn| {
                TAKE_LOGIN
                    .key(&key)
                    .arg(rate)
                    .arg(self.settings.login_burst.max(1))
                    .invoke(conn)
            })
            .ok_or(LimitError::Unavailable)?;
        Ok((wait > 0).then(|| Duration::from_millis(u64::try_from(wait).unwrap_or(1))))
    }
}
