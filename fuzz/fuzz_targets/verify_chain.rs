//! Client-certificate verification and the reason replay on arbitrary peer
//! chains: the input is split into consecutive DER elements (at most
//! [`MAX_CERTS`]) and verified against a fixed trust store (a root, a
//! name-constrained intermediate, a plain one) at a fixed time.
//!
//! Properties: nothing panics (`verify_peer`, `check_chain`,
//! `reason::classify`, `openssl_loads`); `verify_peer` says SUCCESS exactly
//! when `check_chain` accepts; and a SUCCESS is only ever given to a chain
//! that really verifies, checked here independently of the gateway's code:
//! the path it names starts with the presented leaf, ends with a trust
//! anchor of the store, every certificate's signature verifies under the
//! next one's key, and every certificate is valid at that time.
//!
//! The keys are fixed (test keys, below) so that the seeds stay valid:
//! `VERIFY_CHAIN_SEEDS=<dir>` makes the first run write valid and
//! near-valid chains there; `VERIFY_CHAIN_DEBUG=1` prints each verdict.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mtls_gateway::verify::{ClientAuth, VerifyMode};
use mtls_gateway::verify::{self, TrustStore, Verdict, reason};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SerialNumber,
};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

/// More certificates than any chain the store allows (depth 2).
const MAX_CERTS: usize = 6;

/// 2030-06-01T00:00:00Z: inside every fixture certificate's validity.
const NOW: u64 = 1_906_502_400;

const ROOT_KEY: &str = concat!(
    "-----BEGIN PRIVATE KEY-----\n",
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv0rOqD+sK0Z3B7Ll\n",
    "KFneI6UNAE5hsZxwSB6O80qd3IahRANCAASaZRU7O38tpaiEuLkNVykfHZXcbg8g\n",
    "GP6q25cq6okTYZSdmJkd5G9jo7XdKUap3TjPW04SIz66VxYUTe6/Z1jr\n",
    "-----END PRIVATE KEY-----\n",
);
const PARTNER_KEY: &str = concat!(
    "-----BEGIN PRIVATE KEY-----\n",
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSXu2SidL+PNDqwnQ\n",
    "jm1NDPa+FuypIU06jVTp1o6ScJ+hRANCAATKYhE5gN00TsQCi2fghIaxnGyxp2Wx\n",
    "xj5eCTYx3G0Ht/L5+5PUh161JyIkXltEyOHQKwcPs/PpfIiG+h7e1kjf\n",
    "-----END PRIVATE KEY-----\n",
);
const PLAIN_KEY: &str = concat!(
    "-----BEGIN PRIVATE KEY-----\n",
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv1K1xW/mDnwTA/nv\n",
    "ubkSAyCr9AQu5+9w2IuC6404VZihRANCAATHBLevaLWenZ8qdlBeslttmQmcBAok\n",
    "aH3Zbh1n8+Xeu4MWtvVECKP3cEi9mDteAbsN6jcMYA3mOFpJsjrPKFTX\n",
    "-----END PRIVATE KEY-----\n",
);
const LEAF_KEY: &str = concat!(
    "-----BEGIN PRIVATE KEY-----\n",
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgA+X6HRDDYSolDNH7\n",
    "gqqpwp7st7k7KH+foXfWgOybZo6hRANCAASUHq3iRyBPoGjGfa6sNROMIRlXmT6H\n",
    "RplIu6jQDwhQhG14JNFeQIFrUSg6t2L2e5YvhRQfPbHl8pXfJo8owTnq\n",
    "-----END PRIVATE KEY-----\n",
);

struct Fixture {
    auth: ClientAuth,
    anchors: Vec<Vec<u8>>,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Fuzz");
    dn.push(DnType::CommonName, cn);
    dn
}

fn params(cn: &str, serial: u64, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    p.serial_number = Some(SerialNumber::from(serial));
    p.use_authority_key_identifier_extension = true;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    p
}

