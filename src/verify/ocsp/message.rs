//! OCSP messages (RFC 6960): the request nginx sends for one certificate and
//! the checks it applies to the answer (`ngx_ssl_ocsp_verify`:
//! `OCSP_basic_verify`, `OCSP_resp_find_status`, `OCSP_check_validity`).
//!
//! Written with the crate's DER reader rather than RustCrypto's `x509-ocsp`:
//! its released version pairs with `x509-cert` 0.2 / `der` 0.7, a second copy
//! of the ASN.1 stack beside the 0.3 / 0.8 already in the tree, for two
//! structures of a few fields each.

use aws_lc_rs::digest;
use rustls_pki_types::SignatureVerificationAlgorithm;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

use crate::identity::der::{Children, Tlv, read_tlv};
use crate::verify::crl::{SpkiKey, encode};

/// How far thisUpdate may lie ahead and nextUpdate behind (OpenSSL's
/// `OCSP_check_validity(.., nsec = 300, ..)` as nginx calls it): clocks differ.
pub const LEEWAY_SECS: i64 = 300;
/// A response without nextUpdate is accepted only if its thisUpdate is at
/// most this old. No nonce is sent (as nginx), so this bounds how old a
/// replayed answer can be; nginx keeps such an answer for one hour too.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 3600;

/// 1.3.14.3.2.26 (SHA-1), as nginx's CertID uses.
const SHA1_OID: &[u8] = &[0x2B, 0x0E, 0x03, 0x02, 0x1A];
/// 1.3.6.1.5.5.7.48.1.1 (id-pkix-ocsp-basic).
const BASIC_OID: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// 1.3.6.1.5.5.7.3.9 (id-kp-OCSPSigning).
const OCSP_SIGNING_OID: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];
/// 2.5.29.37 (extendedKeyUsage).
const EKU_OID: &[u8] = &[0x55, 0x1D, 0x25];

/// The certificate a query is about, as OCSP names it (SHA-1 hashes, as
/// nginx's `OCSP_cert_to_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    name_hash: Vec<u8>,
    key_hash: Vec<u8>,
    serial: Vec<u8>,
}

/// A certificate's status in a verified, current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked,
    Unknown,
}

/// A verified answer: the status and until when it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: CertStatus,
    /// nextUpdate (Unix seconds), if the response has one.
    pub next_update: Option<i64>,
}

/// Why a response is not usable (nginx: `certificate status request failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("OCSP response not successful ({0})")]
    NotSuccessful(u8),
    #[error("malformed OCSP response: {0}")]
    Malformed(&'static str),
    #[error("OCSP response signer: {0}")]
    Signer(&'static str),
    #[error("OCSP response signature does not verify")]
    Signature,
    #[error("certificate status not found in the OCSP response")]
    NotFound,
    #[error("OCSP response is not yet valid (thisUpdate ahead)")]
    NotYetValid,
    #[error("OCSP response has expired (nextUpdate passed)")]
    Expired,
    #[error("OCSP response without nextUpdate is too old")]
    TooOld,
}

/// What the check reads from a certificate: names and key.
struct Cert<'a> {
    der: &'a [u8],
    subject: Vec<u8>,
    issuer: Vec<u8>,
    key: SpkiKey,
    not_before: i64,
    not_after: i64,
    ocsp_signing: bool,
    tbs: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> Cert<'a> {
    fn parse(der: &'a [u8]) -> Option<Cert<'a>> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        // OpenSSL never uses a certificate with an extension twice
        // (EXFLAG_INVALID): two extendedKeyUsage extensions are ambiguous.
        cert.tbs_certificate.extensions_map().ok()?;
        let key = SpkiKey::of(&cert)?;
        let ocsp_signing = cert.extensions().iter().any(|e| {
            e.oid.as_bytes() == EKU_OID
                && read_tlv(e.value).is_ok_and(|(seq, _)| {
                    Children::new(seq.content)
                        .filter_map(Result::ok)
                        .any(|o| o.content == OCSP_SIGNING_OID)
                })
        });
        Some(Cert {
            der,
            subject: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            key,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            ocsp_signing,
            tbs: cert.tbs_certificate.as_ref().to_vec(),
            signature: cert.signature_value.data.to_vec(),
        })
    }
}

