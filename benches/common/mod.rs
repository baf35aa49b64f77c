//! Shared set-up of the criterion benches: a PKI made with rcgen in a
//! temporary folder, and the gateway's own configuration built from it with
//! `mtls_gateway::config::parse`, so the benches measure the code the
//! gateway runs (its `DeferredVerifier`, its ticketer, its chain check).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// The server key type.
#[derive(Clone, Copy, Debug)]
pub enum ServerKey {
    EcdsaP256,
    Rsa2048,
}

/// Files of one PKI: a root CA, an intermediate, a server certificate and
/// two client certificates (one under the root, one under the intermediate).
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub root_pem: String,
    pub server_chain_pem: String,
    pub server_key_pem: String,
    /// Client leaf issued by the root (the seed's shape): leaf only.
    pub client_pem: String,
    pub client_key_pem: String,
    /// Client leaf issued by the intermediate: leaf + intermediate.
    pub client2_chain_pem: String,
    pub client2_key_pem: String,
}

fn ca_params(cn: &str, serial: u64) -> CertificateParams {
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
    p.serial_number = Some(SerialNumber::from(serial));
    p
}

fn leaf_params(
    cn: &str,
    sans: &[&str],
    eku: ExtendedKeyUsagePurpose,
    serial: u64,
) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("sans");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "RU");
    dn.push(DnType::OrganizationName, "Example");
    dn.push(DnType::OrganizationalUnitName, "Dev");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(365);
    p.extended_key_usages = vec![eku];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(SerialNumber::from(serial));
    p
}

impl Pki {
    pub fn new(server_key: ServerKey) -> Pki {
        let root = CertifiedIssuer::self_signed(
            ca_params("Bench Root CA", 0x1001),
            KeyPair::generate().expect("key"),
        )
        .expect("root");
        let inter = CertifiedIssuer::signed_by(
            ca_params("Bench Intermediate CA", 0x1002),
            KeyPair::generate().expect("key"),
            &root,
        )
        .expect("intermediate");
        let server_kp = match server_key {
            ServerKey::EcdsaP256 => KeyPair::generate().expect("key"),
            ServerKey::Rsa2048 => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key"),
        };
        let server = leaf_params(
            "localhost",
            &["localhost", "local.trusted.com"],
            ExtendedKeyUsagePurpose::ServerAuth,
            0x2001,
        )
        .signed_by(&server_kp, &root)
        .expect("server");
        let client_kp = KeyPair::generate().expect("key");
        let client = leaf_params("alice", &[], ExtendedKeyUsagePurpose::ClientAuth, 0x3001)
            .signed_by(&client_kp, &root)
            .expect("client");
        let client2_kp = KeyPair::generate().expect("key");
        let client2 = leaf_params("bob", &[], ExtendedKeyUsagePurpose::ClientAuth, 0x3002)
            .signed_by(&client2_kp, &inter)
            .expect("client2");
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki {
            root_pem: root.pem(),
            server_chain_pem: format!("{}{}", server.pem(), root.pem()),
            server_key_pem: server_kp.serialize_pem(),
            client_pem: client.pem(),
            client_key_pem: client_kp.serialize_pem(),
            client2_chain_pem: format!("{}{}", client2.pem(), inter.pem()),
            client2_key_pem: client2_kp.serialize_pem(),
            dir,
        };
        for (name, text) in [
            ("ca.pem", &pki.root_pem),
            ("server.pem", &pki.server_chain_pem),
            ("server-key.pem", &pki.server_key_pem),
        ] {
            std::fs::write(pki.dir.path().join(name), text).expect("write");
        }
        pki
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The seed's server block as a gateway configuration, with the given
    /// session settings.
    pub fn gateway_toml(&self, session_cache: usize, tickets: bool) -> String {
        format!(
            r#"access_log = "off"
[[server]]
listen = ["127.0.0.1:3443"]
server_name = ["local.trusted.com", "localhost"]
[server.tls]
certificate = "server.pem"
certificate_key = "server-key.pem"
protocols = ["TLSv1.2", "TLSv1.3"]
session_timeout = "10m"
session_cache = {session_cache}
session_tickets = {tickets}
[server.client_auth]
verify_client = "on"
client_certificate = "ca.pem"
verify_depth = 3
[[server.location]]
prefix = "/"
return = {{ status = 404, text = "mTLS endpoints only. Use port 443 for regular access." }}
[[server.location]]
prefix = "/api/mtls"
proxy_pass = "http://backend"
[server.location.proxy_set_header]
Host = "$host"
X-Real-IP = "$remote_addr"
X-Forwarded-For = "$proxy_add_x_forwarded_for"
X-Forwarded-Proto = "$scheme"
X-SSL-Client-Verify = "$ssl_client_verify"
X-SSL-Client-DN = "$ssl_client_s_dn"
X-SSL-Client-Serial = "$ssl_client_serial"
X-SSL-Client-Fingerprint = "$ssl_client_fingerprint"
X-SSL-Client-Issuer = "$ssl_client_i_dn"
[upstream.backend]
server = ["127.0.0.1:8080"]
"#
        )
    }

    /// The gateway's validated configuration.
    pub fn config(&self, session_cache: usize, tickets: bool) -> mtls_gateway::config::Config {
        let path: PathBuf = self.path().join("gateway.toml");
        let text = self.gateway_toml(session_cache, tickets);
        std::fs::write(&path, &text).expect("write config");
        mtls_gateway::config::parse(&text, &path).unwrap_or_else(|e| panic!("config: {e}"))
    }

    /// A rustls client with `chain`/`key`, offering only `kx`.
    pub fn client_config(
        &self,
        chain_pem: &str,
        key_pem: &str,
        kx: &'static dyn rustls::crypto::SupportedKxGroup,
        versions: &[&'static rustls::SupportedProtocolVersion],
        resume: bool,
    ) -> Arc<ClientConfig> {
        self.client_config_with(chain_pem, key_pem, kx, versions, resume, false)
    }

    /// As [`Pki::client_config`]; `aes128_first` offers the SHA-256 suites
    /// (TLS_AES_128_GCM_SHA256, ECDHE-*-AES128-GCM-SHA256) first instead of
    /// rustls' AES-256/SHA-384 first.
    pub fn client_config_with(
        &self,
        chain_pem: &str,
        key_pem: &str,
        kx: &'static dyn rustls::crypto::SupportedKxGroup,
        versions: &[&'static rustls::SupportedProtocolVersion],
        resume: bool,
        aes128_first: bool,
    ) -> Arc<ClientConfig> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider.kx_groups = vec![kx];
        if aes128_first {
            provider
                .cipher_suites
                .sort_by_key(|s| !format!("{:?}", s.suite()).contains("AES_128_GCM"));
        }
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.root_pem.as_bytes()).expect("root"))
            .expect("add root");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("chain");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client auth");
        if !resume {
            config.resumption = Resumption::disabled();
        }
        Arc::new(config)
    }

    /// The DER chain of a client certificate file's contents.
    pub fn chain_der(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("chain")
    }
}
