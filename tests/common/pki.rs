//! Certificates generated per test with rcgen.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

/// A certificate authority.
pub struct Ca {
    pub cn: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// PEMs of the CAs above this one (for chain files), nearest first.
    pub parents: Vec<String>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "RU");
    dn.push(DnType::OrganizationName, "Example");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(3650);
    p.serial_number = Some(SerialNumber::from(rand_u64()));
    p
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) >> 2
}

impl Ca {
    pub fn root(cn: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        Ca {
            cn: cn.into(),
            issuer: CertifiedIssuer::self_signed(ca_params(cn), key).expect("root"),
            parents: Vec::new(),
        }
    }

    pub fn intermediate(&self, cn: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut parents = vec![self.pem()];
        parents.extend(self.parents.iter().cloned());
        Ca {
            cn: cn.into(),
            issuer: CertifiedIssuer::signed_by(ca_params(cn), key, &self.issuer).expect("int"),
            parents,
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A PEM CRL signed by this CA revoking `revoked`, next update in
    /// `next_update_days` (negative: already expired).
    pub fn crl(&self, revoked: &[&Leaf], next_update_days: i64) -> String {
        let now = OffsetDateTime::now_utc();
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - Duration::days(2),
            next_update: now + Duration::days(next_update_days),
            crl_number: SerialNumber::from(rand_u64()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|l| rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&l.serial()),
                    revocation_time: now - Duration::hours(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .expect("crl")
            .pem()
            .expect("pem")
    }

    /// A client certificate with clientAuth EKU, valid now.
    pub fn client(&self, cn: &str) -> Leaf {
        self.leaf(LeafSpec::client(cn))
    }

    pub fn leaf(&self, spec: LeafSpec) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let cert = spec.params().signed_by(&key, &self.issuer).expect("leaf");
        let mut chain = vec![self.pem()];
        chain.extend(self.parents.iter().cloned());
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            issuers: chain,
        }
    }

    /// A server certificate for `names` (DNS names or IPs).
    pub fn server(&self, names: &[&str]) -> Leaf {
        let mut spec = LeafSpec::client("gateway");
        spec.sans = names.iter().map(|s| s.to_string()).collect();
        spec.eku = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(spec)
    }
}

/// What a leaf certificate looks like.
#[derive(Clone)]
pub struct LeafSpec {
    pub dn: Vec<(DnType, String)>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    pub serial: Option<Vec<u8>>,
    pub sans: Vec<String>,
}

impl LeafSpec {
    pub fn client(cn: &str) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            dn: vec![
                (DnType::CountryName, "RU".into()),
                (DnType::OrganizationName, "Example".into()),
                (DnType::OrganizationalUnitName, "Dev".into()),
                (DnType::CommonName, cn.into()),
            ],
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            serial: None,
            sans: Vec::new(),
        }
    }

    pub fn expired(mut self) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        self.not_before = now - Duration::days(30);
        self.not_after = now - Duration::days(1);
        self
    }

    pub fn not_yet_valid(mut self) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        self.not_before = now + Duration::days(1);
        self.not_after = now + Duration::days(30);
        self
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::new(self.sans.clone()).expect("sans");
        let mut dn = DistinguishedName::new();
        for (t, v) in &self.dn {
            dn.push(t.clone(), v.as_str());
        }
        p.distinguished_name = dn;
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        p.extended_key_usages = self.eku.clone();
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.use_authority_key_identifier_extension = true;
        p.serial_number = Some(match &self.serial {
            Some(s) => SerialNumber::from_slice(s),
            None => SerialNumber::from(rand_u64()),
        });
        p
    }

    /// A self-signed certificate with this spec (not a CA).
    pub fn self_signed(&self) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let cert = self.params().self_signed(&key).expect("self-signed");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            issuers: Vec::new(),
        }
    }
}

/// An end-entity certificate and its key.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    /// PEMs of its issuers, nearest first (the root last).
    pub issuers: Vec<String>,
}

impl Leaf {
    /// The DER content of the serial number.
    pub fn serial(&self) -> Vec<u8> {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.der).expect("parse");
        cert.raw_serial().to_vec()
    }

    /// The leaf followed by its first `n` issuers.
    pub fn chain(&self, n: usize) -> String {
        let mut s = self.cert_pem.clone();
        for p in self.issuers.iter().take(n) {
            s.push_str(p);
        }
        s
    }

    /// The leaf followed by every issuer except the root.
    pub fn chain_without_root(&self) -> String {
        self.chain(self.issuers.len().saturating_sub(1))
    }
}
