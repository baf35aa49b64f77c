//! DN formatting of arbitrary DER names: never panics, always one ASCII line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_gateway::identity::dn;

fuzz_target!(|data: &[u8]| {
    for s in [dn::rfc2253(data), dn::legacy(data)].into_iter().flatten() {
        assert!(s.is_ascii(), "non-ASCII output");
        assert!(!s.contains('\n') && !s.contains('\r'), "line break in output");
    }
});