fn sha1(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

impl CertId {
    /// The CertID of `cert` issued by `issuer`; `None` if either cannot be read.
    pub fn new(cert: &[u8], issuer: &[u8]) -> Option<CertId> {
        let (_, c) = X509Certificate::from_der(cert).ok()?;
        let issuer = Cert::parse(issuer)?;
        Some(CertId {
            name_hash: sha1(&issuer.subject),
            key_hash: sha1(&issuer.key.bits),
            serial: c.raw_serial().to_vec(),
        })
    }

    /// The DER OCSPRequest for this certificate alone (no nonce, no
    /// signature, as nginx sends it).
    pub fn request(&self) -> Vec<u8> {
        let algorithm = encode(0x30, &[encode(0x06, SHA1_OID), vec![0x05, 0x00]].concat());
        let cert_id = encode(
            0x30,
            &[
                algorithm,
                encode(0x04, &self.name_hash),
                encode(0x04, &self.key_hash),
                encode(0x02, &self.serial),
            ]
            .concat(),
        );
        let request = encode(0x30, &cert_id);
        let request_list = encode(0x30, &request);
        let tbs_request = encode(0x30, &request_list);
        encode(0x30, &tbs_request)
    }

    /// Whether a response's CertID (the TLV's content) names this certificate.
    fn matches(&self, content: &[u8]) -> bool {
        let mut fields = Children::new(content).filter_map(Result::ok);
        let (Some(alg), Some(name), Some(key), Some(serial)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let alg_oid = Children::new(alg.content).find_map(Result::ok);
        alg_oid.is_some_and(|o| o.is_universal(6, false) && o.content == SHA1_OID)
            && name.content == self.name_hash
            && key.content == self.key_hash
            && serial.content == self.serial
    }
}

/// Reads one element of `fields`, or fails with `what`.
fn next<'a>(
    fields: &mut impl Iterator<Item = Result<Tlv<'a>, crate::identity::der::DerError>>,
    what: &'static str,
) -> Result<Tlv<'a>, ResponseError> {
    fields
        .next()
        .and_then(Result::ok)
        .ok_or(ResponseError::Malformed(what))
}

fn time(t: &Tlv<'_>) -> Result<i64, ResponseError> {
    ASN1Time::from_der(t.raw)
        .map(|(_, t)| t.timestamp())
        .map_err(|_| ResponseError::Malformed("time"))
}

