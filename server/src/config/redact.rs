//! Hiding the password of a database or Redis URL, so configuration can be logged and
//! quoted in error messages. A pure string function; touches nothing else.

/// Returns `url` with the password of its user-info part (`scheme://user:PASSWORD@host`)
/// replaced by `***`, for logging. Works for `mysql://` and `redis://` URLs alike
/// (`redis://:PASSWORD@host` becomes `redis://:***@host`).
///
/// A password containing an unencoded `/` makes the URL malformed (the `/` ends the
/// host part); such a URL is still quoted in error messages, so then everything from the
/// first `:` after the scheme to the last `@` is hidden, which may hide more than the
/// password but never less.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = match rest[..authority_end].rfind('@') {
        Some(at) => at,
        None => match rest.rfind('@') {
            Some(at) => at,
            None => return url.to_string(),
        },
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ClusterConfig, Config, StoreConfig};
    use super::*;

    #[test]
    fn mysql_password_is_redacted() {
        assert_eq!(
            redact_url("mysql://u:secret@127.0.0.1:3306/chat"),
            "mysql://u:***@127.0.0.1:3306/chat"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/chat"),
            "mysql://root@127.0.0.1/chat"
        );
        let c = Config {
            store: StoreConfig {
                mysql_url: Some("mysql://u:secret@h/db".into()),
                ..StoreConfig::default()
            },
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn redis_password_is_redacted() {
        assert_eq!(
            redact_url("redis://:secret@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("redis://user:secret@h:6379"),
            "redis://user:***@h:6379"
        );
        assert_eq!(redact_url("redis://h:6379/0"), "redis://h:6379/0");
        assert_eq!(redact_url("rediss://:secret@h"), "rediss://:***@h");
        // Malformed: an unencoded '/' in the password.
        assert_eq!(redact_url("redis://:se/cret@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact_url("mysql://u:se/cret@h/db"), "mysql://u:***@h/db");
        let c = Config {
            cluster: ClusterConfig {
                redis_url: Some("redis://:secret@h:6379/0".into()),
                ..ClusterConfig::default()
            },
            ..Config::default()
        };
        let debug = format!("{c:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("redis://:***@h:6379/0"), "{debug}");
        assert!(debug.contains("heartbeat_ms: 2000"), "{debug}");
    }
}
