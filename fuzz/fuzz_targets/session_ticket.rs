//! Session tickets from a hostile client: decrypting arbitrary bytes under
//! fixed keys never panics and never succeeds (a forgery would need the
//! HMAC key); a ticket the ticketer made, with the input XORed over it,
//! decrypts only when the input changed nothing.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtls_gateway::tickets::{FileTicketer, TicketKey};
use rustls::server::ProducesTickets;

fn ticketer() -> &'static (FileTicketer, Vec<u8>) {
    static T: OnceLock<(FileTicketer, Vec<u8>)> = OnceLock::new();
    T.get_or_init(|| {
        let k80: Vec<u8> = (0..80u8).collect();
        let k48: Vec<u8> = (100..148u8).collect();
        let keys = [
            TicketKey::from_bytes(Path::new("a"), &k80).unwrap(),
            TicketKey::from_bytes(Path::new("b"), &k48).unwrap(),
        ];
        let t = FileTicketer::new(&keys).unwrap();
        let ticket = t.encrypt(b"a session's state").unwrap();
        (t, ticket)
    })
}

fuzz_target!(|data: &[u8]| {
    let (t, ticket) = ticketer();
    // Arbitrary bytes behind the first key's name.
    let mut forged = ticket[..16].to_vec();
    forged.extend_from_slice(data);
    if forged != ticket[..] {
        assert_eq!(t.decrypt(&forged), None);
    }
    assert!(data == &ticket[..] || t.decrypt(data).is_none());
    // Bit flips over a real ticket.
    let mut flipped = ticket.clone();
    let mut changed = false;
    for (b, d) in flipped.iter_mut().zip(data) {
        *b ^= d;
        changed |= *d != 0;
    }
    let plain = t.decrypt(&flipped);
    if changed {
        assert_eq!(plain, None);
    } else {
        assert_eq!(plain.as_deref(), Some(&b"a session's state"[..]));
    }
});
