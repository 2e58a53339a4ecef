//! [`WsConfig`]: where the WebSocket endpoint is, which pages may open it, and how large
//! a message may be.

/// The WebSocket endpoint of an HTTP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// The request path that upgrades (`/ws`); every other path is plain HTTP.
    pub path: String,
    /// The largest message, in bytes of payload, whether in one frame or in fragments.
    /// Over it the connection is closed with status 1009.
    pub max_message: usize,
    /// Which browser pages may open a connection (see [`Origins`]).
    pub origins: Origins,
}

/// The `Origin` allow-list. A request without an `Origin` header is not from a browser
/// page (a browser always sends one on a WebSocket handshake) and is accepted: the list
/// protects users' browsers from other sites, it does not authenticate clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origins {
    /// Pages served by the same host as the endpoint: the origin's host name equals the
    /// request's `Host` name, whatever the ports (a gateway and a node on one machine).
    #[default]
    SameHost,
    /// Exactly these origins (`scheme://host[:port]`, compared without regard to case).
    List(Vec<String>),
}

impl Origins {
    /// Whether a handshake with `origin` (the header's value, if any) to `host` (the
    /// `Host` header's value) is allowed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            Origins::SameHost => match (origin_host(origin), host) {
                (Some(o), Some(h)) => o.eq_ignore_ascii_case(host_name(h)),
                _ => false,
            },
            Origins::List(list) => list
                .iter()
                .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin)),
        }
    }
}

/// The host name of an origin `scheme://host[:port]`; `None` for `null` or garbage.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    let name = host_name(rest);
    (!name.is_empty()).then_some(name)
}

/// `host[:port]` without the port; an IPv6 literal keeps its brackets.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(name, _)| &host[..=name.len()]);
    }
    host.split_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_ignores_ports_and_case() {
        let o = Origins::SameHost;
        assert!(o.allows(None, None));
        assert!(o.allows(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8181")));
        assert!(o.allows(Some("https://Chat.Example.com"), Some("chat.example.com")));
        assert!(o.allows(Some("http://[::1]:8080"), Some("[::1]:8181")));
        assert!(!o.allows(Some("http://evil.example"), Some("chat.example.com")));
        assert!(!o.allows(Some("null"), Some("chat.example.com")));
        assert!(!o.allows(Some("http://127.0.0.1:1"), None));
        assert!(!o.allows(Some("http://[::1]"), Some("[::2]:1")));
    }

    #[test]
    fn list_is_exact() {
        let o = Origins::List(vec!["http://gw.example:8080/".into()]);
        assert!(o.allows(Some("http://GW.example:8080"), Some("node:8181")));
        assert!(!o.allows(Some("http://gw.example"), Some("gw.example")));
        assert!(o.allows(None, None));
    }
}
