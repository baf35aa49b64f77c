//! Every CRL nginx reads, read alike: CRLs made by `openssl ca -gencrl`
//! (version 1 without a `crlnumber` file, version 2 with one, with an Issuing
//! Distribution Point), by Python `cryptography` (no extensions at all, a
//! delta-CRL indicator, unknown extensions critical or not, IDP scopes) and
//! by `mtls-gateway certs crl`, each loaded by a real nginx (`ssl_crl`) and
//! by the gateway (`crl`); every client certificate must get the same status
//! and the same `$ssl_client_verify` (or `(code:reason)` in the log) from
//! both, and what the test expects nginx to say.
//!
//! nginx, `openssl` and Python's `cryptography` must be installed (`.ci/run`
//! installs them); without them these tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod certs_support;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const HOST: &str = "crl.test";
const IDP_URI: &str = "http://crl.example/root.crl";

/// One client: its chain file, key file, and what nginx answers.
struct Probe {
    name: String,
    chain: PathBuf,
    key: PathBuf,
    nginx_says: &'static str,
}

impl Probe {
    fn leaf(work: &Workdir, name: &str, leaf: &Leaf, nginx_says: &'static str) -> Probe {
        Probe {
            name: name.to_string(),
            chain: work.write(&format!("{name}.pem"), leaf.chain_without_root()),
            key: work.write(&format!("{name}-key.pem"), &leaf.key_pem),
            nginx_says,
        }
    }
}

fn expected(nginx_says: &str) -> Outcome {
    match nginx_says.strip_prefix("FAILED:") {
        None => Outcome::Verified(nginx_says.to_string()),
        Some(reason) => Outcome::Refused(reason.to_string()),
    }
}

fn without_code(o: &Outcome) -> Outcome {
    match o {
        Outcome::Refused(r) => {
            Outcome::Refused(r.split_once(':').map_or(r.as_str(), |(_, t)| t).to_string())
        }
        other => other.clone(),
    }
}

