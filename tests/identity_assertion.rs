//! `$ssl_client_jwt`, the signed identity assertion, checked by JOSE
//! implementations that are not the one that signs (aws-lc-rs): the
//! `jsonwebtoken` crate on RustCrypto, and PyJWT on OpenSSL (Debian's
//! python3-jwt) when the machine has it, each against the JWKS fetched from
//! the admin listener, before and after a key rotation by reload. Tampered,
//! expired and wrong-audience tokens are refused; a broken key fails the
//! reload and the old keys stay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const ISSUER: &str = "https://gateway.example";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl_key(work: &Workdir, name: &str, algorithm: &[&str]) {
    let mut args = vec!["genpkey", "-out", name];
    args.extend(algorithm);
    let (code, _, err) = run_output(Command::new("openssl").current_dir(work.path()).args(&args));
    assert_eq!(code, 0, "openssl genpkey: {err}");
}

const EC: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const ED25519: &[&str] = &["-algorithm", "ed25519"];

fn config(backend: &Backend, admin: u16, key: &str, previous: &[&str]) -> GatewayConfig {
    let previous: Vec<String> = previous.iter().map(|p| format!("{p:?}")).collect();
    GatewayConfig::mtls("localhost", "optional")
        .admin(format!("127.0.0.1:{admin}"))
        .global_extra(&format!(
            "[identity_assertion]\nkey = {key:?}\nprevious_keys = [{}]\nissuer = {ISSUER:?}\naudience = \"backend-a\"\nlifetime = \"60s\"\n",
            previous.join(", ")
        ))
        .proxy("/api", "http://backend")
        .header("X-Identity", "$ssl_client_jwt")
        .header("X-DN", "$ssl_client_s_dn")
        .proxy("/b", "http://backend")
        .location_key("identity_assertion_audience", "backend-b")
        .header("X-Identity", "$ssl_client_jwt")
        .location("/keys")
        .location_extra("return = { jwks = true }")
        .upstream("backend", [backend.addr])
}

fn admin_jwks(admin: u16) -> String {
    let (code, out, err) = run_output(Command::new("curl").args([
        "-sS",
        "-f",
        &format!("http://127.0.0.1:{admin}/.well-known/jwks.json"),
    ]));
    assert_eq!(code, 0, "{err}");
    out
}

fn token(pki: &TestPki, gw: &Gateway, path: &str) -> String {
    let r = pki.curl_alice(gw.port(), path, &["-H", "X-Identity: forged.token.here"]);
    assert_eq!(r.status, 200, "{}", r.body_text());
    let v = r.echoed("x-identity");
    assert_eq!(v.len(), 1, "{}", r.body_text());
    v[0].clone()
}

fn b64url(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut acc, mut bits, mut out) = (0_u32, 0, Vec::new());
    for ch in s.bytes() {
        let i = alphabet.iter().position(|&a| a == ch).expect("base64url");
        acc = (acc << 6) | i as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The `jsonwebtoken` crate's verdict: the claims, or its error kind.
fn verify_rust(jwks: &str, token: &str, audience: &str) -> Result<Value, String> {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let set: JwkSet = serde_json::from_str(jwks).unwrap();
    let header = decode_header(token).map_err(|e| format!("{:?}", e.kind()))?;
    let jwk = set
        .find(header.kid.as_deref().unwrap_or(""))
        .ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{:?}", e.kind()))?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
    v.leeway = 0;
    decode::<Value>(token, &key, &v)
        .map(|t| t.claims)
        .map_err(|e| format!("{:?}", e.kind()))
}

/// The Python interpreter with PyJWT and its crypto back end, if any.
fn python_with_pyjwt() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import jwt, cryptography"])
            .status()
            .is_ok_and(|s| s.success())
    })
}

const PYJWT: &str = r#"
import datetime, json, sys, jwt
jwks, token, audience, issuer, later = sys.argv[1:6]

class Later(datetime.datetime):
    """The clock PyJWT reads, `later` seconds ahead."""
    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.now(tz) + datetime.timedelta(seconds=float(later))

jwt.api_jwt.datetime = Later
kid = jwt.get_unverified_header(token)["kid"]
keys = {k.key_id: k for k in jwt.PyJWKSet.from_json(jwks).keys}
if kid not in keys:
    print("ERROR UnknownKid")
    sys.exit(0)
