//! PROXY protocol v1 and v2, received (nginx's `listen ... proxy_protocol`
//! with `set_real_ip_from` and `real_ip_header proxy_protocol`).
//!
//! An L4 load balancer in front of the gateway opens each connection with
//! a header naming the client it relays: v1, one text line
//! (`PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`), or v2, a binary
//! block after a 12-byte signature (haproxy's `doc/proxy-protocol.txt`). On
//! a listener with `proxy_protocol = true` every connection must start with
//! one, within the handshake timeout; the TLS handshake follows it.
//!
//! What a peer sends here is hostile until proven otherwise:
//! - reads are bounded: a v1 line is at most [`V1_MAX`] bytes, a v2 block
//!   at most [`V2_MAX`]; the header is read exactly, never a byte of the
//!   TLS stream behind it;
//! - anything else (wrong signature, a truncated or oversized header, a v1
//!   line that is not exactly the grammar, a v2 LOCAL command, an unknown
//!   version, command or transport) closes the connection, with a log line
//!   and `mtls_gateway_proxy_protocol_errors_total{reason}`;
//! - the header's addresses replace `$remote_addr` only when the peer that
//!   sent it is in `set_real_ip_from` ([`remote_addr`]): anyone else could
//!   claim any address.
//!
//! `TCP4`/`TCP6` (v2: `AF_INET`/`AF_INET6` over `STREAM`) give addresses;
//! `UNKNOWN` (v2: `AF_UNSPEC`, or `AF_UNIX`) is accepted without: the
//! connection keeps the peer's address and `$proxy_protocol_addr` is empty.
//! v2 TLVs are skipped unread (they are inside the bounded block).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::metrics::{Metrics, ProxyProtocolLabels};

/// The longest v1 line, CRLF included (the specification's bound:
/// `PROXY TCP6` with two full-length IPv6 addresses and ports).
pub const V1_MAX: usize = 107;
/// The longest v2 header accepted, the 16-byte fixed part included (nginx's
/// `NGX_PROXY_PROTOCOL_MAX_HEADER`). The address block is at most 216 bytes
/// (AF_UNIX); the rest is TLVs, of which load balancers send a few hundred
/// bytes at most (AWS's VPC endpoint ID, Azure's link ID, haproxy's SSL
/// fields). A larger length field is a hostile or broken sender, refused
/// before a byte of it is read.
pub const V2_MAX: usize = 4096;
/// The v2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// What a v1 line starts with.
const V1_PREFIX: &[u8] = b"PROXY ";

/// What a PROXY header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client the balancer relays (`$proxy_protocol_addr`,
    /// `$proxy_protocol_port`); `None` for `UNKNOWN`/`AF_UNSPEC`/`AF_UNIX`.
    pub source: Option<SocketAddr>,
    /// The address the client connected to.
    pub destination: Option<SocketAddr>,
}

impl ProxyHeader {
    const UNKNOWN: ProxyHeader = ProxyHeader {
        source: None,
        destination: None,
    };
}

/// Why a connection's PROXY header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("no PROXY header within the handshake timeout")]
    Timeout,
    #[error("connection closed inside the PROXY header")]
    Truncated,
    #[error("not a PROXY protocol header (wrong signature)")]
    Signature,
    #[error("PROXY header longer than allowed")]
    Oversized,
    #[error("malformed PROXY header")]
    Malformed,
    #[error("PROXY v2 LOCAL command (no client to relay) on a proxy_protocol listener")]
    Local,
    #[error("read error inside the PROXY header")]
    Io,
}

impl ProxyError {
    /// The `reason` label of `proxy_protocol_errors_total`.
    pub fn reason(self) -> &'static str {
        match self {
            ProxyError::Timeout => "timeout",
            ProxyError::Truncated => "truncated",
            ProxyError::Signature => "signature",
            ProxyError::Oversized => "oversized",
            ProxyError::Malformed => "malformed",
            ProxyError::Local => "local",
            ProxyError::Io => "io",
        }
    }
}