/// Checks a DER OCSPResponse about `id` (issued by `issuer_der`) at `now`:
/// the signer (the issuer itself, or a certificate the issuer signed with
/// the OCSP-signing EKU, valid now), the signature, the certificate's entry
/// and its times.
///
/// # Errors
/// [`ResponseError`]: whatever makes nginx answer `certificate status request failed`.
pub fn verify(
    response: &[u8],
    id: &CertId,
    issuer_der: &[u8],
    now: i64,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<Answer, ResponseError> {
    let malformed = ResponseError::Malformed;
    let (outer, rest) = read_tlv(response).map_err(|_| malformed("OCSPResponse"))?;
    if !rest.is_empty() || !outer.is_universal(16, true) {
        return Err(malformed("OCSPResponse"));
    }
    let mut fields = Children::new(outer.content);
    let status = next(&mut fields, "responseStatus")?;
    match status.content {
        [0] if status.is_universal(10, false) => {}
        [code] => return Err(ResponseError::NotSuccessful(*code)),
        _ => return Err(malformed("responseStatus")),
    }
    let bytes = next(&mut fields, "responseBytes")?;
    let (bytes, _) = read_tlv(bytes.content).map_err(|_| malformed("responseBytes"))?;
    let mut rb = Children::new(bytes.content);
    if next(&mut rb, "responseType")?.content != BASIC_OID {
        return Err(malformed("not a basic OCSP response"));
    }
    let basic = next(&mut rb, "response")?;
    let (basic, _) = read_tlv(basic.content).map_err(|_| malformed("BasicOCSPResponse"))?;
    let mut b = Children::new(basic.content);
    let tbs = next(&mut b, "tbsResponseData")?;
    let algorithm = next(&mut b, "signatureAlgorithm")?;
    let signature = next(&mut b, "signature")?;
    let signature = signature
        .content
        .split_first()
        .filter(|(unused, _)| **unused == 0)
        .map(|(_, s)| s)
        .ok_or(malformed("signature"))?;
    let mut certs = Vec::new();
    if let Some(Ok(list)) = b.next() {
        let (seq, _) = read_tlv(list.content).map_err(|_| malformed("certs"))?;
        for c in Children::new(seq.content) {
            certs.push(c.map_err(|_| malformed("certs"))?.raw);
        }
    }

    // ResponseData
    let mut data = Children::new(tbs.content).peekable();
    if data
        .peek()
        .is_some_and(|t| t.as_ref().is_ok_and(|t| t.class == 2 && t.tag == 0))
    {
        data.next();
    }
    let responder = next(&mut data, "responderID")?;
    let _produced_at = next(&mut data, "producedAt")?;
    let responses = next(&mut data, "responses")?;

    // The signer: the issuer, or a delegated responder certificate.
    let issuer = Cert::parse(issuer_der).ok_or(ResponseError::Signer("issuer unreadable"))?;
    let names = |c: &Cert<'_>| match (responder.class, responder.tag) {
        (2, 1) => read_tlv(responder.content).is_ok_and(|(n, _)| n.raw == c.subject),
        (2, 2) => read_tlv(responder.content).is_ok_and(|(k, _)| k.content == sha1(&c.key.bits)),
        _ => false,
    };
    let signer = if names(&issuer) {
        issuer
    } else {
        let delegated = certs
            .iter()
            .filter_map(|der| Cert::parse(der))
            .find(|c| names(c))
            .ok_or(ResponseError::Signer("responder certificate not found"))?;
        let alg = super::super::reason::signature_algorithm(delegated.der)
            .ok_or(ResponseError::Signer("unreadable responder certificate"))?;
        if delegated.issuer != issuer.subject
            || !issuer
                .key
                .signed(alg, &delegated.tbs, &delegated.signature, algs)
        {
            return Err(ResponseError::Signer(
                "the responder certificate is not issued by the certificate's issuer",
            ));
        }
        if !delegated.ocsp_signing {
            return Err(ResponseError::Signer(
                "the responder certificate lacks the OCSP-signing extended key usage",
            ));
        }
        if now < delegated.not_before || now > delegated.not_after {
            return Err(ResponseError::Signer(
                "the responder certificate is not valid now",
            ));
        }
        delegated
    };
    if !signer
        .key
        .signed(algorithm.content, tbs.raw, signature, algs)
    {
        return Err(ResponseError::Signature);
    }

    // This certificate's entry.
    for single in Children::new(responses.content) {
        let single = single.map_err(|_| malformed("SingleResponse"))?;
        let mut s = Children::new(single.content);
        let cert_id = next(&mut s, "certID")?;
        if !id.matches(cert_id.content) {
            continue;
        }
        let status = next(&mut s, "certStatus")?;
        let status = match (status.class, status.tag) {
            (2, 0) => CertStatus::Good,
            (2, 1) => CertStatus::Revoked,
            (2, 2) => CertStatus::Unknown,
            _ => return Err(malformed("certStatus")),
        };
        let this_update = time(&next(&mut s, "thisUpdate")?)?;
        let mut next_update = None;
        for field in s {
            let field = field.map_err(|_| malformed("SingleResponse"))?;
            if field.class == 2 && field.tag == 0 {
                let (t, _) = read_tlv(field.content).map_err(|_| malformed("nextUpdate"))?;
                next_update = Some(time(&t)?);
            }
        }
        // OCSP_check_validity(this, next, LEEWAY_SECS, -1)
        if this_update > now + LEEWAY_SECS {
            return Err(ResponseError::NotYetValid);
        }
        match next_update {
            Some(n) if n < now - LEEWAY_SECS => return Err(ResponseError::Expired),
            Some(n) if n < this_update => return Err(malformed("nextUpdate before thisUpdate")),
            None if this_update < now - MAX_AGE_WITHOUT_NEXT_UPDATE => {
                return Err(ResponseError::TooOld);
            }
            _ => {}
        }
        return Ok(Answer {
            status,
            next_update,
        });
    }
    Err(ResponseError::NotFound)
}

#[cfg(test)]
impl CertId {
    pub(crate) fn for_tests(n: u8) -> CertId {
        CertId {
            name_hash: vec![n; 20],
            key_hash: vec![n; 20],
            serial: vec![n],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let id = CertId {
            name_hash: vec![1; 20],
            key_hash: vec![2; 20],
            serial: vec![3],
        };
        for bytes in [
            &[][..],
            &[0x30, 0x03, 0x0A, 0x01, 0x00],
            &[0x30, 0x03, 0x0A, 0x01, 0x06],
            &[0x30, 0x80],
            &[0x30, 0x05, 0x0A, 0x01, 0x00, 0xA0, 0x00],
        ] {
            assert!(verify(bytes, &id, &[], 0, webpki::ALL_VERIFICATION_ALGS).is_err());
        }
        assert_eq!(
            verify(
                &[0x30, 0x03, 0x0A, 0x01, 0x06],
                &id,
                &[],
                0,
                webpki::ALL_VERIFICATION_ALGS
            ),
            Err(ResponseError::NotSuccessful(6))
        );
    }

    #[test]
    fn the_request_is_one_sha1_cert_id() {
        let id = CertId {
            name_hash: vec![0xAA; 20],
            key_hash: vec![0xBB; 20],
            serial: vec![0x01, 0x02],
        };
        let der = id.request();
        // SEQ{SEQ{SEQ{SEQ{CertID}}}} with the SHA-1 OID and both hashes.
        assert_eq!(der[0], 0x30);
        assert_eq!(usize::from(der[1]), der.len() - 2);
        assert!(der.windows(SHA1_OID.len()).any(|w| w == SHA1_OID));
        assert!(der.ends_with(&[0x02, 0x02, 0x01, 0x02]));
    }
}
