//! The CA folder `certs init` makes, and loading its two CAs to sign with.
//!
//! ```text
//! ca.crt, ca.key                 root CA: signs the client CA and the server certificate
//! client-ca.crt, client-ca.key   client CA: signs every client certificate
//! ca-bundle.crt                  client CA + root: `client_certificate` (trusted and advertised)
//! NAME.pem, NAME-key.pem         server certificate (chain: leaf, root) and key
//! gateway.toml                   a configuration for this folder
//! index.toml                     every certificate issued, and revocations
//! ca.crl, client-ca.crl, crl.pem CRLs (after `certs crl` or `certs revoke`); crl.pem holds both
//! ```

use std::path::{Path, PathBuf};

use rcgen::{Certificate, CertificateParams, Issuer, KeyIdMethod, KeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::oid_registry;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use super::error::{CaError, CertsError};
use super::files;
use super::index::Signer;
use super::keys;

pub const ROOT_CERT: &str = "ca.crt";
pub const ROOT_KEY: &str = "ca.key";
pub const CLIENT_CA_CERT: &str = "client-ca.crt";
pub const CLIENT_CA_KEY: &str = "client-ca.key";
pub const BUNDLE: &str = "ca-bundle.crt";
pub const GATEWAY_TOML: &str = "gateway.toml";
pub const ROOT_CRL: &str = "ca.crl";
pub const CLIENT_CA_CRL: &str = "client-ca.crl";
pub const CRL_BUNDLE: &str = "crl.pem";

/// A server certificate's file names, from its first name: `NAME.pem` and
/// `NAME-key.pem` (characters other than letters, digits, `.` and `-`
/// become `_`, so `::1` gives `__1.pem`).
pub fn server_files(dir: &Path, first_name: &str) -> (PathBuf, PathBuf) {
    let stem = file_stem(first_name);
    (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}-key.pem")),
    )
}

/// A name usable as a file name.
pub fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The first value of an attribute of a certificate's subject.
fn subject_attr(x509: &X509Certificate<'_>, oid: &oid_registry::Oid<'_>) -> Option<String> {
    x509.subject()
        .iter_by_oid(oid)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
}

/// A CA loaded from the folder, ready to sign.
pub struct LoadedCa {
    pub signer: Signer,
    pub cert_pem: String,
    pub der: CertificateDer<'static>,
    pub issuer: Issuer<'static, KeyPair>,
    /// Its notAfter (unix seconds): nothing it signs may outlive it.
    pub not_after: i64,
    /// Its country and organization, which client certificates inherit.
    pub country: Option<String>,
    pub organization: Option<String>,
}

impl LoadedCa {
    /// Reads one of the folder's CAs and checks that its key matches.
    ///
    /// # Errors
    /// A missing, unreadable or mismatched file, named.
    pub fn load(dir: &Path, signer: Signer) -> Result<LoadedCa, CertsError> {
        let (cert_name, key_name) = match signer {
            Signer::Root | Signer::SelfSigned => (ROOT_CERT, ROOT_KEY),
            Signer::ClientCa => (CLIENT_CA_CERT, CLIENT_CA_KEY),
        };
        let cert_path = dir.join(cert_name);
        let key_path = dir.join(key_name);
        let cert_pem = files::read_text(&cert_path)?;
        let key = keys::read_key(&key_path)?;
        LoadedCa::new(signer, cert_pem, key).map_err(|e| match e {
            CaError::KeyMismatch => CertsError::CaKeyMismatch {
                key: key_path,
                cert: cert_path,
            },
            source => CertsError::CaCertificate {
                path: cert_path,
                source,
            },
        })
    }

    /// A CA from its PEM certificate and key (just made, or read from files).
    ///
    /// # Errors
    /// The certificate does not parse or the key is not its key.
    pub fn new(signer: Signer, cert_pem: String, key: KeyPair) -> Result<LoadedCa, CaError> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(CaError::NoPem)?;
        let (_, x509) = X509Certificate::from_der(&der).map_err(CaError::Parse)?;
        if !keys::matches_spki(&key, x509.public_key().raw) {
            return Err(CaError::KeyMismatch);
        }
        let country = subject_attr(&x509, &oid_registry::OID_X509_COUNTRY_NAME);
        let organization = subject_attr(&x509, &oid_registry::OID_X509_ORGANIZATION_NAME);
        let not_after = x509.validity().not_after.timestamp();
        let issuer = Issuer::from_ca_cert_der(&der, key).map_err(CaError::NotAnIssuer)?;
        Ok(LoadedCa {
            signer,
            cert_pem,
            der,
            issuer,
            not_after,
            country,
            organization,
        })
    }

    /// Signs `params` for the holder of `key`: checks that the certificate
    /// ends before this CA does and names it as issuer byte for byte.
    ///
    /// # Errors
    /// rcgen refused, or one of those checks failed.
    pub fn sign(
        &self,
        params: &CertificateParams,
        key: &KeyPair,
    ) -> Result<Certificate, CertsError> {
        if params.not_after.unix_timestamp() > self.not_after {
            return Err(CertsError::OutlivesCa {
                ca: self.file(),
                ca_not_after: super::output::date_unix(self.not_after),
            });
        }
        let cert = params
            .signed_by(key, &self.issuer)
            .map_err(|source| CertsError::Sign {
                ca: self.file(),
                source,
            })?;
        self.check_issued(cert.der())?;
        Ok(cert)
    }

    /// The CA's certificate file name.
    pub fn file(&self) -> &'static str {
        match self.signer {
            Signer::ClientCa => CLIENT_CA_CERT,
            Signer::Root | Signer::SelfSigned => ROOT_CERT,
        }
    }

    /// The CA's subject key identifier (for the CRLs' authority key
    /// identifier); a SHA-256 one if the certificate has none.
    pub fn key_id_method(&self) -> KeyIdMethod {
        X509Certificate::from_der(&self.der)
            .ok()
            .and_then(|(_, x)| {
                x.iter_extensions()
                    .find_map(|ext| match ext.parsed_extension() {
                        ParsedExtension::SubjectKeyIdentifier(id) => {
                            Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                        }
                        _ => None,
                    })
            })
            .unwrap_or(KeyIdMethod::Sha256)
    }

    /// Checks that a certificate this CA just signed names it as issuer
    /// byte for byte (a CA made by another tool may use name encodings rcgen
    /// does not reproduce; verifiers compare the bytes).
    ///
    /// # Errors
    /// The names differ.
    fn check_issued(&self, issued: &CertificateDer<'_>) -> Result<(), CertsError> {
        let subject =
            X509Certificate::from_der(&self.der).map(|(_, c)| c.subject().as_raw().to_vec());
        let issuer = X509Certificate::from_der(issued).map(|(_, c)| c.issuer().as_raw().to_vec());
        match (subject, issuer) {
            (Ok(s), Ok(i)) if s == i => Ok(()),
            _ => Err(CertsError::IssuerName { ca: self.file() }),
        }
    }
}