/// Runs nginx and the gateway with `ca` as the client CA file and `crl` as
/// the CRL file, sends every probe to both, and returns the differences.
fn compare(work: &Workdir, label: &str, ca: &Path, crl: &Path, probes: &[Probe]) -> Vec<String> {
    let server_root = Ca::root("Server Root CA");
    let server = server_root.server(&[HOST]);
    let server_ca = work.write("server-ca.pem", server_root.pem());
    let server_cert = work.write("server.pem", server.chain(0));
    let server_key = work.write("server-key.pem", &server.key_pem);
    let nginx = Nginx::start(
        work.path(),
        &format!(
            "  server {{\n    listen 127.0.0.1:{{port0}} ssl;\n    \
             ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
             ssl_client_certificate {ca};\n    ssl_verify_client on;\n    \
             ssl_verify_depth 2;\n    ssl_crl {crl};\n    \
             location / {{ return 200 \"$ssl_client_verify\"; }}\n  }}\n",
            cert = server_cert.display(),
            key = server_key.display(),
            ca = ca.display(),
            crl = crl.display(),
        ),
        1,
    );
    let gw = Gateway::start(
        work.path(),
        &format!(
            r#"
[[server]]
listen = "127.0.0.1:0"
server_name = "{HOST}"
[server.tls]
certificate = "{cert}"
certificate_key = "{key}"
[server.client_auth]
verify_client = "on"
client_certificate = "{ca}"
verify_depth = 2
crl = "{crl}"
[[server.location]]
prefix = "/"
return = {{ status = 200, text = "$ssl_client_verify" }}
"#,
            cert = server_cert.display(),
            key = server_key.display(),
            ca = ca.display(),
            crl = crl.display(),
        ),
    );
    let mut failures = Vec::new();
    for p in probes {
        let args = [
            "--cert",
            p.chain.to_str().unwrap(),
            "--key",
            p.key.to_str().unwrap(),
        ];
        let send = |port: u16| {
            let r = curl(HOST, port, "/", &server_ca, &args);
            (r.status, r.body_text())
        };
        let seen_nginx = outcome(|| send(nginx.ports[0]), || nginx.error_log());
        let seen_gw = outcome(|| send(gw.port()), || gw.logs());
        let want = expected(p.nginx_says);
        let cell = format!("{label} / {}", p.name);
        if without_code(&seen_nginx) != want {
            failures.push(format!(
                "{cell}: nginx answered {seen_nginx:?}, the test expects {want:?}"
            ));
        }
        if seen_gw != seen_nginx {
            failures.push(format!("{cell}: gateway {seen_gw:?}, nginx {seen_nginx:?}"));
        }
    }
    failures
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn run(cmd: &mut Command) {
    let (code, out, err) = run_output(cmd);
    assert_eq!(code, 0, "{cmd:?} failed:\n{out}\n{err}");
}

/// `openssl ca -gencrl` for `ca` revoking `revoked`, in a fresh CA folder:
/// with `crlnumber`, a version 2 CRL with a CRL number; without, a version 1
/// CRL without extensions; `crl_extensions` lines go into the config.
fn openssl_ca_crl(
    work: &Workdir,
    name: &str,
    ca: &Ca,
    revoked: &[&Leaf],
    crlnumber: bool,
    crl_extensions: &str,
) -> PathBuf {
    let dir = work.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let index: String = revoked
        .iter()
        .map(|l| {
            format!(
                "R\t491231235959Z\t260101000000Z\t{}\tunknown\t/CN=revoked\n",
                hex(&l.serial())
            )
        })
        .collect();
    std::fs::write(dir.join("index.txt"), index).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("ca-key.pem"), ca.key_pem()).unwrap();
    let mut conf = format!(
        "[ca]\ndefault_ca = ca_default\n[ca_default]\ndir = {}\ndatabase = $dir/index.txt\n\
         default_md = sha256\ndefault_crl_days = 30\n",
        dir.display()
    );
    if crlnumber {
        std::fs::write(dir.join("crlnumber"), "1000\n").unwrap();
        conf.push_str("crlnumber = $dir/crlnumber\n");
    }
    if !crl_extensions.is_empty() {
        conf.push_str(&format!(
            "crl_extensions = crl_ext\n[crl_ext]\n{crl_extensions}\n"
        ));
    }
    std::fs::write(dir.join("ca.cnf"), conf).unwrap();
    let out = dir.join("crl.pem");
    run(Command::new("openssl")
        .args(["ca", "-batch", "-gencrl", "-config"])
        .arg(dir.join("ca.cnf"))
        .arg("-keyfile")
        .arg(dir.join("ca-key.pem"))
        .arg("-cert")
        .arg(dir.join("ca.pem"))
        .arg("-out")
        .arg(&out));
    out
}

/// Makes a CRL with Python's `cryptography`; see the flavors in the script.
const PYTHON_CRL: &str = r#"
import sys, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ObjectIdentifier
ca = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
key = serialization.load_pem_private_key(open(sys.argv[2], 'rb').read(), None)
flavor, out = sys.argv[3], sys.argv[4]
now = datetime.datetime.now(datetime.timezone.utc)
b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
     .last_update(now - datetime.timedelta(days=1))
     .next_update(now + datetime.timedelta(days=30)))
for s in sys.argv[5:]:
    b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
        .serial_number(int(s, 16)).revocation_date(now - datetime.timedelta(hours=1)).build())
unknown = x509.UnrecognizedExtension(ObjectIdentifier('1.3.6.1.4.1.55555.1'), b'\x05\x00')
def idp(**kw):
    args = dict(full_name=None, relative_name=None, only_contains_user_certs=False,
                only_contains_ca_certs=False, only_some_reasons=None, indirect_crl=False,
                only_contains_attribute_certs=False)
    args.update(kw)
    return x509.IssuingDistributionPoint(**args)
if flavor == 'none':
    pass
elif flavor == 'delta':
    b = b.add_extension(x509.CRLNumber(7), False).add_extension(x509.DeltaCRLIndicator(6), True)
