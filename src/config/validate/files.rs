//! The files a configuration names: certificate chains, private keys and
//! CRLs, read from PEM with every problem named.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::verify::CrlRecord;

pub(super) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no `-----BEGIN CERTIFICATE-----` block found",
            path.display()
        ));
    }
    for (i, c) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(c) {
            return Err(format!(
                "{}: certificate #{} does not parse: {e}",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(certs)
}

pub(super) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "{}: no usable private key (PKCS#8, PKCS#1 or SEC1 PEM; encrypted keys are not supported): {e}",
            path.display()
        )
    })
}

pub(super) type LoadedCrls = (Vec<webpki::CertRevocationList<'static>>, Vec<CrlRecord>);

/// Every CRL of a PEM file (nginx's `ssl_crl`: several in one file).
pub(super) fn read_crls(path: &Path) -> Result<LoadedCrls, String> {
    use rustls_pki_types::CertificateRevocationListDer;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ders = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {e}", path.display()))?;
    if ders.is_empty() {
        return Err(format!(
            "{}: no `-----BEGIN X509 CRL-----` block found",
            path.display()
        ));
    }
    let mut crls = Vec::new();
    let mut info = Vec::new();
    for (i, der) in ders.iter().enumerate() {
        let owned = webpki::OwnedCertRevocationList::from_der(der.as_ref())
            .map_err(|e| format!("{}: CRL #{} is not usable: {e:?}", path.display(), i + 1))?;
        let (_, parsed) = x509_parser::parse_x509_crl(der.as_ref())
            .map_err(|e| format!("{}: CRL #{} does not parse: {e}", path.display(), i + 1))?;
        info.push(CrlRecord {
            issuer_dn: parsed.issuer().to_string(),
            issuer_der: parsed.issuer().as_raw().to_vec(),
            next_update: parsed.next_update().map(|t| t.timestamp()),
            revoked_serials: parsed
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect(),
        });
        crls.push(webpki::CertRevocationList::from(owned));
    }
    Ok((crls, info))
}