/// The connection path's hook: on a `proxy_protocol` listener, reads the
/// header of the connection from `peer` before `deadline`. `Ok(None)` on
/// other listeners; `Err(())` when the connection must be closed (logged and
/// counted here).
pub async fn receive(
    tcp: &mut TcpStream,
    enabled: bool,
    peer: SocketAddr,
    deadline: Instant,
    metrics: &Metrics,
) -> Result<Option<ProxyHeader>, ()> {
    if !enabled {
        return Ok(None);
    }
    let result = match tokio::time::timeout_at(deadline, read_header(tcp)).await {
        Ok(result) => result,
        Err(_) => Err(ProxyError::Timeout),
    };
    match result {
        Ok(header) => Ok(Some(header)),
        Err(e) => {
            tracing::info!(client = %peer, reason = e.reason(), "{e}; connection closed");
            metrics
                .proxy_protocol_errors
                .get_or_create(&ProxyProtocolLabels { reason: e.reason() })
                .inc();
            Err(())
        }
    }
}

/// `$remote_addr`/`$remote_port` of a connection from `peer`: the header's
/// source when the peer is a trusted sender (`set_real_ip_from`), else the
/// peer itself.
pub fn remote_addr(
    peer: SocketAddr,
    header: Option<&ProxyHeader>,
    trusted: &[IpNet],
) -> SocketAddr {
    match header.and_then(|h| h.source) {
        Some(source) if trusted.iter().any(|net| net.contains(peer.ip())) => source,
        _ => peer,
    }
}

/// Reads exactly one PROXY header (v1 or v2) from `tcp`.
async fn read_header(tcp: &mut TcpStream) -> Result<ProxyHeader, ProxyError> {
    // 8 bytes tell the versions apart and are in every header (the
    // shortest v1 line, `PROXY UNKNOWN\r\n`, has 15).
    let mut start = [0u8; 8];
    read_exact(tcp, &mut start).await?;
    if start.starts_with(V1_PREFIX) {
        let mut line = Vec::with_capacity(V1_MAX);
        line.extend_from_slice(&start);
        read_v1_rest(tcp, &mut line).await?;
        return parse_v1(&line);
    }
    if start[..] != V2_SIGNATURE[..8] {
        return Err(ProxyError::Signature);
    }
    let mut fixed = [0u8; 16];
    fixed[..8].copy_from_slice(&start);
    read_exact(tcp, &mut fixed[8..]).await?;
    let len = v2_length(&fixed)?;
    let mut body = vec![0u8; len];
    read_exact(tcp, &mut body).await?;
    parse_v2(&fixed, &body)
}

/// Reads the rest of a v1 line (up to and including CRLF) into `line`,
/// never past the CRLF and never beyond [`V1_MAX`] bytes in all.
async fn read_v1_rest(tcp: &mut TcpStream, line: &mut Vec<u8>) -> Result<(), ProxyError> {
    if line.ends_with(b"\r\n") {
        return Ok(());
    }
    // Usually the whole line is already here: peek it and read exactly
    // that much in one call.
    let mut peeked = [0u8; V1_MAX];
    let room = V1_MAX - line.len();
    let n = tcp
        .peek(&mut peeked[..room])
        .await
        .map_err(|_| ProxyError::Io)?;
    if n == 0 {
        return Err(ProxyError::Truncated);
    }
    let mut joined = line.clone();
    joined.extend_from_slice(&peeked[..n]);
    if let Some(end) = find_crlf(&joined) {
        let mut rest = vec![0u8; (end + 2).saturating_sub(line.len())];
        read_exact(tcp, &mut rest).await?;
        line.extend_from_slice(&rest);
        return Ok(());
    }
    // The line arrives in pieces: byte by byte up to the bound (a peek
    // would return the same bytes again at once).
    while line.len() < V1_MAX {
        let mut byte = [0u8; 1];
        read_exact(tcp, &mut byte).await?;
        line.push(byte[0]);
        if line.ends_with(b"\r\n") {
            return Ok(());
        }
    }
    Err(ProxyError::Oversized)
}

