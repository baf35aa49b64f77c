//! Addresses and names as written in the configuration: `listen`,
//! `server_name`, upstream `server` entries and upstream names.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::config::{ServerName, UpstreamServer};

pub(super) fn is_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What is wrong with an address or name as written (`text`).
#[derive(Debug, thiserror::Error)]
pub(super) enum AddrError {
    #[error("empty address")]
    Empty,
    #[error("{0:?} is not host:port (no scheme or path here; e.g. \"127.0.0.1:8080\")")]
    SchemeOrPath(String),
    #[error("{0:?}: missing `]` after IPv6 address")]
    UnclosedBracket(String),
    #[error("{0:?}: unexpected text after `]`")]
    AfterBracket(String),
    #[error("{text:?}: {host:?} is not an IPv6 address")]
    NotIpv6 { text: String, host: String },
    #[error("{0:?}: write IPv6 addresses in brackets, e.g. \"[::1]:8080\"")]
    Ipv6WithoutBrackets(String),
    #[error("{text:?}: invalid port {port:?}")]
    InvalidPort { text: String, port: String },
    #[error("{0:?}: missing host")]
    MissingHost(String),
    #[error("{0:?}: invalid port")]
    InvalidListenPort(String),
    #[error("{0:?} resolves to no address")]
    NoAddress(String),
    #[error(
        "{text:?} is not an address to listen on (e.g. \"0.0.0.0:3443\", \"[::]:3443\", \"3443\"): {source}"
    )]
    NotListenable {
        text: String,
        source: std::io::Error,
    },
    #[error("{0:?}: regular-expression server names are not supported")]
    RegexServerName(String),
    #[error("{0:?} is not a host name")]
    NotHostName(String),
}

/// `host:port`, `[v6]:port` or `host` (default port).
pub(super) fn parse_host_port(text: &str, default_port: u16) -> Result<UpstreamServer, AddrError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AddrError::Empty);
    }
    if text.contains("://") || text.contains('/') {
        return Err(AddrError::SchemeOrPath(text.to_string()));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| AddrError::UnclosedBracket(text.to_string()))?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(AddrError::AfterBracket(text.to_string())),
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(AddrError::NotIpv6 {
                text: text.to_string(),
                host: host.to_string(),
            });
        }
        (host.to_string(), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(AddrError::Ipv6WithoutBrackets(text.to_string()));
            }
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| AddrError::InvalidPort {
                    text: text.to_string(),
                    port: p.to_string(),
                })?
        }
    };
    if host.is_empty() {
        return Err(AddrError::MissingHost(text.to_string()));
    }
    Ok(UpstreamServer {
        host: host.to_ascii_lowercase(),
        port,
    })
}

pub(super) fn parse_listen(text: &str) -> Result<Vec<SocketAddr>, AddrError> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
    }
    if let Some(port) = text.strip_prefix("*:") {
        let port: u16 = port
            .parse()
            .map_err(|_| AddrError::InvalidListenPort(text.to_string()))?;
        return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    match text.to_socket_addrs() {
        Ok(addrs) => {
            let mut addrs: Vec<_> = addrs.collect();
            addrs.dedup();
            if addrs.is_empty() {
                Err(AddrError::NoAddress(text.to_string()))
            } else {
                Ok(addrs)
            }
        }
        Err(source) => Err(AddrError::NotListenable {
            text: text.to_string(),
            source,
        }),
    }
}

pub(super) fn parse_server_name(text: &str) -> Result<Option<ServerName>, AddrError> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name == "_" {
        // nginx's catch-all spellings: they match nothing by name.
        return Ok(None);
    }
    if name.starts_with('~') {
        return Err(AddrError::RegexServerName(text.to_string()));
    }
    let (kind, body): (fn(String) -> ServerName, &str) = if let Some(rest) = name.strip_prefix("*.")
    {
        (|s| ServerName::WildcardPrefix(format!(".{s}")), rest)
    } else if let Some(rest) = name.strip_prefix('.') {
        (ServerName::DomainAndSubdomains, rest)
    } else {
        (ServerName::Exact, name.as_str())
    };
    let valid = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']'));
    if !valid {
        return Err(AddrError::NotHostName(text.to_string()));
    }
    Ok(Some(kind(body.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("127.0.0.1:8080", 80).unwrap(),
            UpstreamServer {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(parse_host_port("backend.local", 80).unwrap().port, 80);
        assert_eq!(parse_host_port("[::1]:9000", 80).unwrap().host, "::1");
        assert!(
            parse_host_port("::1:9000", 80)
                .unwrap_err()
                .to_string()
                .contains("brackets")
        );
        assert!(parse_host_port("h:0", 80).is_err());
        assert!(parse_host_port("http://h:1", 80).is_err());
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("3443").unwrap(),
            vec!["0.0.0.0:3443".parse().unwrap()]
        );
        assert_eq!(
            parse_listen("*:3443").unwrap(),
            vec!["0.0.0.0:3443".parse().unwrap()]
        );
        assert_eq!(
            parse_listen("[::]:3443").unwrap(),
            vec!["[::]:3443".parse().unwrap()]
        );
        assert!(parse_listen("nonsense").is_err());
    }

    #[test]
    fn server_name_kinds() {
        assert_eq!(
            parse_server_name("Local.Trusted.com.").unwrap(),
            Some(ServerName::Exact("local.trusted.com".into()))
        );
        let wild = parse_server_name("*.example.com").unwrap().unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("aexample.com"));
        let dom = parse_server_name(".example.com").unwrap().unwrap();
        assert!(dom.matches("example.com"));
        assert!(dom.matches("x.y.example.com"));
        assert!(!dom.matches("badexample.com"));
        assert_eq!(parse_server_name("_").unwrap(), None);
        assert!(parse_server_name("~^re$").is_err());
    }
}
