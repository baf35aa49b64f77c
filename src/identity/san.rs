//! Subject alternative names: the `GeneralName` DER parser shared by name
//! constraints ([`crate::verify`]) and the identity values, and [`Sans`], a
//! certificate's SAN entries by kind as the `$ssl_client_san_*` variables
//! and access policy read them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::dn::{self, Children, read_tlv};

/// A `GeneralName`, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// `[0] otherName`: type-id OID content and the `[0] EXPLICIT` value's
    /// inner TLV.
    Other {
        type_id: Vec<u8>,
        value: Vec<u8>,
    },
    Email(Vec<u8>),
    Dns(Vec<u8>),
    /// `[4] directoryName`: the `Name` TLV.
    Directory(Vec<u8>),
    Uri(Vec<u8>),
    Ip(Vec<u8>),
    /// x400Address, ediPartyName, registeredID: compared by type only.
    Unsupported(u32),
}

impl GeneralName {
    /// The `GEN_*` number (the context tag).
    pub fn kind(&self) -> u32 {
        match self {
            GeneralName::Other { .. } => 0,
            GeneralName::Email(_) => 1,
            GeneralName::Dns(_) => 2,
            GeneralName::Directory(_) => 4,
            GeneralName::Uri(_) => 6,
            GeneralName::Ip(_) => 7,
            GeneralName::Unsupported(k) => *k,
        }
    }
}

/// Parses one `GeneralName` TLV.
pub(crate) fn general_name(tlv: &dn::Tlv<'_>) -> Option<GeneralName> {
    if tlv.class != 2 {
        return None;
    }
    Some(match (tlv.tag, tlv.constructed) {
        (0, true) => {
            let mut parts = Children::new(tlv.content);
            let type_id = parts.next()?.ok()?;
            let value = parts.next()?.ok()?;
            if !type_id.is_universal(6, false) || value.class != 2 || value.tag != 0 {
                return None;
            }
            let (inner, rest) = read_tlv(value.content).ok()?;
            if !rest.is_empty() || parts.next().is_some() {
                return None;
            }
            GeneralName::Other {
                type_id: type_id.content.to_vec(),
                value: inner.raw.to_vec(),
            }
        }
        (1, false) => GeneralName::Email(tlv.content.to_vec()),
        (2, false) => GeneralName::Dns(tlv.content.to_vec()),
        (4, true) => {
            let (name, rest) = read_tlv(tlv.content).ok()?;
            if !rest.is_empty() || !name.is_universal(16, true) {
                return None;
            }
            GeneralName::Directory(name.raw.to_vec())
        }
        (6, false) => GeneralName::Uri(tlv.content.to_vec()),
        (7, false) => GeneralName::Ip(tlv.content.to_vec()),
        (3, true) | (5, true) | (8, false) => GeneralName::Unsupported(tlv.tag),
        _ => return None,
    })
}

/// Parses `GeneralNames` (a subjectAltName value).
pub fn general_names(seq_tlv: &[u8]) -> Option<Vec<GeneralName>> {
    let (seq, rest) = read_tlv(seq_tlv).ok()?;
    if !rest.is_empty() || !seq.is_universal(16, true) {
        return None;
    }
    Children::new(seq.content)
        .map(|gn| general_name(&gn.ok()?))
        .collect()
}

/// A certificate's subjectAltName entries of the kinds identity values use,
/// each in certificate order, as printable text.
///
/// Every byte outside printable ASCII (0x20..=0x7E) and every `\` is written
/// as `\xHH`, so the values can go into a header and are never ambiguous.
/// IP addresses are written in their usual text forms (`192.0.2.1`, RFC 5952
/// for IPv6); an IP entry that is neither 4 nor 16 bytes is written as
/// `\xHH` bytes. Other kinds (otherName, directoryName, ...) are not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sans {
    pub dns: Vec<String>,
    pub email: Vec<String>,
    pub uri: Vec<String>,
    pub ip: Vec<String>,
    /// The IP entries as addresses (those of 4 or 16 bytes), for CIDR matching.
    pub ip_addrs: Vec<IpAddr>,
}

impl Sans {
    /// The entries of a parsed `GeneralNames`.
    pub fn from_names(names: &[GeneralName]) -> Sans {
        let mut sans = Sans::default();
        for name in names {
            match name {
                GeneralName::Dns(b) => sans.dns.push(printable(b)),
                GeneralName::Email(b) => sans.email.push(printable(b)),
                GeneralName::Uri(b) => sans.uri.push(printable(b)),
                GeneralName::Ip(b) => match ip_addr(b) {
                    Some(ip) => {
                        sans.ip.push(ip.to_string());
                        sans.ip_addrs.push(ip);
                    }
                    None => sans.ip.push(escaped_all(b)),
                },
                _ => {}
            }
        }
        sans
    }

    /// True when there is no entry of any kept kind.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.email.is_empty() && self.uri.is_empty() && self.ip.is_empty()
    }
}

fn ip_addr(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(b)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(s: &mut String, b: u8) {
    s.push_str("\\x");
    s.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
    s.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
}

/// Printable ASCII as is; other bytes and `\` as `\xHH`.
fn printable(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..=0x7E).contains(&b) && b != b'\\' {
            s.push(char::from(b));
        } else {
            push_escaped(&mut s, b);
        }
    }
    s
}

fn escaped_all(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4);
    for &b in bytes {
        push_escaped(&mut s, b);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_sorted_and_escaped() {
        let names = vec![
            GeneralName::Dns(b"a.example".to_vec()),
            GeneralName::Email(b"x@example.com".to_vec()),
            GeneralName::Uri(b"spiffe://td/ns/a".to_vec()),
            GeneralName::Ip(vec![192, 0, 2, 1]),
            GeneralName::Ip(vec![
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            ]),
            GeneralName::Ip(vec![1, 2, 3]),
            GeneralName::Dns(b"b\\,\r\n\xff".to_vec()),
            GeneralName::Directory(vec![0x30, 0]),
        ];
        let sans = Sans::from_names(&names);
        assert_eq!(sans.dns, ["a.example", "b\\x5C,\\x0D\\x0A\\xFF"]);
        assert_eq!(sans.email, ["x@example.com"]);
        assert_eq!(sans.uri, ["spiffe://td/ns/a"]);
        assert_eq!(sans.ip, ["192.0.2.1", "2001:db8::1", "\\x01\\x02\\x03"]);
        assert_eq!(sans.ip_addrs.len(), 2);
        assert!(!sans.is_empty());
        assert!(Sans::default().is_empty());
    }
}