async fn read_exact(tcp: &mut TcpStream, buf: &mut [u8]) -> Result<(), ProxyError> {
    match tcp.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProxyError::Truncated),
        Err(_) => Err(ProxyError::Io),
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// Parses one v1 line, CRLF included:
/// `PROXY (TCP4|TCP6) <src> <dst> <sport> <dport>\r\n` or
/// `PROXY UNKNOWN<anything>\r\n`.
///
/// # Errors
/// [`ProxyError::Oversized`] beyond [`V1_MAX`], [`ProxyError::Malformed`]
/// for anything but the exact grammar.
pub fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if line.len() > V1_MAX {
        return Err(ProxyError::Oversized);
    }
    let body = line
        .strip_prefix(V1_PREFIX)
        .and_then(|l| l.strip_suffix(b"\r\n"))
        .ok_or(ProxyError::Malformed)?;
    if body.starts_with(b"UNKNOWN") {
        // The specification: whatever follows UNKNOWN is ignored.
        return Ok(ProxyHeader::UNKNOWN);
    }
    let text = std::str::from_utf8(body).map_err(|_| ProxyError::Malformed)?;
    let mut fields = text.split(' ');
    let (Some(proto), Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ProxyError::Malformed);
    };
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            IpAddr::V4(src.parse::<Ipv4Addr>().map_err(|_| ProxyError::Malformed)?),
            IpAddr::V4(dst.parse::<Ipv4Addr>().map_err(|_| ProxyError::Malformed)?),
        ),
        "TCP6" => (
            IpAddr::V6(src.parse::<Ipv6Addr>().map_err(|_| ProxyError::Malformed)?),
            IpAddr::V6(dst.parse::<Ipv6Addr>().map_err(|_| ProxyError::Malformed)?),
        ),
        _ => return Err(ProxyError::Malformed),
    };
    Ok(ProxyHeader {
        source: Some(SocketAddr::new(src, v1_port(sport)?)),
        destination: Some(SocketAddr::new(dst, v1_port(dport)?)),
    })
}

/// A v1 port: 1 to 5 decimal digits, at most 65535 (no sign, no spaces).
fn v1_port(text: &str) -> Result<u16, ProxyError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::Malformed);
    }
    text.parse().map_err(|_| ProxyError::Malformed)
}

/// The length of the v2 block after the 16-byte fixed part, checked
/// against [`V2_MAX`] before anything is read.
fn v2_length(fixed: &[u8; 16]) -> Result<usize, ProxyError> {
    if fixed[..12] != V2_SIGNATURE {
        return Err(ProxyError::Signature);
    }
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if 16 + len > V2_MAX {
        return Err(ProxyError::Oversized);
    }
    Ok(len)
}

