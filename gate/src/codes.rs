//! Verification codes: six digits mailed to an address, kept in Redis as a hash with a
//! TTL and a count of wrong attempts, both changed only by Lua scripts (atomic, so two
//! gateways checking one code at once cannot both use it, nor both miss an attempt).
//!
//! * [`Codes::issue`]: a fresh code replaces the address's previous one, unless one was
//!   issued less than `resend_after` ago (then the caller answers 429 with the wait).
//! * [`Codes::consume`]: the right code, while live and with fewer than `max_attempts`
//!   wrong tries, is deleted and accepted; a wrong one counts an attempt. Wrong, expired,
//!   used and dead codes all read as [`Check::Invalid`].
//!
//! A code is stored as the SHA-256 of `PURPOSE:EMAIL:CODE`, never in the clear: a reader
//! of Redis learns which addresses have a code, not the code (six digits are no secret
//! against a brute force of the hash: the attempt limit is what protects a code; the
//! hash keeps it out of dumps and logs). May touch: Redis, through the link it is given.

use std::sync::LazyLock;
use std::time::Duration;

use rand::Rng;
use redis::Script;
use sha2::{Digest, Sha256};

use crate::keys::GateKeys;
use chat::cluster::link::Link;

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Registering an account with the address.
    Register,
    /// Setting a new password for the address's account.
    ResetPassword,
}

impl Purpose {
    /// The contract's name (`register`, `reset_password`).
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::ResetPassword => "reset_password",
        }
    }

    /// The purpose named `name`, if any.
    pub fn from_name(name: &str) -> Option<Purpose> {
        match name {
            "register" => Some(Purpose::Register),
            "reset_password" => Some(Purpose::ResetPassword),
            _ => None,
        }
    }
}

/// The code settings (`[codes]`).
#[derive(Debug, Clone, Copy)]
pub struct CodeSettings {
    /// How long a code is valid.
    pub ttl: Duration,
    /// How long after a code no new one is issued for the same address and purpose.
    pub resend_after: Duration,
    /// Wrong tries after which a code is dead.
    pub max_attempts: u32,
}

/// The outcome of [`Codes::issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// A new code (to be mailed), valid for the configured TTL.
    Fresh(String),
    /// Too soon after the previous one: a new code may be asked for after this long.
    TooSoon(Duration),
}

/// The outcome of [`Codes::consume`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The right code: it is used up now.
    Accepted,
    /// Wrong, expired, used or dead.
    Invalid,
}

/// KEYS: code, wait. ARGV: hash, ttl ms, resend ms. Returns {1, 0} and replaces the code
/// (attempts 0, TTL) unless the wait key is there: then {0, its remaining ms}.
static ISSUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local wait = redis.call('PTTL', KEYS[2])
        if wait > 0 then return {0, wait} end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'attempts', 0)
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
        return {1, 0}
        ",
    )
});

/// KEYS: code. ARGV: hash, max attempts. Returns 1 and deletes the code if the hash is
/// its hash and it has fewer than max wrong attempts; else counts a wrong attempt (on a
/// live code) and returns 0.
static CONSUME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local stored = redis.call('HMGET', KEYS[1], 'hash', 'attempts')
        if not stored[1] then return 0 end
        if tonumber(stored[2]) >= tonumber(ARGV[2]) then return 0 end
        if stored[1] == ARGV[1] then
            redis.call('DEL', KEYS[1])
            return 1
        end
        redis.call('HINCRBY', KEYS[1], 'attempts', 1)
        return 0
        ",
    )
});

/// Why a code operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Redis did not answer (or failed just before).
    #[error("redis is unavailable")]
    Unavailable,
}

/// Verification codes in one cluster's Redis.
pub struct Codes {
    keys: GateKeys,
    settings: CodeSettings,
}

/// Six random digits from the operating system's generator (through `rand`'s
/// cryptographically secure thread generator).
pub fn new_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// The stored form of a code.
fn code_hash(purpose: Purpose, email_key: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{}:{email_key}:{code}", purpose.name()).as_bytes());
    hex::encode(digest)
}

impl Codes {
    /// Codes under `keys`, by `settings`.
    pub fn new(keys: GateKeys, settings: CodeSettings) -> Self {
        Self { keys, settings }
    }

    /// The settings.
    pub fn settings(&self) -> CodeSettings {
        self.settings
    }

    /// The code key and the resend-wait key of an address for a purpose.
    fn keys_of(&self, purpose: Purpose, email_key: &str) -> [String; 2] {
        [
            self.keys.code(purpose.name(), email_key),
            self.keys.code_wait(purpose.name(), email_key),
        ]
    }

    /// Issues a code for `email_key` and `purpose` (see the module docs).
    pub fn issue(
        &self,
        link: &Link,
        purpose: Purpose,
        email_key: &str,
    ) -> Result<Issued, CodeError> {
        let code = new_code();
        let hash = code_hash(purpose, email_key, &code);
        let ttl = millis(self.settings.ttl);
        let resend = millis(self.settings.resend_after).max(1);
        let keys = self.keys_of(purpose, email_key);
        let (issued, wait): (i64, i64) = link
            .call("issuing a code", |conn| {
                ISSUE
                    .key(&keys[0])
                    .key(&keys[1])
                    .arg(&hash)
                    .arg(ttl)
                    .arg(resend)
                    .invoke(conn)
            })
            .ok_or(CodeError::Unavailable)?;
        if issued == 1 {
            Ok(Issued::Fresh(code))
        } else {
            Ok(Issued::TooSoon(Duration::from_millis(
                u64::try_from(wait).unwrap_or(1),
            )))
        }
    }

    /// Takes back a code just issued whose mail could not be queued: the code and the
    /// resend wait go, so the address may ask again at once. Best effort.
    pub fn withdraw(&self, link: &Link, purpose: Purpose, email_key: &str) {
        let keys = self.keys_of(purpose, email_key);
        let _ = link.call("withdrawing a code", |conn| {
            redis::cmd("DEL")
                .arg(&keys[0])
                .arg(&keys[1])
                .query::<()>(conn)
        });
    }

    /// Checks `code` for `email_key` and `purpose`, using it up if right (see the
    /// module docs).
    pub fn consume(
        &self,
        link: &Link,
        purpose: Purpose,
        email_key: &str,
        code: &str,
    ) -> Result<Check, CodeError> {
        let key = self.keys.code(purpose.name(), email_key);
        let hash = code_hash(purpose, email_key, code);
        let accepted: i64 = link
            .call("checking a code", |conn| {
                CONSUME
                    .key(&key)
                    .arg(&hash)
                    .arg(self.settings.max_attempts)
                    .invoke(conn)
            })
            .ok_or(CodeError::Unavailable)?;
        Ok(if accepted == 1 {
            Check::Accepted
        } else {
            Check::Invalid
        })
    }
}

/// A duration in whole milliseconds, for Redis.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn hashes_bind_purpose_address_and_code() {
        let a = code_hash(Purpose::Register, "a@x", "123456");
        assert_eq!(a.len(), 64);
        assert_ne!(a, code_hash(Purpose::ResetPassword, "a@x", "123456"));
        assert_ne!(a, code_hash(Purpose::Register, "b@x", "123456"));
        assert_ne!(a, code_hash(Purpose::Register, "a@x", "123457"));
        assert_eq!(
            Purpose::from_name("reset_password"),
            Some(Purpose::ResetPassword)
        );
        assert_eq!(Purpose::from_name("other"), None);
    }
}