elif flavor == 'unknown':
    b = b.add_extension(x509.CRLNumber(7), False).add_extension(unknown, False)
elif flavor == 'unknown-critical':
    b = b.add_extension(x509.CRLNumber(7), False).add_extension(unknown, True)
elif flavor == 'idp-uri':
    b = b.add_extension(idp(full_name=[x509.UniformResourceIdentifier(IDP_URI)]), True)
elif flavor == 'idp-user':
    b = b.add_extension(idp(only_contains_user_certs=True), True)
elif flavor == 'idp-ca':
    b = b.add_extension(idp(only_contains_ca_certs=True), True)
elif flavor == 'idp-indirect':
    b = b.add_extension(idp(indirect_crl=True), True)
else:
    sys.exit('unknown flavor ' + flavor)
open(out, 'wb').write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
"#;

fn python_crl(work: &Workdir, flavor: &str, ca: &Ca, revoked: &[&Leaf]) -> PathBuf {
    let script = work.write("crl.py", format!("IDP_URI = {IDP_URI:?}\n{PYTHON_CRL}"));
    let ca_pem = work.write("py-ca.pem", ca.pem());
    let ca_key = work.write("py-ca-key.pem", ca.key_pem());
    let out = work.path().join(format!("py-{flavor}.pem"));
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(&ca_pem)
        .arg(&ca_key)
        .arg(flavor)
        .arg(&out);
    for l in revoked {
        cmd.arg(hex(&l.serial()));
    }
    run(&mut cmd);
    out
}

/// cRLDistributionPoints with one fullName URI.
fn crl_dp(uri: &str) -> Vec<u8> {
    let name = der_encode(0x86, uri.as_bytes());
    let full = der_encode(0xA0, &name);
    let dp_name = der_encode(0xA0, &full);
    der_encode(0x30, &der_encode(0x30, &dp_name))
}

struct Pki {
    work: Workdir,
    root: Ca,
    ca: PathBuf,
    good: Leaf,
    revoked: Leaf,
}

fn pki() -> Pki {
    let work = Workdir::new();
    let root = Ca::root("CRL Root CA");
    let ca = work.write("client-ca.pem", root.pem());
    let good = root.client("good");
    let revoked = root.client("revoked");
    Pki {
        work,
        root,
        ca,
        good,
        revoked,
    }
}

impl Pki {
    /// The usual pair: a good and a revoked client.
    fn probes(&self, good: &'static str, revoked: &'static str) -> Vec<Probe> {
        vec![
            Probe::leaf(&self.work, "good", &self.good, good),
            Probe::leaf(&self.work, "revoked", &self.revoked, revoked),
        ]
    }
}

#[test]
fn crls_from_openssl_ca_with_and_without_crlnumber_like_nginx() {
    let p = pki();
    let mut failures = Vec::new();
    // No crlnumber file: a version 1 CRL without extensions (webpki refuses it).
    let v1 = openssl_ca_crl(&p.work, "v1", &p.root, &[&p.revoked], false, "");
    let text = openssl_text(&v1);
    assert!(
        text.contains("Version 1 (0x0)") && !text.contains("CRL extensions"),
        "{text}"
    );
    failures.extend(compare(
        &p.work,
        "openssl ca, no crlnumber",
        &p.ca,
        &v1,
        &p.probes("SUCCESS", "FAILED:certificate revoked"),
    ));
    let v2 = openssl_ca_crl(&p.work, "v2", &p.root, &[&p.revoked], true, "");
    assert!(openssl_text(&v2).contains("X509v3 CRL Number"));
    failures.extend(compare(
        &p.work,
        "openssl ca, crlnumber",
        &p.ca,
        &v2,
        &p.probes("SUCCESS", "FAILED:certificate revoked"),
    ));
    // A version 2 CRL with an authorityKeyIdentifier and an Issuing
    // Distribution Point naming a URI: certificates without a matching
    // cRLDistributionPoints (the root included, nginx checks the whole
    // chain) are out of its scope.
    let idp = openssl_ca_crl(
        &p.work,
        "idp",
        &p.root,
        &[&p.revoked],
        true,
        &format!(
            "authorityKeyIdentifier = keyid\nissuingDistributionPoint = critical, @idp\n[idp]\nfullname = URI:{IDP_URI}"
        ),
    );
    assert!(openssl_text(&idp).contains("Issuing Distribution Point"));
    let with_dp =
        p.root
            .leaf(LeafSpec::client("with-dp").extension(&[2, 5, 29, 31], crl_dp(IDP_URI), false));
    let mut probes = p.probes(
        "FAILED:unable to get certificate CRL",
        "FAILED:unable to get certificate CRL",
    );
    probes.push(Probe::leaf(
        &p.work,
        "with-dp",
        &with_dp,
        "FAILED:unable to get certificate CRL",
    ));
    failures.extend(compare(&p.work, "openssl ca, IDP", &p.ca, &idp, &probes));
    assert_none(failures);
}