/// Parses a v2 header: the 16-byte fixed part and the `len` bytes after it.
///
/// # Errors
/// [`ProxyError::Signature`], [`ProxyError::Oversized`],
/// [`ProxyError::Local`], or [`ProxyError::Malformed`] (unknown version,
/// command, family or transport; an address block shorter than its family
/// needs).
pub fn parse_v2(fixed: &[u8; 16], body: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let len = v2_length(fixed)?;
    if body.len() != len {
        return Err(ProxyError::Malformed);
    }
    let version_command = fixed[12];
    if version_command >> 4 != 2 {
        return Err(ProxyError::Malformed);
    }
    match version_command & 0x0f {
        0 => return Err(ProxyError::Local),
        1 => {}
        _ => return Err(ProxyError::Malformed),
    }
    let family = fixed[13] >> 4;
    let transport = fixed[13] & 0x0f;
    match (family, transport) {
        // AF_UNSPEC: addresses unknown (the block, if any, is skipped).
        (0, 0) => Ok(ProxyHeader::UNKNOWN),
        // AF_INET, STREAM: 4 + 4 + 2 + 2 bytes, then TLVs.
        (1, 1) => {
            let a = body.get(..12).ok_or(ProxyError::Malformed)?;
            let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(a[at], a[at + 1], a[at + 2], a[at + 3]));
            let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
            Ok(ProxyHeader {
                source: Some(SocketAddr::new(ip(0), port(8))),
                destination: Some(SocketAddr::new(ip(4), port(10))),
            })
        }
        // AF_INET6, STREAM: 16 + 16 + 2 + 2 bytes, then TLVs.
        (2, 1) => {
            let a = body.get(..36).ok_or(ProxyError::Malformed)?;
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
            Ok(ProxyHeader {
                source: Some(SocketAddr::new(ip(0), port(32))),
                destination: Some(SocketAddr::new(ip(16), port(34))),
            })
        }
        // AF_UNIX, STREAM: two 108-byte paths; no IP address to use.
        (3, 1) if body.len() >= 216 => Ok(ProxyHeader::UNKNOWN),
        _ => Err(ProxyError::Malformed),
    }
}

/// An address range of `set_real_ip_from` (`10.0.0.0/8`, `::1/128`, or a
/// single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A `set_real_ip_from` entry that is not an address or CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR range (e.g. \"10.0.0.0/8\", \"::1\")")]
pub struct IpNetError(pub String);

