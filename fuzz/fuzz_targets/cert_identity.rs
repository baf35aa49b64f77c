//! Certificate identity extraction from arbitrary DER: never panics, and
//! every value that goes into a header is one line of visible ASCII.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_gateway::identity::ClientCert;
use mtls_gateway::identity::forward::Forwarded;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = ClientCert::from_der(data) {
        for v in [
            cert.serial(),
            cert.fingerprint(),
            cert.subject_dn(),
            cert.issuer_dn(),
            cert.subject_dn_legacy(),
            cert.issuer_dn_legacy(),
            cert.v_start(),
            cert.v_end(),
            cert.escaped_pem(),
        ] {
            assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "unsafe header value {v:?}");
        }
        // The backends' formats (RFC 9440, RFC 8941 SAN lists, XFCC) of
        // the same certificate, as if it had verified, with itself as chain.
        let f = Forwarded::new(&cert, &[data.to_vec().into()]);
        for v in [
            &f.cert_rfc9440,
            &f.chain_rfc9440,
            &f.san_dns,
            &f.san_email,
            &f.san_uri,
            &f.san_ip,
            &f.xfcc,
        ] {
            assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "unsafe header value {v:?}");
        }
        let _ = cert.v_remain(0);
        let _ = cert.v_remain(i64::MAX);
        let _ = cert.v_remain(i64::MIN);
    }
});
