//! Checks across server blocks: names that collide on one address, and
//! upstreams shared by servers that do and do not set identity headers.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::Ctx;
use crate::config::{Action, Server, UpstreamServer};

/// The same server name twice on one listen address makes the second block
/// unreachable; nginx warns and ignores it, we refuse.
pub(super) fn check_name_conflicts(servers: &[Server], ctx: &mut Ctx<'_>) {
    let mut seen: HashMap<(SocketAddr, String), &str> = HashMap::new();
    for server in servers {
        for addr in &server.listen {
            for name in &server.names {
                let k = (*addr, name.as_written());
                if let Some(first) = seen.get(&k) {
                    if *first != server.label {
                        ctx.error(
                            format!("{}.server_name", server.label),
                            format!("{} on {addr} is already used by {first}", k.1),
                        );
                    }
                } else {
                    seen.insert(k, &server.label);
                }
            }
        }
    }
}

/// `proxy_protocol` belongs to a listen address: the header is read
/// before TLS says which server a connection is for, so servers sharing an
/// address must agree (nginx: `listen` options of one address must match).
/// `set_real_ip_from` without `proxy_protocol` trusts nothing: a mistake.
pub(super) fn check_proxy_protocol(servers: &[Server], ctx: &mut Ctx<'_>) {
    let mut seen: HashMap<SocketAddr, (&str, bool)> = HashMap::new();
    for server in servers {
        for addr in &server.listen {
            match seen.get(addr) {
                Some((first, pp)) if *pp != server.proxy_protocol => ctx.error(
                    format!("{}.proxy_protocol", server.label),
                    format!(
                        "{addr} is shared with {first}, which has proxy_protocol = {pp}: servers on one address must agree"
                    ),
                ),
                Some(_) => {}
                None => {
                    seen.insert(*addr, (&server.label, server.proxy_protocol));
                }
            }
        }
        if !server.proxy_protocol && !server.set_real_ip_from.is_empty() {
            ctx.error(
                format!("{}.set_real_ip_from", server.label),
                "set without proxy_protocol = true: no PROXY header is read on this server's addresses",
            );
        }
    }
}

/// Whether any location of `server` sets a header from an `$ssl_client_*`
/// variable.
pub(super) fn sets_identity(server: &Server) -> bool {
    crate::headers::identity_header_names(server)
        .next()
        .is_some()
}

/// The upstream servers `server` proxies to.
pub(super) fn upstream_servers(server: &Server) -> impl Iterator<Item = &UpstreamServer> {
    server.locations.iter().flat_map(|l| match &l.action {
        Action::Proxy(spec) => spec.servers.as_slice(),
        Action::Return(_) => &[],
    })
}

/// Two servers proxying to one backend where only one sets identity headers:
/// the gateway strips those headers from both servers' clients (so nothing
/// can be planted), but the backend cannot tell a request that came through
/// the unverified server from one with no certificate unless that server
/// says so too. A warning, not an error: the seed's "regular access on 443"
/// layout is legitimate.
pub(super) fn warn_shared_upstreams(servers: &[Server]) {
    for with in servers.iter().filter(|s| sets_identity(s)) {
        for without in servers.iter().filter(|s| !sets_identity(s)) {
            if let Some(shared) =
                upstream_servers(with).find(|u| upstream_servers(without).any(|v| v == *u))
            {
                tracing::warn!(
                    "{} and {} both proxy to {shared}, but only {} sets identity headers; \
                     the gateway strips those headers from {}'s clients too, so nothing can be planted, \
                     but consider `X-SSL-Client-Verify = \"$ssl_client_verify\"` in {} so the backend \
                     always sees an explicit verdict (NONE there)",
                    with.label,
                    without.label,
                    with.label,
                    without.label,
                    without.label
                );
            }
        }
    }
}
