//! Hiding the password of a database URL, so configuration can be logged and quoted in
//! error messages. A pure string function; touches nothing else.

/// Returns `url` with the password of its user-info part (`scheme://user:PASSWORD@host`)
/// replaced by `***`, for logging.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
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
    use super::super::{Config, StoreConfig};
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
}
