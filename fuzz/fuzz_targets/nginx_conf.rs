//! import-nginx on arbitrary text: the lexer, parser and converter never
//! panic (tests/import_nginx.rs checks, as a property, that what they write
//! is TOML).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mtls_gateway::import::convert_text(&text, std::path::Path::new("/nonexistent/nginx.conf"));
});