fn key(pem: &str) -> KeyPair {
    KeyPair::from_pem(pem).expect("fixture key")
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let root_params = params("Fuzz Root", 1, true);
    let root_key = key(ROOT_KEY);
    let root_cert = root_params.self_signed(&root_key).expect("root");
    let root = Issuer::new(root_params, root_key);

    let mut partner_params = params("Fuzz Partner CA", 2, true);
    partner_params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("partner.example".into()),
            GeneralSubtree::Rfc822Name("partner.example".into()),
        ],
        excluded_subtrees: vec![GeneralSubtree::DnsName("bad.partner.example".into())],
    });
    let partner_key = key(PARTNER_KEY);
    let partner_cert = partner_params
        .signed_by(&partner_key, &root)
        .expect("partner");
    let partner = Issuer::new(partner_params, partner_key);

    let mut plain_params = params("Fuzz Plain CA", 3, true);
    let mut policies = CustomExtension::from_oid_content(
        &[2, 5, 29, 32],
        vec![0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x2A, 0x03, 0x04],
    );
    policies.set_criticality(true);
    plain_params.custom_extensions.push(policies);
    let plain_key = key(PLAIN_KEY);
    let plain_cert = plain_params.signed_by(&plain_key, &root).expect("plain");
    let plain = Issuer::new(plain_params, plain_key);

    let trust = TrustStore::new(
        &[root_cert.der().clone()],
        &[partner_cert.der().clone(), plain_cert.der().clone()],
    )
    .expect("trust store");
    if let Some(dir) = std::env::var_os("VERIFY_CHAIN_SEEDS") {
        write_seeds(
            std::path::Path::new(&dir),
            &root,
            &partner,
            &plain,
            &[partner_cert.der().to_vec(), plain_cert.der().to_vec()],
        );
    }
    Fixture {
        auth: ClientAuth::builder(VerifyMode::On)
            .verify_depth(2)
            .trust(trust)
            .build()
            .unwrap(),
        anchors: vec![root_cert.der().to_vec()],
    }
});

/// Valid and nearly valid chains for the corpus.
fn write_seeds(
    dir: &std::path::Path,
    root: &Issuer<'_, KeyPair>,
    partner: &Issuer<'_, KeyPair>,
    plain: &Issuer<'_, KeyPair>,
    intermediates: &[Vec<u8>],
) {
    let leaf_key = key(LEAF_KEY);
    let leaf = |p: CertificateParams, issuer: &Issuer<'_, KeyPair>| {
        p.signed_by(&leaf_key, issuer).expect("leaf").der().to_vec()
    };
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    seeds.push(("root-leaf", leaf(params("alice", 10, false), root)));
    let mut p = params("alice.partner.example", 11, false);
    p.distinguished_name.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        DnValue::Ia5String("alice@partner.example".try_into().expect("ia5")),
    );
    seeds.push((
        "partner-leaf",
        [leaf(p, partner), intermediates[0].clone()].concat(),
    ));
    seeds.push((
        "partner-cn-outside",
        [
            leaf(params("admin.corp.example", 12, false), partner),
            intermediates[0].clone(),
        ]
        .concat(),
    ));
    let mut p = params("x", 13, false);
    p.subject_alt_names = vec![rcgen::SanType::DnsName(
        "a.bad.partner.example".try_into().expect("dns"),
    )];
    seeds.push((
        "partner-excluded-san",
        [leaf(p, partner), intermediates[0].clone()].concat(),
    ));
    seeds.push((
        "plain-leaf",
        [
            leaf(params("bob", 14, false), plain),
            intermediates[1].clone(),
        ]
        .concat(),
    ));
    let mut p = params("ca-leaf", 15, false);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    seeds.push(("ca-leaf", leaf(p, root)));
    let mut p = params("crit", 16, false);
    let mut ext =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
    ext.set_criticality(true);
    p.custom_extensions.push(ext);
    seeds.push(("unknown-critical", leaf(p, root)));
    let mut p = params("ns", 17, false);
    p.custom_extensions.push(CustomExtension::from_oid_content(
        &[2, 16, 840, 1, 113730, 1, 1],
        vec![0x03, 0x02, 0x06, 0x40],
    ));
    p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    seeds.push(("purpose", leaf(p, root)));
    let mut p = params("old", 18, false);
    p.not_after = rcgen::date_time_ymd(2026, 1, 1);
    seeds.push(("expired", leaf(p, root)));
    std::fs::create_dir_all(dir).expect("seed dir");
    for (name, der) in seeds {
        std::fs::write(dir.join(name), der).expect("write seed");
    }
}

