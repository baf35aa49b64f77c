//! Certificates generated per test with rcgen.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
    SigningKey,
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
        Ca::root_with(cn, |_| {})
    }

    /// A root whose parameters `customize` changes (extensions, usages).
    pub fn root_with(cn: &str, customize: impl FnOnce(&mut CertificateParams)) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = ca_params(cn);
        customize(&mut params);
        Ca {
            cn: cn.into(),
            issuer: CertifiedIssuer::self_signed(params, key).expect("root"),
            parents: Vec::new(),
        }
    }

    pub fn intermediate(&self, cn: &str) -> Ca {
        self.intermediate_with(cn, |_| {})
    }

    /// An intermediate whose parameters `customize` changes (name
    /// constraints, key usages, ...).
    pub fn intermediate_with(
        &self,
        cn: &str,
        customize: impl FnOnce(&mut CertificateParams),
    ) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut parents = vec![self.pem()];
        parents.extend(self.parents.iter().cloned());
        let mut params = ca_params(cn);
        customize(&mut params);
        Ca {
            cn: cn.into(),
            issuer: CertifiedIssuer::signed_by(params, key, &self.issuer).expect("int"),
            parents,
        }
    }

    /// `leaf` with its `TBSCertificate` changed by `patch` and signed again
    /// by this CA: for certificates rcgen cannot express (a name value of a
    /// type or encoding rcgen refuses). `patch` may change lengths only if
    /// it re-encodes what encloses the change.
    pub fn resign(&self, leaf: &Leaf, patch: impl FnOnce(&mut Vec<u8>)) -> Leaf {
        let (cert, _) = der_tlv(leaf.der.as_ref());
        let (tbs, rest) = der_tlv(cert);
        let (alg, _) = der_tlv(rest);
        let tbs_start = tlv_header_len(cert);
        let mut tbs_der = cert[..tbs_start + tbs.len()].to_vec();
        patch(&mut tbs_der);
        let alg_der = &rest[..tlv_header_len(rest) + alg.len()];
        let signature = self.issuer.key().sign(&tbs_der).expect("sign");
        let mut bits = vec![0x00];
        bits.extend_from_slice(&signature);
        let mut body = tbs_der;
        body.extend_from_slice(alg_der);
        body.extend(der_encode(0x03, &bits));
        let der = der_encode(0x30, &body);
        Leaf {
            cert_pem: pem("CERTIFICATE", &der),
            key_pem: leaf.key_pem.clone(),
            der: CertificateDer::from(der),
            issuers: leaf.issuers.clone(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// The CA's private key (PKCS#8 PEM), for CRLs and OCSP responses made
    /// by other tools (`openssl ca`, `openssl ocsp`, Python `cryptography`).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
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
        self.leaf_with(spec, |_| {})
    }

    /// [`Ca::leaf`] with the rcgen parameters changed by `customize` (SAN
    /// kinds LeafSpec does not express: email, URI).
    pub fn leaf_with(
        &self,
        spec: LeafSpec,
        customize: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let mut params = spec.params();
        customize(&mut params);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
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
    /// Attributes after `dn`, of any string type.
    pub extra_dn: Vec<(DnType, DnValue)>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    /// keyUsage (digitalSignature by default; empty: no extension).
    pub key_usages: Vec<KeyUsagePurpose>,
    /// basicConstraints cA TRUE.
    pub is_ca: bool,
    pub custom_extensions: Vec<CustomExtension>,
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
            extra_dn: Vec::new(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            is_ca: false,
            custom_extensions: Vec::new(),
            serial: None,
            sans: Vec::new(),
        }
    }

    /// A client certificate whose subject is only `CN=<cn>`.
    pub fn cn_only(cn: &str) -> LeafSpec {
        let mut spec = LeafSpec::client(cn);
        spec.dn = vec![(DnType::CommonName, cn.into())];
        spec
    }

    /// Adds an `emailAddress` attribute (IA5String, as OpenSSL writes it).
    pub fn email(mut self, address: &str) -> LeafSpec {
        self.extra_dn.push((
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String(address.try_into().expect("IA5 address")),
        ));
        self
    }

    /// Adds an extension (DER `value`, the content of the OCTET STRING).
    pub fn extension(mut self, oid: &[u64], value: Vec<u8>, critical: bool) -> LeafSpec {
        let mut ext = CustomExtension::from_oid_content(oid, value);
        ext.set_criticality(critical);
        self.custom_extensions.push(ext);
        self
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
        for (t, v) in &self.extra_dn {
            dn.push(t.clone(), v.clone());
        }
        p.distinguished_name = dn;
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        p.extended_key_usages = self.eku.clone();
        p.key_usages = self.key_usages.clone();
        if self.is_ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        p.custom_extensions = self.custom_extensions.clone();
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

/// One DER element: its content and what follows it.
pub fn der_tlv(input: &[u8]) -> (&[u8], &[u8]) {
    let header = tlv_header_len(input);
    let len = match input[1] {
        n if n < 0x80 => usize::from(n),
        n => input[2..2 + usize::from(n & 0x7F)]
            .iter()
            .fold(0, |acc, &b| (acc << 8) | usize::from(b)),
    };
    (&input[header..header + len], &input[header + len..])
}

fn tlv_header_len(input: &[u8]) -> usize {
    match input[1] {
        n if n < 0x80 => 2,
        n => 2 + usize::from(n & 0x7F),
    }
}

/// A DER element with a one-octet tag.
pub fn der_encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// PEM with 64-character lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