impl std::str::FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(text: &str) -> Result<IpNet, IpNetError> {
        let bad = || IpNetError(text.to_string());
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is in the range. An IPv4-mapped IPv6 peer
    /// (`::ffff:10.0.0.1`, from a dual-stack listener) matches as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> ([u8; 16], Vec<u8>) {
        let mut fixed = [0u8; 16];
        fixed[..12].copy_from_slice(&V2_SIGNATURE);
        fixed[12] = 0x20 | command;
        fixed[13] = family;
        let len = u16::try_from(body.len()).unwrap().to_be_bytes();
        fixed[14] = len[0];
        fixed[15] = len[1];
        (fixed, body.to_vec())
    }

    #[test]
    fn v1_tcp4_tcp6_unknown() {
        let h = parse_v1(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n").unwrap();
        assert_eq!(h.source, Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(h.destination, Some("198.51.100.2:443".parse().unwrap()));
        let h = parse_v1(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n").unwrap();
        assert_eq!(h.source, Some("[2001:db8::1]:1".parse().unwrap()));
        assert_eq!(
            parse_v1(b"PROXY UNKNOWN\r\n").unwrap(),
            ProxyHeader::UNKNOWN
        );
        assert_eq!(
            parse_v1(b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n").unwrap(),
            ProxyHeader::UNKNOWN
        );
    }

    #[test]
    fn v1_refuses_everything_off_grammar() {
        for bad in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n"[..],
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 9\r\n",
            b"PROXY TCP4  192.0.2.1 198.51.100.2 56324 443\r\n",
            b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
            b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 +1 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 000001 443\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
            b"PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n",
            b"PROXY TCP4 \xff\xfe 198.51.100.2 1 2\r\n",
            b"PROXY \r\n",
        ] {
            assert_eq!(
                parse_v1(bad),
                Err(ProxyError::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX - 1, b'x');
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse_v1(&long), Err(ProxyError::Oversized));
    }

    #[test]
    fn v2_inet_inet6_with_tlvs_skipped() {
        let mut body = vec![192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb];
        // A TLV (PP2_TYPE_AUTHORITY) and garbage after it: skipped.
        body.extend_from_slice(&[0x02, 0x00, 0x03, b'a', b'b', b'c', 0xff]);
        let (fixed, body) = v2(1, 0x11, &body);
        let h = parse_v2(&fixed, &body).unwrap();
        assert_eq!(h.source, Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(h.destination, Some("198.51.100.2:443".parse().unwrap()));

        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&[0, 7, 0, 9]);
        let (fixed, body) = v2(1, 0x21, &body);
        let h = parse_v2(&fixed, &body).unwrap();
        assert_eq!(h.source, Some("[2001:db8::1]:7".parse().unwrap()));

        let (fixed, body) = v2(1, 0x00, &[]);
        assert_eq!(parse_v2(&fixed, &body).unwrap(), ProxyHeader::UNKNOWN);
        let (fixed, body) = v2(1, 0x31, &[0; 216]);
        assert_eq!(parse_v2(&fixed, &body).unwrap(), ProxyHeader::UNKNOWN);
    }

    #[test]
    fn v2_refusals() {
        let inet = [192, 0, 2, 1, 198, 51, 100, 2, 0, 1, 0, 2];
        let (fixed, body) = v2(0, 0x11, &inet);
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Local));
        let (fixed, body) = v2(2, 0x11, &inet);
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Malformed));
        // Version 1 in the v2 layout.
        let (mut fixed, body) = v2(1, 0x11, &inet);
        fixed[12] = 0x11;
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Malformed));
        // Too short for its family; DGRAM; unknown family.
        let (fixed, body) = v2(1, 0x11, &inet[..11]);
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Malformed));
        let (fixed, body) = v2(1, 0x21, &[0; 35]);
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Malformed));
        let (fixed, body) = v2(1, 0x12, &inet);
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Malformed));
        let (fixed, body) = v2(1, 0x41, &inet);
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Malformed));
        // Oversized, judged from the length field alone.
        let (fixed, _) = v2(1, 0x11, &vec![0; V2_MAX]);
        assert_eq!(v2_length(&fixed), Err(ProxyError::Oversized));
        let (fixed, _) = v2(1, 0x11, &vec![0; V2_MAX - 16]);
        assert_eq!(v2_length(&fixed), Ok(V2_MAX - 16));
        // A broken signature.
        let (mut fixed, body) = v2(1, 0x11, &inet);
        fixed[11] = b'X';
        assert_eq!(parse_v2(&fixed, &body), Err(ProxyError::Signature));
    }

    /// No input of any length or content panics the parsers.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = usize::try_from(seed % 140).unwrap();
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let b = seed
                        .rotate_left(u32::try_from(i % 64).unwrap())
                        .to_le_bytes()[0];
                    if round % 2 == 0 { b % 0x80 } else { b }
                })
                .collect();
            let mut line = b"PROXY ".to_vec();
            line.extend_from_slice(&bytes);
            let _ = parse_v1(&line);
            let (mut fixed, _) = v2(1, 0, &[]);
            fixed[12] = bytes.first().copied().unwrap_or(0x21);
            fixed[13] = bytes.get(1).copied().unwrap_or(0x11);
            let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
            fixed[14] = len[0];
            fixed[15] = len[1];
            let _ = parse_v2(&fixed, &bytes);
        }
    }

    #[test]
    fn ip_nets() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        let one: IpNet = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpNet = "2001:db8::/33".parse().unwrap();
        assert!(v6.contains("2001:db8:7fff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:8000::1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10/8",
            "x",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_addr_only_from_trusted_senders() {
        let header = ProxyHeader {
            source: Some("203.0.113.7:4000".parse().unwrap()),
            destination: None,
        };
        let lb: SocketAddr = "10.0.0.5:1234".parse().unwrap();
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            remote_addr(lb, Some(&header), &trusted),
            header.source.unwrap()
        );
        assert_eq!(remote_addr(lb, Some(&header), &[]), lb);
        let stranger: SocketAddr = "192.0.2.9:1".parse().unwrap();
        assert_eq!(remote_addr(stranger, Some(&header), &trusted), stranger);
        assert_eq!(remote_addr(lb, Some(&ProxyHeader::UNKNOWN), &trusted), lb);
        assert_eq!(remote_addr(lb, None, &trusted), lb);
    }
}
