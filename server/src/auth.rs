//! Password hashing (argon2id, PHC strings) and session tokens.
//!
//! * [`PasswordHasher`] hashes with argon2id v0x13, a random 16-byte salt and the configured
//!   [`Argon2Params`]; it verifies against the parameters stored in each PHC string, so
//!   hashes made under older settings keep working after the settings change.
//! * [`PasswordHasher::dummy_verify`] costs what a verification costs: run it for unknown
//!   usernames so that response times do not reveal which usernames exist.
//! * [`new_token`] makes a session token (256 random bits, hex); only [`token_hash`] of it
//!   is ever stored.
//!
//! Hashing is deliberately slow (tens of milliseconds with [`Argon2Params::owasp`]): call it
//! from worker threads, never from a reactor. [`PasswordHasher::admit`] bounds the queue in
//! front of it: a caller that would wait too long is told at once, without hashing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The argon2 parameters are out of range.
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    /// The hash could not be computed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The argon2id cost parameters (the `[auth]` section of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Number of passes over the memory.
    pub iterations: u32,
    /// Lanes (degree of parallelism).
    pub parallelism: u32,
}

impl Argon2Params {
    /// Largest accepted `memory_kib`: 4 GiB.
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    /// Largest accepted `iterations`.
    pub const MAX_ITERATIONS: u32 = 100;
    /// Largest accepted `parallelism`.
    pub const MAX_PARALLELISM: u32 = 64;

    /// The OWASP recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    pub const fn owasp() -> Argon2Params {
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }

    /// `Ok` when every value is in range, else a message naming the bad value.
    ///
    /// Ranges: `parallelism` 1..=64, `iterations` 1..=100, `memory_kib` from
    /// 8 × `parallelism` (argon2's minimum) to 4 GiB.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=Self::MAX_PARALLELISM).contains(&self.parallelism) {
            return Err(format!(
                "argon2 parallelism must be 1..={}, got {}",
                Self::MAX_PARALLELISM,
                self.parallelism
            ));
        }
        if !(1..=Self::MAX_ITERATIONS).contains(&self.iterations) {
            return Err(format!(
                "argon2 iterations must be 1..={}, got {}",
                Self::MAX_ITERATIONS,
                self.iterations
            ));
        }
        let min_memory = 8 * self.parallelism;
        if !(min_memory..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return Err(format!(
                "argon2 memory_kib must be {min_memory}..={} (8 KiB per lane at least), got {}",
                Self::MAX_MEMORY_KIB,
                self.memory_kib
            ));
        }
        Ok(())
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::owasp()
    }
}

/// Hashes and verifies passwords with argon2id (see the module docs).
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Argon2Params,
    /// A hash made with `params` at construction, verified by [`Self::dummy_verify`].
    dummy_phc: String,
    /// At most one hash per core runs at once, each in a reused scratch buffer; shared by
    /// clones.
    gate: Arc<Gate>,
}

/// A counting semaphore for argon2 runs that also lends each run its scratch memory.
///
/// More concurrent hashes than cores only time-slice memory-hard work and thrash the
/// caches: every login would wait longer and logins/s would fall below the machine's raw
/// hash rate. Waiting callers are workers, which may block.
///
/// The scratch buffers (19 MiB each at the default cost) are kept between runs: allocating
/// one per hash costs a page fault per 4 KiB page whenever the allocator hands it out
/// fresh from `mmap`, which the server's pinned mmap threshold (see `main.rs`) makes every
/// time; that measured 26.8 ms per default-cost hash against 15.9 ms with a reused buffer.
/// At most `limit` buffers exist, so the memory held is what `limit` concurrent hashes
/// need anyway.
#[derive(Debug)]
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    limit: usize,
    /// Average time one hash holds a permit (µs, a moving average of recent runs).
    hash_us: AtomicU64,
    /// Blocks a buffer keeps between runs: the hasher's own cost. A verification under a
    /// costlier stored hash grows its buffer for that run only.
    keep_blocks: usize,
}

#[derive(Debug, Default)]
struct GateState {
    running: usize,
    /// Outstanding [`HashSlot`]s: callers admitted and not done (hashing or waiting).
    admitted: usize,
    /// Buffers not lent out; `running + spare.len() <= limit`.
    spare: Vec<Vec<Block>>,
}

/// One running hash and its scratch memory; dropping it returns both.
struct Permit<'a> {
    gate: &'a Gate,
    blocks: Vec<Block>,
    started: Instant,
}

/// A place in the queue for password work, from [`PasswordHasher::admit`]: hold it while
/// hashing (or verifying); dropping it gives the place back.
#[must_use = "the place is given back when the slot is dropped"]
pub struct HashSlot<'a> {
    gate: &'a Gate,
}

impl Drop for HashSlot<'_> {
    fn drop(&mut self) {
        self.gate.state.lock().admitted -= 1;
    }
}

/// Why [`PasswordHasher::admit`] refused: the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashBusy {
    /// When a place is likely to be free.
    pub retry_after: Duration,
}

