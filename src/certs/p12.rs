//! PKCS#12 (`.p12`/`.pfx`) files for browsers and key stores.
//!
//! The default is what OpenSSL 3 writes: PBES2 (PBKDF2-HMAC-SHA256,
//! AES-256-CBC) for the key and the certificates, HMAC-SHA256 for the MAC,
//! 10 000 iterations, 8-byte salts. `--p12-legacy` writes 3DES with a SHA-1
//! MAC for importers that predate PBES2 (Windows before 10 1709, old macOS,
//! Java 8). Both are read by OpenSSL 3 without `-legacy`, which refuses
//! the RC2-40 that older tools still write.

use super::error::P12Error;
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rustls_pki_types::CertificateDer;

use super::password::Password;

/// Which algorithms to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// AES-256-CBC / PBKDF2-SHA256, MAC HMAC-SHA256.
    Modern,
    /// 3DES / SHA-1 PBE, MAC HMAC-SHA1.
    Legacy,
}

impl Flavor {
    pub fn describe(self) -> &'static str {
        match self {
            Flavor::Modern => "AES-256-CBC with PBKDF2-HMAC-SHA256, MAC HMAC-SHA256",
            Flavor::Legacy => "3DES with SHA-1 PBE, MAC HMAC-SHA1 (legacy importers)",
        }
    }
}

/// A `.p12` holding the private key (PKCS#8 DER) and `chain` (leaf first,
/// then its CAs), the key named `name` (the friendly name importers show).
///
/// # Errors
/// A certificate or key the PKCS#12 encoder refuses (not expected for what
/// `certs` makes).
pub fn encode(
    name: &str,
    pkcs8_key: &[u8],
    chain: &[CertificateDer<'_>],
    password: &Password,
    flavor: Flavor,
) -> Result<Vec<u8>, P12Error> {
    let key = PrivateKey::from_der(pkcs8_key).map_err(P12Error::Key)?;
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(P12Error::Certificate)?;
    let leaf = chain.first().ok_or(P12Error::NoCertificate)?;
    // The localKeyId ties the key to its certificate; OpenSSL uses the
    // certificate's SHA-1 as well.
    let key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
    let mut store = KeyStore::new();
    store.add_entry(
        name,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_id.as_ref(), key, certs)),
    );
    let writer = store.writer(password.as_str());
    let writer = match flavor {
        Flavor::Modern => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256),
        Flavor::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
    };
    writer.write().map_err(P12Error::Encode)
}
