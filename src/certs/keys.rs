//! Key types `certs` can make (`--key-type`), and reading keys back from PEM.

use std::path::Path;

use rcgen::{KeyPair, PublicKeyData, RsaKeySize};

use super::error::CertsError;

/// `--key-type`: the key and signature algorithm of a new certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256: small, fast, supported by every browser.
    #[value(name = "p256", alias = "ecdsa-p256")]
    P256,
    /// RSA 2048 with SHA-256, for old clients.
    Rsa2048,
    /// RSA 4096 with SHA-256.
    Rsa4096,
    /// Ed25519. Browsers do not accept Ed25519 certificates in TLS.
    Ed25519,
}

impl KeyType {
    /// A fresh key pair of this type.
    ///
    /// # Errors
    /// The crypto library refused to make the key (not expected).
    pub fn generate(self) -> Result<KeyPair, CertsError> {
        let key = match self {
            KeyType::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)
            }
            KeyType::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        };
        key.map_err(|source| CertsError::KeyGenerate {
            key_type: self.describe(),
            source,
        })
    }

    /// How the output names it.
    pub fn describe(self) -> &'static str {
        match self {
            KeyType::P256 => "ECDSA P-256",
            KeyType::Rsa2048 => "RSA 2048",
            KeyType::Rsa4096 => "RSA 4096",
            KeyType::Ed25519 => "Ed25519",
        }
    }

    /// A warning to print for keys browsers cannot use, if any.
    pub fn browser_warning(self) -> Option<&'static str> {
        (self == KeyType::Ed25519).then_some(
            "Chrome, Edge, Firefox and Safari do not support Ed25519 certificates in TLS; \
             use it only for non-browser clients",
        )
    }
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// The file cannot be read or holds no usable key; the message names the file.
pub fn read_key(path: &Path) -> Result<KeyPair, CertsError> {
    let pem = super::files::read_text(path)?;
    if crate::config::is_encrypted_key_pem(pem.as_bytes()) {
        return Err(CertsError::EncryptedKey {
            path: path.to_path_buf(),
        });
    }
    KeyPair::from_pem(&pem).map_err(|source| CertsError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether `key` is the private key of the certificate whose DER
/// SubjectPublicKeyInfo is `spki`.
pub fn matches_spki(key: &KeyPair, spki: &[u8]) -> bool {
    key.subject_public_key_info() == spki
}