/// Consecutive DER elements of `data`; the rest, if any, as one more.
fn split(data: &[u8]) -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && out.len() < MAX_CERTS {
        let len = match der_len(rest) {
            Some(n) if n <= rest.len() => n,
            _ => rest.len(),
        };
        out.push(CertificateDer::from(rest[..len].to_vec()));
        rest = &rest[len..];
    }
    out
}

/// Length of the DER element at the start of `data` (header included).
fn der_len(data: &[u8]) -> Option<usize> {
    let first = *data.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return None;
    }
    let len = data
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some(2 + n + len)
}

/// The independent check of a SUCCESS: `path` (leaf first) really chains
/// from `leaf` to a store anchor with valid signatures, all valid at NOW.
fn really_verifies(path: &[CertificateDer<'_>], leaf: &[u8], anchors: &[Vec<u8>]) -> bool {
    let Some((first, _)) = path.split_first() else {
        return false;
    };
    let Some(last) = path.last() else {
        return false;
    };
    if first.as_ref() != leaf || !anchors.iter().any(|a| a.as_slice() == last.as_ref()) {
        return false;
    }
    let parsed: Option<Vec<X509Certificate<'_>>> = path
        .iter()
        .map(|c| X509Certificate::from_der(c.as_ref()).ok().map(|(_, x)| x))
        .collect();
    let Some(parsed) = parsed else { return false };
    let now = NOW as i64;
    if !parsed.iter().all(|c| {
        c.validity().not_before.timestamp() <= now && now <= c.validity().not_after.timestamp()
    }) {
        return false;
    }
    parsed.windows(2).all(|w| {
        let (subject, issuer) = (&w[0], &w[1]);
        let spki = SubjectPublicKeyInfoDer::from(issuer.tbs_certificate.subject_pki.raw.to_vec());
        let Ok(key) = webpki::RawPublicKeyEntity::try_from(&spki) else {
            return false;
        };
        webpki::ALL_VERIFICATION_ALGS.iter().any(|alg| {
            key.verify_signature(
                *alg,
                subject.tbs_certificate.as_ref(),
                subject.signature_value.data.as_ref(),
            )
            .is_ok()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let fx = &*FIXTURE;
    let chain = split(data);
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(NOW));
    for cert in &chain {
        let _ = verify::openssl_loads(cert.as_ref());
    }
    let _ = reason::classify(&chain, &fx.auth, NOW as i64, webpki::ALL_VERIFICATION_ALGS);
    let peer = verify::verify_peer(Some(&chain), &fx.auth, now);
    if std::env::var_os("VERIFY_CHAIN_DEBUG").is_some() {
        eprintln!("{} certificate(s): {}", chain.len(), peer.verify_text());
    }
    let path = verify::verified_path(&chain, &fx.auth, now);
    assert_eq!(
        peer.verdict() == Verdict::Success,
        path.is_ok() && peer.cert().is_some(),
        "verify_peer and verified_path disagree"
    );
    if let Ok(path) = path {
        assert!(
            really_verifies(&path, chain[0].as_ref(), &fx.anchors),
            "accepted a chain that does not verify"
        );
    }
});
