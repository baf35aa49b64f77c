//! The files a configuration names: certificate chains, private keys and
//! CRLs, read from PEM with every problem named.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::verify::CrlRecord;

/// Why a file the configuration names cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not valid PEM: {source}", .path.display())]
    Pem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{}: no `-----BEGIN {label}-----` block found", .path.display())]
    NoBlock { path: PathBuf, label: &'static str },
    #[error("{}: certificate #{number} does not parse: {reason}", .path.display())]
    Certificate {
        path: PathBuf,
        number: usize,
        reason: String,
    },
    #[error(
        "{}: the private key is encrypted (passphrase-protected); encrypted keys are not supported, since the gateway reloads keys unattended. Decrypt it once: `openssl pkey -in {} -out KEY.pem` (asks the passphrase; keep KEY.pem mode 0600 or 0640 root:ssl-cert) and point `certificate_key` at KEY.pem",
        .path.display(), .path.display()
    )]
    EncryptedKey { path: PathBuf },
    #[error(
        "{}: no usable private key (PKCS#8, PKCS#1 or SEC1 PEM; encrypted keys are not supported): {source}",
        .path.display()
    )]
    Key {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{}: CRL #{number} {reason}", .path.display())]
    Crl {
        path: PathBuf,
        number: usize,
        reason: String,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every `-----BEGIN {label}-----` block of a PEM file; at least one.
fn read_blocks<T: PemObject>(path: &Path, label: &'static str) -> Result<Vec<T>, FileError> {
    let bytes = read(path)?;
    let blocks = T::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| FileError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    if blocks.is_empty() {
        return Err(FileError::NoBlock {
            path: path.to_path_buf(),
            label,
        });
    }
    Ok(blocks)
}

/// Every certificate of a PEM file, each checked to parse.
pub(super) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let certs: Vec<CertificateDer<'static>> = read_blocks(path, "CERTIFICATE")?;
    for (i, c) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(c) {
            return Err(FileError::Certificate {
                path: path.to_path_buf(),
                number: i + 1,
                reason: e.to_string(),
            });
        }
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub(super) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, FileError> {
    let bytes = read(path)?;
    if crate::config::is_encrypted_key_pem(&bytes) {
        return Err(FileError::EncryptedKey {
            path: path.to_path_buf(),
        });
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|source| FileError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Every CRL of a PEM file (nginx's `ssl_crl`: several in one file), as
/// OpenSSL loads them: any version, any extension (see `verify::crl`).
pub(super) fn read_crls(path: &Path) -> Result<Vec<CrlRecord>, FileError> {
    use rustls_pki_types::CertificateRevocationListDer;
    let ders: Vec<CertificateRevocationListDer<'static>> = read_blocks(path, "X509 CRL")?;
    ders.iter()
        .enumerate()
        .map(|(i, der)| {
            CrlRecord::parse(der.as_ref()).map_err(|e| FileError::Crl {
                path: path.to_path_buf(),
                number: i + 1,
                reason: format!("does not parse: {e}"),
            })
        })
        .collect()
}