#[test]
fn crls_from_python_cryptography_like_nginx() {
    let p = pki();
    let mut failures = Vec::new();
    for (flavor, good, revoked) in [
        // No extensions at all (webpki refuses it: MalformedExtensions).
        ("none", "SUCCESS", "FAILED:certificate revoked"),
        // OpenSSL without delta support uses a delta CRL as a complete one.
        ("delta", "SUCCESS", "FAILED:certificate revoked"),
        ("unknown", "SUCCESS", "FAILED:certificate revoked"),
        // Loaded, then every certificate it covers fails; for a revoked
        // leaf too, as the root's own check (after the leaf's) reports it last.
        (
            "unknown-critical",
            "FAILED:unhandled critical CRL extension",
            "FAILED:unhandled critical CRL extension",
        ),
        // Only user certificates: the root's own check finds no CRL.
        (
            "idp-user",
            "FAILED:unable to get certificate CRL",
            "FAILED:unable to get certificate CRL",
        ),
        (
            "idp-ca",
            "FAILED:unable to get certificate CRL",
            "FAILED:unable to get certificate CRL",
        ),
        // Indirect CRLs need extended CRL support, which nginx does not ask for.
        (
            "idp-indirect",
            "FAILED:unable to get certificate CRL",
            "FAILED:unable to get certificate CRL",
        ),
    ] {
        let crl = python_crl(&p.work, flavor, &p.root, &[&p.revoked]);
        failures.extend(compare(
            &p.work,
            &format!("cryptography {flavor}"),
            &p.ca,
            &crl,
            &p.probes(good, revoked),
        ));
    }
    assert_none(failures);
}

#[test]
fn crls_from_certs_crl_like_nginx() {
    let work = Workdir::new();
    let pki = certs_support::Pki::init(work.path(), "pki", &[]);
    let alice = pki.client("alice", &[]);
    let bob = pki.client("bob", &[]);
    let ca_dir = pki.dir.to_str().unwrap();
    let serial_alice = certs_support::serial(&alice.cert);
    certs_support::certs_ok(&["revoke", "--ca", ca_dir, &serial_alice]);
    let probes = [
        Probe {
            name: "alice (revoked)".into(),
            chain: alice.chain.clone(),
            key: alice.key.clone(),
            nginx_says: "FAILED:certificate revoked",
        },
        Probe {
            name: "bob".into(),
            chain: bob.chain.clone(),
            key: bob.key.clone(),
            nginx_says: "SUCCESS",
        },
    ];
    assert_none(compare(
        &work,
        "certs crl",
        &pki.path("ca.crt"),
        &pki.path("crl.pem"),
        &probes,
    ));
}

fn openssl_text(crl: &Path) -> String {
    let (code, out, err) = run_output(
        Command::new("openssl")
            .args(["crl", "-noout", "-text", "-in"])
            .arg(crl),
    );
    assert_eq!(code, 0, "{err}");
    out
}
