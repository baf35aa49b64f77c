//! The signed identity assertion (`$ssl_client_jwt`): a short-lived JWT
//! that says which verified client certificate a request came with, signed
//! by the gateway, so that a backend can check the identity itself instead
//! of trusting whoever can reach it (the pattern of Google IAP's
//! `x-goog-iap-jwt-assertion` and Pomerium's `X-Pomerium-Jwt-Assertion`).
//!
//! * Keys: EC P-256 (`ES256`) or Ed25519 (`EdDSA`), PEM. `kid` is the RFC
//!   7638 JWK thumbprint; the JWKS ([`Assertion::jwks`], RFC 7517) lists
//!   the signing key and the previous keys (published, never used to sign),
//!   so that tokens signed before a rotation still verify.
//! * Claims: `iss`, `sub` (`$ssl_client_s_dn`), `aud`, `iat`, `nbf`, `exp`,
//!   `jti` (128 random bits), `cnf` `{"x5t#S256": ..}` (RFC 8705: base64url
//!   SHA-256 of the certificate DER), and the certificate's `serial`,
//!   `issuer_dn`, `fingerprint_sha1`, `fingerprint_sha256`, and the SANs
//!   (`san_dns`, `san_email`, `san_uri`, `san_ip`, each only when present).
//! * Only for a chain that verified: no token for a missing or failed
//!   certificate.
//! * Signed once per connection and audience ([`TokenCache`]), reused
//!   until less than a quarter of its lifetime is left: a signature costs
//!   tens of microseconds, a request should not pay it.
//!
//! Signing is aws-lc-rs's (the TLS stack's provider); nothing here verifies
//! tokens: the tests check them with independent JOSE implementations.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use rustls_pki_types::PrivateKeyDer;
use serde_json::{Value, json};

use crate::identity::ClientCert;
use crate::identity::base64url;

/// Longest `lifetime`: a leaked token is good for at most this long.
pub const MAX_LIFETIME: Duration = Duration::from_secs(300);
/// `lifetime` when the configuration is silent.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens (audiences) one connection keeps: locations with their own
/// audience are few; beyond this the oldest is replaced.
const MAX_TOKENS_PER_CONNECTION: usize = 8;

/// Why a key cannot sign or be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an RSA key: use an EC P-256 (ES256) or Ed25519 (EdDSA) key")]
    Rsa,
    #[error("not an EC P-256 (ES256) or Ed25519 (EdDSA) key")]
    Unsupported,
    #[error("the key does not parse: {0}")]
    Malformed(String),
}

/// The JWS algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Es256,
    EdDsa,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }
}

/// A public key as published: its JWK members and thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub alg: Alg,
    /// RFC 7638 thumbprint (base64url SHA-256 of the canonical JWK).
    pub kid: String,
    /// The canonical members (`crv`, `kty`, `x`, `y`) in lexicographic order.
    canonical: String,
    jwk: Value,
}

