//! Header-template parsing: never panics; a header template never accepts
//! a line break.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_gateway::template::{Target, Template};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if Template::parse(text, Target::Header).is_ok() {
            assert!(!text.contains('\n') && !text.contains('\r'));
        }
        let _ = Template::parse(text, Target::Body);
    }
});