try:
    claims = jwt.decode(token, key=keys[kid].key, algorithms=["ES256", "EdDSA"],
                        audience=audience, issuer=issuer,
                        options={"require": ["exp", "nbf", "iat", "aud", "iss", "sub"]})
    print(json.dumps(claims))
except jwt.PyJWTError as e:
    print("ERROR " + type(e).__name__)
"#;

/// PyJWT's verdict, checked as if `later` seconds from now. `None` when
/// the machine has no PyJWT (CI installs it).
fn verify_python(
    jwks: &str,
    token: &str,
    audience: &str,
    later: i64,
) -> Option<Result<Value, String>> {
    let Some(py) = python_with_pyjwt() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PyJWT is missing: .ci/run installs python3-jwt"
        );
        eprintln!("PyJWT not installed: the Python verifier is skipped here");
        return None;
    };
    let (code, out, err) = run_output(Command::new(py).args([
        "-c",
        PYJWT,
        jwks,
        token,
        audience,
        ISSUER,
        &later.to_string(),
    ]));
    assert_eq!(code, 0, "python: {err}");
    let out = out.trim();
    Some(match out.strip_prefix("ERROR ") {
        Some(e) => Err(e.to_string()),
        None => Ok(serde_json::from_str(out).unwrap()),
    })
}