impl PublicJwk {
    /// From the raw public key: an uncompressed P-256 point (65 bytes) or
    /// an Ed25519 key (32 bytes).
    fn new(alg: Alg, public: &[u8]) -> Result<PublicJwk, KeyError> {
        let canonical = match alg {
            Alg::Es256 => {
                let (x, y) = match public {
                    [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                    _ => return Err(KeyError::Unsupported),
                };
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    base64url(x),
                    base64url(y)
                )
            }
            Alg::EdDsa => {
                if public.len() != 32 {
                    return Err(KeyError::Unsupported);
                }
                format!(
                    r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                    base64url(public)
                )
            }
        };
        let kid = base64url(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        let mut jwk: Value =
            serde_json::from_str(&canonical).map_err(|e| KeyError::Malformed(e.to_string()))?;
        jwk["kid"] = Value::from(kid.as_str());
        jwk["alg"] = Value::from(alg.name());
        jwk["use"] = Value::from("sig");
        Ok(PublicJwk {
            alg,
            kid,
            canonical,
            jwk,
        })
    }

    /// A `PUBLIC KEY` (SubjectPublicKeyInfo DER) of a previous key.
    pub fn from_spki(der: &[u8]) -> Result<PublicJwk, KeyError> {
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let alg = spki.algorithm.algorithm.to_id_string();
        let params = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        match (alg.as_str(), params.as_deref()) {
            // id-ecPublicKey with prime256v1.
            ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => {
                PublicJwk::new(Alg::Es256, &spki.subject_public_key.data)
            }
            // id-Ed25519.
            ("1.3.101.112", _) => PublicJwk::new(Alg::EdDsa, &spki.subject_public_key.data),
            ("1.2.840.113549.1.1.1", _) => Err(KeyError::Rsa),
            _ => Err(KeyError::Unsupported),
        }
    }

    /// The canonical JWK (RFC 7638 member order, for the thumbprint).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }
}

enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// The signing key: its private half and its published JWK.
pub struct SigningKey {
    signer: Signer,
    pub public: PublicJwk,
}

impl std::fmt::Debug for SigningKey {
    // Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// An EC P-256 or Ed25519 private key (PKCS#8, or SEC1 for EC).
    ///
    /// # Errors
    /// [`KeyError`]: another key type, or a key that does not parse.
    pub fn from_private_key(key: &PrivateKeyDer<'_>) -> Result<SigningKey, KeyError> {
        let signer = match key {
            PrivateKeyDer::Pkcs1(_) => return Err(KeyError::Rsa),
            PrivateKeyDer::Sec1(der) => Signer::Es256(
                EcdsaKeyPair::from_private_key_der(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der.secret_sec1_der(),
                )
                .map_err(|_| KeyError::Unsupported)?,
            ),
            PrivateKeyDer::Pkcs8(der) => {
                let der = der.secret_pkcs8_der();
                if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
                    Signer::Es256(k)
                } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    Signer::EdDsa(k)
                } else if is_rsa_pkcs8(der) {
                    return Err(KeyError::Rsa);
                } else {
                    return Err(KeyError::Unsupported);
                }
            }
            _ => return Err(KeyError::Unsupported),
        };
        let public = match &signer {
            Signer::Es256(k) => PublicJwk::new(Alg::Es256, k.public_key().as_ref())?,
            Signer::EdDsa(k) => PublicJwk::new(Alg::EdDsa, k.public_key().as_ref())?,
        };
        Ok(SigningKey { signer, public })
    }

    fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        match &self.signer {
            // The fixed (r || s) encoding is JWS's (RFC 7518 3.4).
            Signer::Es256(k) => k
                .sign(&SystemRandom::new(), message)
                .ok()
                .map(|s| s.as_ref().to_vec()),
            Signer::EdDsa(k) => Some(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// Whether a PKCS#8 key's algorithm is rsaEncryption (for a clearer error).
fn is_rsa_pkcs8(der: &[u8]) -> bool {
    const RSA_OID: &[u8] = &[
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
    ];
    der.windows(RSA_OID.len()).take(32).any(|w| w == RSA_OID)
}

/// `[identity_assertion]`, loaded: what signs, what is published, and the
/// fixed claims.
#[derive(Debug)]
pub struct Assertion {
    key: SigningKey,
    previous: Vec<PublicJwk>,
    pub issuer: String,
    /// The `aud` of locations that do not set their own.
    pub audience: String,
    pub lifetime: Duration,
    /// `{"alg":..,"kid":..,"typ":"JWT"}`, base64url, computed once.
    header_b64: String,
    jwks: String,
}

impl Assertion {
    pub fn new(
        key: SigningKey,
        previous: Vec<PublicJwk>,
        issuer: String,
        audience: String,
        lifetime: Duration,
    ) -> Assertion {
        let header = json!({"alg": key.public.alg.name(), "kid": key.public.kid, "typ": "JWT"});
        let mut keys = vec![key.public.jwk.clone()];
        for p in &previous {
            if p.kid != key.public.kid && !keys.iter().any(|k| k["kid"] == p.kid.as_str()) {
                keys.push(p.jwk.clone());
            }
        }
        Assertion {
            header_b64: base64url(header.to_string().as_bytes()),
            jwks: json!({ "keys": keys }).to_string(),
            key,
            previous,
            issuer,
            audience,
            lifetime,
        }
    }

    /// The JWKS document (RFC 7517): the signing key first, then the
    /// previous keys.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The signing key's `kid`.
    pub fn kid(&self) -> &str {
        &self.key.public.kid
    }

    /// The previous keys (published only).
    pub fn previous(&self) -> &[PublicJwk] {
        &self.previous
    }

    fn lifetime_secs(&self) -> i64 {
        i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX)
    }

    /// A token for `cert` (verified) and `audience`, issued at `now`.
    /// `None` only if the signature fails (not expected with a loaded key).
    pub fn sign(&self, cert: &ClientCert, audience: &str, now: i64) -> Option<Token> {
        let exp = now.saturating_add(self.lifetime_secs());
        let mut jti = [0_u8; 16];
        SystemRandom::new().fill(&mut jti).ok()?;
        let sans = cert.sans();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": cert.subject_dn(),
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": base64url(&jti),
            "cnf": { "x5t#S256": base64url(digest::digest(&digest::SHA256, cert.der()).as_ref()) },
            "serial": cert.serial(),
            "issuer_dn": cert.issuer_dn(),
            "fingerprint_sha1": cert.fingerprint(),
            "fingerprint_sha256": cert.fingerprint_sha256(),
        });
        for (name, list) in [
            ("san_dns", &sans.dns),
            ("san_email", &sans.email),
            ("san_uri", &sans.uri),
            ("san_ip", &sans.ip),
        ] {
            if !list.is_empty() {
                claims[name] = Value::from(list.clone());
            }
        }
        let mut token = self.header_b64.clone();
        token.push('.');
        token.push_str(&base64url(claims.to_string().as_bytes()));
        let signature = self.key.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&base64url(&signature));
        Some(Token {
            value: Arc::from(token),
            exp,
        })
    }
}