impl Gate {
    fn new(limit: usize, keep_blocks: usize) -> Self {
        Self {
            state: Mutex::new(GateState::default()),
            freed: Condvar::new(),
            limit: limit.max(1),
            hash_us: AtomicU64::new(0),
            keep_blocks,
        }
    }

    /// The average hash time so far.
    fn hash_time(&self) -> Duration {
        Duration::from_micros(self.hash_us.load(Ordering::Relaxed))
    }

    fn record(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.hash_us.load(Ordering::Relaxed);
        // A moving average over about the last eight runs; the first run sets it.
        let new = if old == 0 { took } else { (old * 7 + took) / 8 };
        self.hash_us.store(new.max(1), Ordering::Relaxed);
    }

    fn enter(&self) -> Permit<'_> {
        let mut state = self.state.lock();
        while state.running >= self.limit {
            self.freed.wait(&mut state);
        }
        state.running += 1;
        let blocks = state.spare.pop().unwrap_or_default();
        Permit {
            gate: self,
            blocks,
            started: Instant::now(),
        }
    }
}

impl Permit<'_> {
    /// Scratch memory of exactly `count` blocks.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.record(self.started.elapsed());
        let mut blocks = std::mem::take(&mut self.blocks);
        if blocks.len() > self.gate.keep_blocks {
            blocks.truncate(self.gate.keep_blocks);
            blocks.shrink_to_fit();
        }
        let mut state = self.gate.state.lock();
        state.running -= 1;
        state.spare.push(blocks);
        drop(state);
        self.gate.freed.notify_one();
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Length of the raw hash in new PHC strings (argon2's default, 32 bytes).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

impl PasswordHasher {
    /// A hasher for `params` (validated). Computes one hash up front, for
    /// [`Self::dummy_verify`], so construction takes as long as one [`Self::hash`].
    pub fn new(params: Argon2Params) -> Result<PasswordHasher, AuthError> {
        params.validate().map_err(AuthError::Params)?;
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|e| AuthError::Params(e.to_string()))?;
        let keep_blocks = argon_params.block_count();
        let mut hasher = PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params),
            params,
            dummy_phc: String::new(),
            gate: Arc::new(Gate::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                keep_blocks,
            )),
        };
        hasher.dummy_phc = hasher.hash("dummy password for timing equalisation")?;
        Ok(hasher)
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// A place in the queue for one hash or verification, if the caller would wait
    /// behind at most `max_wait` of queued hashing and fewer than `max_queued` callers
    /// hold places. Hashes run at most one per core; the wait is estimated from the
    /// average hash time. Refused callers learn when to retry, and cost nothing.
    pub fn admit(&self, max_wait: Duration, max_queued: usize) -> Result<HashSlot<'_>, HashBusy> {
        let gate = &*self.gate;
        let hash = gate.hash_time();
        let mut state = gate.state.lock();
        // Callers ahead that cannot start at once wait for whole rounds of `limit` hashes.
        let ahead = state.admitted;
        let rounds = (ahead + 1).saturating_sub(gate.limit).div_ceil(gate.limit);
        let wait = hash * u32::try_from(rounds).unwrap_or(u32::MAX);
        if ahead >= max_queued.max(1) || wait > max_wait {
            return Err(HashBusy {
                retry_after: wait.max(hash),
            });
        }
        state.admitted += 1;
        Ok(HashSlot { gate })
    }

    /// The argon2id PHC string of `password` with a fresh random 16-byte salt, e.g.
    /// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
    pub fn hash(&self, password: &str) -> Result<String, AuthError> {
        let hash_err = |e: &dyn std::fmt::Display| AuthError::Hash(e.to_string());
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| hash_err(&e))?;
        let mut out = [0u8; OUTPUT_LEN];
        {
            let mut permit = self.gate.enter();
            let blocks = permit.blocks(self.argon2_params().block_count());
            self.argon2
                .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut out, blocks)
                .map_err(|e| hash_err(&e))?;
        }
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon2_params()).map_err(|e| hash_err(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| hash_err(&e))?),
        };
        Ok(phc.to_string())
    }

    fn argon2_params(&self) -> &Params {
        self.argon2.params()
    }

    /// Whether `password` matches the PHC string `phc`. The algorithm, version and costs
    /// are read from `phc`, not from this hasher. A malformed `phc` never matches.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match self.verify_phc(password, phc) {
            Ok(matched) => matched,
            Err(e) => {
                log::warn!("stored password hash cannot be checked: {e}");
                false
            }
        }
    }

    /// [`Self::verify`], with the reason a stored string cannot be checked.
    fn verify_phc(&self, password: &str, phc: &str) -> Result<bool, String> {
        let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| e.to_string())?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        if params.m_cost() > Argon2Params::MAX_MEMORY_KIB {
            return Err(format!(
                "memory cost {} KiB is out of range",
                params.m_cost()
            ));
        }
        let expected = parsed.hash.ok_or("the PHC string has no hash")?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed
            .salt
            .ok_or("the PHC string has no salt")?
            .decode_b64(&mut salt_buf)
            .map_err(|e| e.to_string())?;
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params);
        let mut permit = self.gate.enter();
        let blocks = permit.blocks(argon2.params().block_count());
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
            .map_err(|e| e.to_string())?;
        drop(permit);
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out).map_err(|e| e.to_string())? == expected)
    }

    /// Spends the time of one [`Self::verify`] against a hash made with this hasher's
    /// parameters, and discards the result. Call it when the username is unknown.
    pub fn dummy_verify(&self) {
        let matched = self.verify("not the dummy password", &self.dummy_phc);
        std::hint::black_box(matched);
    }
}