fn sha256_b64url(data: &[u8]) -> String {
    b64url_encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// Both verifiers accept `token` for `audience`; their claims.
fn accepted(jwks: &str, token: &str, audience: &str) -> Value {
    let claims = verify_rust(jwks, token, audience).expect("jsonwebtoken accepts it");
    if let Some(py) = verify_python(jwks, token, audience, 0) {
        assert_eq!(py.expect("PyJWT accepts it"), claims);
    }
    claims
}

fn refused(jwks: &str, token: &str, audience: &str, rust_kind: &str, python_error: &str) {
    let e = verify_rust(jwks, token, audience).expect_err("jsonwebtoken refuses it");
    assert!(e.contains(rust_kind), "{e}");
    if let Some(py) = verify_python(jwks, token, audience, 0) {
        assert_eq!(py.expect_err("PyJWT refuses it"), python_error);
    }
}

#[test]
fn assertions_verify_independently_and_survive_a_key_rotation() {
    let admin = free_port();
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    openssl_key(&work, "es.pem", EC);
    openssl_key(&work, "ed.pem", ED25519);
    let backend = Backend::start();
    let gw = config(&backend, admin, "es.pem", &[]).start(&work);

    let jwks = admin_jwks(admin);
    let set: Value = serde_json::from_str(&jwks).unwrap();
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    assert_eq!(set["keys"][0]["alg"], "ES256");
    assert_eq!(set["keys"][0]["kty"], "EC");
    // The location that serves the JWKS too.
    let keys = curl("localhost", gw.port(), "/keys", &pki.ca, &[]);
    assert_eq!(keys.status, 200);
    assert_eq!(keys.header("content-type"), Some("application/json"));
    assert_eq!(keys.body_text(), jwks);

    let t = token(&pki, &gw, "/api");
    let claims = accepted(&jwks, &t, "backend-a");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "CN=alice,OU=Dev,O=Example,C=RU");
    assert_eq!(claims["aud"], "backend-a");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(claims["issuer_dn"], "CN=Client Root CA,O=Example,C=RU");
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        sha256_b64url(pki.alice.der.as_ref())
    );
    assert_eq!(b64url(claims["jti"].as_str().unwrap()).len(), 16);
    let header: Value = serde_json::from_slice(&b64url(t.split('.').next().unwrap())).unwrap();
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], set["keys"][0]["kid"]);

    // Per-location audience; the token is not good for the other backend.
    let tb = token(&pki, &gw, "/b");
    assert_eq!(accepted(&jwks, &tb, "backend-b")["aud"], "backend-b");
    refused(
        &jwks,
        &tb,
        "backend-a",
        "InvalidAudience",
        "InvalidAudienceError",
    );

    // Tampered: the payload says another subject, the signature is the old one.
    let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
    let forged = serde_json::to_vec(&serde_json::json!({
        "iss": ISSUER, "sub": "CN=admin", "aud": "backend-a",
        "iat": claims["iat"], "nbf": claims["nbf"], "exp": claims["exp"],
    }))
    .unwrap();
    parts[1] = b64url_encode(&forged);
    refused(
        &jwks,
        &parts.join("."),
        "backend-a",
        "InvalidSignature",
        "InvalidSignatureError",
    );
    // Expired: PyJWT checking as if 120 s later (its clock moved ahead);
    // the lifetime is 60 s.
    if let Some(late) = verify_python(&jwks, &t, "backend-a", 120) {
        assert_eq!(late.unwrap_err(), "ExpiredSignatureError");
    }
    // No certificate, no token (optional mode lets the request through).
    let anon = curl(
        "localhost",
        gw.port(),
        "/api",
        &pki.ca,
        &["-H", "X-Identity: forged.token.here"],
    );
    assert_eq!(anon.status, 200);
    assert!(anon.echoed("x-identity").is_empty(), "{}", anon.body_text());

    // Rotation: Ed25519 signs now, the EC key is still published.
    config(&backend, admin, "ed.pem", &["es.pem"]).write(&work, "gateway.toml");
    gw.signal("HUP");
    assert!(
        wait_for_log_count(&gw, "reload complete: generation 2", 1),
        "{}",
        gw.logs()
    );
    let rotated = admin_jwks(admin);
    let set: Value = serde_json::from_str(&rotated).unwrap();
    let algs: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["EdDSA", "ES256"]);
    let t2 = token(&pki, &gw, "/api");
    let header: Value = serde_json::from_slice(&b64url(t2.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(
        accepted(&rotated, &t2, "backend-a")["sub"],
        "CN=alice,OU=Dev,O=Example,C=RU"
    );
    // A token signed before the rotation still verifies against the new JWKS.
    accepted(&rotated, &t, "backend-a");
    // ... but not once the old key is no longer published.
    refused(
        &admin_only(&rotated, "EdDSA"),
        &t,
        "backend-a",
        "unknown kid",
        "UnknownKid",
    );

    // A broken key fails the reload; the keys stay as they were.
    work.write(
        "ed.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    gw.signal("HUP");
    assert!(wait_for_log_count(&gw, "reload failed", 1), "{}", gw.logs());
    assert!(
        gw.logs().contains("identity_assertion.key"),
        "{}",
        gw.logs()
    );
    assert_eq!(admin_jwks(admin), rotated);
    let t3 = token(&pki, &gw, "/api");
    accepted(&rotated, &t3, "backend-a");
}

fn b64url_encode(data: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0_u32, |a, &b| (a << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            s.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    s
}

/// The JWKS with only the keys of `alg`.
fn admin_only(jwks: &str, alg: &str) -> String {
    let mut set: Value = serde_json::from_str(jwks).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["alg"] == alg);
    set.to_string()
}

#[test]
fn bad_assertion_configurations_are_refused_with_their_keys() {
    let work = Workdir::new();
    let _pki = TestPki::new(&work);
    openssl_key(
        &work,
        "rsa.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    openssl_key(
        &work,
        "p384.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let base = |assertion: &str| {
        GatewayConfig::mtls("localhost", "on")
            .global_extra(assertion)
            .proxy("/", "127.0.0.1:9")
            .header("X-Identity", "$ssl_client_jwt")
    };
    for (assertion, key, problem) in [
        (
            "[identity_assertion]\nkey = \"rsa.pem\"\nissuer = \"i\"\naudience = \"a\"",
            "identity_assertion.key",
            "RSA",
        ),
        (
            "[identity_assertion]\nkey = \"p384.pem\"\nissuer = \"i\"\naudience = \"a\"",
            "identity_assertion.key",
            "P-256",
        ),
        (
            "[identity_assertion]\nkey = \"missing.pem\"\nissuer = \"i\"\naudience = \"a\"",
            "identity_assertion.key",
            "cannot read",
        ),
        (
            "[identity_assertion]\nkey = \"rsa.pem\"\naudience = \"a\"",
            "identity_assertion.issuer",
            "missing",
        ),
        (
            "[identity_assertion]\nkey = \"rsa.pem\"\nissuer = \"i\"\naudience = \"a\"\nlifetime = \"10m\"",
            "identity_assertion.lifetime",
            "out of range",
        ),
        (
            "",
            "proxy_set_header.x-identity",
            "needs an [identity_assertion]",
        ),
    ] {
        let Err(err) = base(assertion).try_start(&work) else {
            panic!("{assertion}: started");
        };
        assert!(
            err.lines().any(|l| l.contains(key) && l.contains(problem)),
            "{assertion}: want {key} / {problem} in\n{err}"
        );
    }
}