/// One signed token and when it expires.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: Arc<str>,
    pub exp: i64,
}

/// The tokens of one connection, by audience.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<Vec<(String, Token)>>,
}

impl TokenCache {
    /// The connection's token for `audience`: the cached one while more than
    /// a quarter of its lifetime is left, otherwise a new one. `None`
    /// without a verified certificate
    /// ([`PeerIdentity::verified_cert`](crate::verify::PeerIdentity::verified_cert)).
    pub fn token(
        &self,
        assertion: &Assertion,
        verified: Option<&ClientCert>,
        audience: &str,
        now: i64,
    ) -> Option<Arc<str>> {
        let cert = verified?;
        let fresh_until = |t: &Token| t.exp.saturating_sub(assertion.lifetime_secs() / 4);
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, t)) = tokens.iter().find(|(a, _)| a == audience)
            && now < fresh_until(t)
        {
            return Some(t.value.clone());
        }
        let token = assertion.sign(cert, audience, now)?;
        let value = token.value.clone();
        if let Some(slot) = tokens.iter_mut().find(|(a, _)| a == audience) {
            slot.1 = token;
        } else {
            if tokens.len() >= MAX_TOKENS_PER_CONNECTION {
                tokens.remove(0);
            }
            tokens.push((audience.to_string(), token));
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    use rustls_pki_types::PrivatePkcs8KeyDer;

    fn es256() -> SigningKey {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        SigningKey::from_private_key(&PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            doc.as_ref().to_vec(),
        )))
        .unwrap()
    }

    #[test]
    fn rfc7638_thumbprint_vector() {
        // RFC 8037 appendix A.3: the Ed25519 key's thumbprint.
        let x = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        let jwk = PublicJwk::new(Alg::EdDsa, &x).unwrap();
        assert_eq!(jwk.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn tokens_verify_with_the_public_key_and_carry_the_claims() {
        let key = es256();
        let public = key.public.clone();
        let a = Assertion::new(key, vec![], "gw".into(), "api".into(), DEFAULT_LIFETIME);
        assert!(a.jwks().contains(&public.kid));
        // A certificate of rcgen's making.
        let k = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["a.example".into()])
            .unwrap()
            .self_signed(&k)
            .unwrap();
        let cert = ClientCert::from_der(c.der()).unwrap();
        let t = a.sign(&cert, "api", 1000).unwrap();
        let parts: Vec<&str> = t.value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(t.exp, 1060);
        // The point from the JWK, to verify with.
        let jwk: Value = serde_json::from_str(public.canonical()).unwrap();
        let b64 = |s: &str| -> Vec<u8> {
            let mut v = Vec::new();
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let (mut acc, mut bits) = (0_u32, 0);
            for ch in s.bytes() {
                let i = alphabet.iter().position(|&a| a == ch).unwrap();
                acc = (acc << 6) | u32::try_from(i).unwrap();
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    v.push(u8::try_from((acc >> bits) & 0xFF).unwrap());
                }
            }
            v
        };
        let mut point = vec![4];
        point.extend(b64(jwk["x"].as_str().unwrap()));
        point.extend(b64(jwk["y"].as_str().unwrap()));
        let signed = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(signed.as_bytes(), &b64(parts[2]))
            .unwrap();
        let claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(claims["aud"], "api");
        assert_eq!(claims["san_dns"], json!(["a.example"]));
        assert!(claims.get("san_uri").is_none());

        // One signature per connection and audience while fresh.
        let cache = TokenCache::default();
        let first = cache.token(&a, Some(&cert), "api", 1000).unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &cache.token(&a, Some(&cert), "api", 1044).unwrap()
        ));
        let other = cache.token(&a, Some(&cert), "other", 1044).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        // Less than a quarter of the lifetime left (15 s of 60): a new one.
        let renewed = cache.token(&a, Some(&cert), "api", 1045).unwrap();
        assert!(!Arc::ptr_eq(&first, &renewed));
        assert!(cache.token(&a, None, "api", 1045).is_none());
    }
}
