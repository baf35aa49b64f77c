//! Which location serves a request: nginx's URI normalization, then exact
//! matches before the longest matching prefix.
//!
//! Matching runs on the *normalized* path (percent-decoded, slashes merged,
//! `.` and `..` resolved) exactly as nginx does, so `/api/mtls/../admin` is
//! routed as `/api/admin` (and `/api/mtls/%2e%2e/admin` too): it cannot
//! match `location /api/mtls` while a backend resolves it elsewhere, and a
//! path that climbs above `/` is refused. The upstream still receives the request URI as the
//! client wrote it (nginx's `proxy_pass` without a URI part).

use crate::config::Match;
use crate::runtime::LocationRuntime;

/// Why a request path was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotOriginForm,
    BadEscape,
    NulByte,
    AboveRoot,
}

impl PathError {
    pub fn text(self) -> &'static str {
        match self {
            PathError::NotOriginForm => "request path does not start with /",
            PathError::BadEscape => "invalid percent-escape in request path",
            PathError::NulByte => "NUL byte in request path",
            PathError::AboveRoot => "request path climbs above the root with ..",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// nginx's `$uri` for a raw request path (without the query).
///
/// # Errors
/// A path nginx answers with 400.
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if is_normalized(raw) {
        return Ok(raw.to_owned());
    }
    normalize_general(raw)
}

/// Whether `raw` is its own normalization (most request paths are): it
/// starts with `/` and has no `%`, no NUL, no empty segment but the last,
/// and no `.` or `..` segment. Saves [`normalize_general`]'s three buffers.
fn is_normalized(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix('/') else {
        return false;
    };
    if raw.bytes().any(|b| b == b'%' || b == 0) {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == "." || segment == ".." {
            return false;
        }
    }
    true
}

/// [`normalize`] for any path: percent-decoding, merged slashes, dot
/// segments.
fn normalize_general(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    // 1. percent-decode
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(h), Some(l)) => decoded.push(h << 4 | l),
                _ => return Err(PathError::BadEscape),
            }
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    if decoded.contains(&0) {
        return Err(PathError::NulByte);
    }
    // 2. merge slashes and resolve dot segments
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|b| *b == b'/').skip(1) {
        match segment {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => segments.push(s),
        }
    }
    let trailing_slash =
        decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    let mut out = Vec::with_capacity(decoded.len());
    for s in &segments {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if out.is_empty() || trailing_slash {
        out.push(b'/');
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The location for a normalized path, with its index in `locations`: an
/// exact match first, otherwise the longest matching prefix.
pub fn find<'a>(
    locations: &'a [LocationRuntime],
    path: &str,
) -> Option<(usize, &'a LocationRuntime)> {
    if let Some(exact) = locations
        .iter()
        .enumerate()
        .find(|(_, l)| matches!(&l.matcher, Match::Exact(p) if p == path))
    {
        return Some(exact);
    }
    locations
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match &l.matcher {
            Match::Prefix(p) if path.starts_with(p.as_str()) => Some((p.len(), (i, l))),
            _ => None,
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, found)| found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_nginx() {
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/api/mtls").unwrap(), "/api/mtls");
        assert_eq!(normalize("//api///mtls/").unwrap(), "/api/mtls/");
        assert_eq!(normalize("/api/mtls/../admin").unwrap(), "/api/admin");
        assert_eq!(normalize("/api/mtls/../../admin").unwrap(), "/admin");
        assert_eq!(normalize("/api/./mtls").unwrap(), "/api/mtls");
        assert_eq!(normalize("/api/%6Dtls").unwrap(), "/api/mtls");
        assert_eq!(normalize("/api%2Fmtls").unwrap(), "/api/mtls");
        assert_eq!(normalize("/api/mtls/%2e%2e/x").unwrap(), "/api/x");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
    }

    #[test]
    fn the_shortcut_agrees_with_the_general_normalization() {
        // Every path of up to 7 characters after the `/` over an alphabet
        // with each special character (and a few without the leading `/`).
        let alphabet = [b'/', b'.', b'a', b'%', b'2', b'e'];
        let mut paths: Vec<Vec<u8>> = vec![b"/".to_vec(), b"".to_vec(), b"a/".to_vec()];
        let mut level = vec![b"/".to_vec()];
        for _ in 0..7 {
            let mut next = Vec::new();
            for p in &level {
                for c in alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    next.push(q);
                }
            }
            paths.extend(next.iter().cloned());
            level = next;
        }
        paths.push(b"/a\0b".to_vec());
        let mut shortcut = 0;
        for p in paths {
            let p = String::from_utf8(p).unwrap();
            if is_normalized(&p) {
                shortcut += 1;
            }
            assert_eq!(normalize(&p), normalize_general(&p), "{p:?}");
        }
        assert!(shortcut > 1000, "{shortcut}");
    }

    #[test]
    fn refuses_what_nginx_refuses() {
        assert_eq!(normalize("/../etc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/%2e%2e/etc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%4"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%00b"), Err(PathError::NulByte));
        assert_eq!(normalize("*"), Err(PathError::NotOriginForm));
    }
}