/// A new session token: 32 random bytes from a cryptographically secure generator, as 64
/// lowercase hex characters.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The SHA-256 of `token`'s bytes as 64 lowercase hex characters: what the store keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn hash_then_verify() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let phc = hasher.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse", &phc));
        assert!(!hasher.verify("correct horsE", &phc));
        assert!(!hasher.verify("", &phc));
    }

    #[test]
    fn salts_differ() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let a = hasher.hash("same").unwrap();
        let b = hasher.hash("same").unwrap();
        assert_ne!(a, b);
        assert!(hasher.verify("same", &a) && hasher.verify("same", &b));
        // The salt is 16 bytes: 22 characters of unpadded base64.
        let salt = a.split('$').nth(4).unwrap();
        assert_eq!(salt.len(), 22, "{a}");
    }

    #[test]
    fn verify_uses_params_of_the_phc() {
        let old = PasswordHasher::new(cheap()).unwrap();
        let phc = old.hash("pw-under-old-params").unwrap();
        let new = PasswordHasher::new(Argon2Params {
            memory_kib: 128,
            iterations: 2,
            parallelism: 2,
        })
        .unwrap();
        assert!(new.verify("pw-under-old-params", &phc));
        assert!(new
            .hash("x")
            .unwrap()
            .starts_with("$argon2id$v=19$m=128,t=2,p=2$"));
    }

    #[test]
    fn phc_strings_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(cheap()).unwrap();
        // Ours, checked by the crate's own verifier.
        let ours = hasher.hash("interop").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"interop", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"interoP", &parsed)
            .is_err());
        // The crate's, checked by ours (argon2i and a 24-byte output too).
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        for (alg, out_len) in [(Algorithm::Argon2id, 32), (Algorithm::Argon2i, 24)] {
            let params = Params::new(64, 1, 1, Some(out_len)).unwrap();
            let theirs = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"interop", &salt)
                .unwrap()
                .to_string();
            assert!(hasher.verify("interop", &theirs), "{theirs}");
            assert!(!hasher.verify("interoP", &theirs), "{theirs}");
        }
    }

    #[test]
    fn scratch_buffers_are_reused_and_shrink_back() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let costly = PasswordHasher::new(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
        .hash("big")
        .unwrap();
        assert!(hasher.verify("big", &costly));
        let state = hasher.gate.state.lock();
        assert_eq!(state.running, 0);
        assert!(state.spare.len() <= hasher.gate.limit);
        // Kept at the hasher's own cost (64 KiB = 64 blocks), not the costlier one's.
        assert!(
            state.spare.iter().all(|b| b.len() <= 64),
            "{:?}",
            state.spare.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert!(state.spare.iter().any(|b| b.len() == 64));
    }

    #[test]
    fn absurd_stored_memory_cost_is_refused_without_allocating() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let phc = hasher.hash("x").unwrap().replace("m=64", "m=4294967295");
        assert!(!hasher.verify("x", &phc));
    }

    #[test]
    fn unicode_password() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let phc = hasher.hash("pässwörd 🔑").unwrap();
        assert!(hasher.verify("pässwörd 🔑", &phc));
        assert!(!hasher.verify("passwörd 🔑", &phc));
    }

    #[test]
    fn malformed_phc_never_matches() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        assert!(!hasher.verify("x", ""));
        assert!(!hasher.verify("x", "not a phc"));
        assert!(!hasher.verify("x", "$argon2id$v=19$m=64,t=1,p=1$AAAA$BBBB"));
        hasher.dummy_verify();
    }

    #[test]
    fn params_validation() {
        assert!(Argon2Params::owasp().validate().is_ok());
        assert_eq!(
            Argon2Params::owasp(),
            Argon2Params {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert!(cheap().validate().is_ok());
        let bad = [
            Argon2Params {
                parallelism: 0,
                ..cheap()
            },
            Argon2Params {
                parallelism: 65,
                ..cheap()
            },
            Argon2Params {
                iterations: 0,
                ..cheap()
            },
            Argon2Params {
                iterations: 101,
                ..cheap()
            },
            Argon2Params {
                memory_kib: 7,
                ..cheap()
            },
            Argon2Params {
                memory_kib: 16,
                parallelism: 4,
                ..cheap()
            },
            Argon2Params {
                memory_kib: u32::MAX,
                ..cheap()
            },
        ];
        for p in bad {
            assert!(p.validate().is_err(), "{p:?} should be rejected");
            assert!(matches!(PasswordHasher::new(p), Err(AuthError::Params(_))));
        }
    }

    #[test]
    fn tokens() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, token_hash(&a));
        assert_ne!(h, token_hash(&b));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
