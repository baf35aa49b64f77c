//! PROXY protocol headers from a hostile sender: `parse_v1` and `parse_v2`
//! never panic, and what they accept is well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_gateway::proxy_protocol::{V1_MAX, parse_v1, parse_v2};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = parse_v1(data) {
        assert!(data.len() <= V1_MAX);
        assert!(data.starts_with(b"PROXY ") && data.ends_with(b"\r\n"));
        assert_eq!(h.source.is_some(), h.destination.is_some());
    }
    if let Some((fixed, body)) = data.split_first_chunk::<16>() {
        if let Ok(h) = parse_v2(fixed, body) {
            assert_eq!(usize::from(u16::from_be_bytes([fixed[14], fixed[15]])), body.len());
            assert_eq!(h.source.is_some(), h.destination.is_some());
        }
    }
});
