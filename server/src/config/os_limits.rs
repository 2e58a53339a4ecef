//! The process's file-descriptor limit: raising the soft `RLIMIT_NOFILE` to the hard
//! limit at start-up ([`raise_fd_limit`]) and reporting both as an [`FdLimit`].
//!
//! Touches only the process's resource limits (through `rlimit`) and the log; the
//! connection cap derived from the limit is `Config::resolved_max_connections`.

#[cfg(doc)]
use super::Config;

/// The process's `RLIMIT_NOFILE`, as returned by [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit: how many descriptors the process may have open.
    pub soft: u64,
    /// The hard limit: the ceiling the soft limit can be raised to without privileges.
    pub hard: u64,
}

/// Soft limit assumed when the limit cannot even be read.
const FALLBACK_FD_LIMIT: u64 = 1024;
/// Linux's default `fs.nr_open`, tried when the hard limit is "unlimited".
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limits now in force.
///
/// Never panics: if raising fails, the current values are returned (and a warning is logged);
/// if they cannot even be read, `{ soft: 1024, hard: 1024 }` is assumed. When the hard limit
/// is "unlimited" (which Linux refuses as a soft value), 2^20 (Linux's default `nr_open`) is
/// tried instead. Call it early in `main`, before sockets are opened, and pass the result to
/// [`Config::resolved_max_connections`].
pub fn raise_fd_limit() -> FdLimit {
    use rlimit::Resource;

    let (soft, hard) = match Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            log::warn!("cannot read RLIMIT_NOFILE ({e}); assuming {FALLBACK_FD_LIMIT}");
            return FdLimit {
                soft: FALLBACK_FD_LIMIT,
                hard: FALLBACK_FD_LIMIT,
            };
        }
    };
    if soft < hard {
        let raised = Resource::NOFILE.set(hard, hard).or_else(|first| {
            if hard > NR_OPEN_DEFAULT && soft < NR_OPEN_DEFAULT {
                Resource::NOFILE.set(NR_OPEN_DEFAULT, hard)
            } else {
                Err(first)
            }
        });
        if let Err(e) = raised {
            log::warn!("cannot raise RLIMIT_NOFILE from {soft} to {hard}: {e}");
        }
    }
    match Resource::NOFILE.get() {
        Ok((soft, hard)) => FdLimit { soft, hard },
        Err(_) => FdLimit { soft, hard },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_fd_limit_reaches_hard_limit() {
        let fd = raise_fd_limit();
        assert!(fd.soft >= 1 && fd.soft <= fd.hard, "{fd:?}");
        let again = raise_fd_limit();
        assert_eq!(fd, again, "idempotent");
    }
}
