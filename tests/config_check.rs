//! `mtls-gateway check` and start-up validation: the seed configuration is
//! accepted as written; a bad one is refused with every problem named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::process::Command;

use common::*;

fn check(path: &std::path::Path) -> (i32, String, String) {
    run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(path),
    )
}

#[test]
fn the_shipped_seed_configuration_is_ok() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway.toml");
    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("configuration OK"), "{out}");
    // Its example keys are public in the repository: loopback only (./demo.sh runs it).
    assert!(out.contains("server[0] on 127.0.0.1:3443:"), "{out}");
    // The configuration's spelling, not Rust's (`verify_client On`).
    assert!(out.contains(r#"verify_client = "on""#), "{out}");
    assert!(!out.contains("0.0.0.0"), "{out}");
    // It describes the nginx block it replaces itself; it cites no file
    // outside the repository.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("#       ssl_verify_client on;"), "{text}");
    for outside in ["shared/", "seed"] {
        assert!(
            !text.contains(outside),
            "config/gateway.toml cites {outside:?}"
        );
    }
}

#[test]
fn every_problem_is_named_at_once_with_file_and_key() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    let other = root.server(&["localhost"]);
    work.write("server.pem", server.chain(0));
    work.write("wrong-key.pem", &other.key_pem);
    work.write("ca.pem", root.pem());
    let path = work.write(
        "bad.toml",
        r#"
[[server]]
listen = ["127.0.0.1:3443"]
colour = "blue"
lingering_timeout = "soon"
send_timeout = "0s"
[server.tls]
certificate = "server.pem"
certificate_key = "wrong-key.pem"
protocols = ["TLSv1.1", "TLSv1.3"]
session_timeout = "ten minutes"
[server.client_auth]
verify_client = "required"
client_certificate = "missing.pem"
verify_depth = 7
[[server.location]]
prefix = "/api"
proxy_pass = "http://nowhere"
[server.location.proxy_set_header]
X-SSL-Client-DN = "$ssl_client_dn"
Transfer-Encoding = "chunked"
[[server.location]]
prefix = "/"
return = { status = 404, text = "x" }
proxy_pass = "http://backend"
[upstream.backend]
server = ["127.0.0.1:99999"]
keepalive = -1
keepalive_timeout = "0s"
"#,
    );
    let (code, _, err) = check(&path);
    assert_ne!(code, 0);
    let file = path.display().to_string();
    let expected = [
        "server[0].colour: unknown key",
        "server[0].lingering_timeout: invalid duration",
        "server[0].send_timeout: must be more than 0",
        "server[0].tls.certificate_key: does not match the certificate",
        "server[0].tls.protocols[0]: TLSv1.1 is not supported",
        "server[0].tls.session_timeout: invalid duration",
        "server[0].client_auth.verify_client: \"required\" is not one of",
        "server[0].client_auth.client_certificate: cannot read",
        "server[0].client_auth.verify_depth: 7 is out of range",
        "server[0].location[0].proxy_set_header.X-SSL-Client-DN: unknown variable `$ssl_client_dn`",
        "server[0].location[0].proxy_set_header.Transfer-Encoding: this header belongs to the gateway",
        "server[0].location[0].proxy_pass: no [upstream.nowhere] is defined",
        "server[0].location[1]: set either `return` or `proxy_pass`, not both",
        "upstream.backend.server[0]: \"127.0.0.1:99999\": invalid port",
        "upstream.backend.keepalive: must be between 0 and 100000 idle connections, not -1",
        "upstream.backend.keepalive_timeout: must be more than 0",
    ];
    for e in expected {
        assert!(
            err.contains(&format!("{file}: {e}")),
            "missing {e:?} in:\n{err}"
        );
    }
    // `run` refuses to start on the same file, with the same messages, and binds nothing.
    let (code, _, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["run", "--config"])
            .arg(&path),
    );
    assert_ne!(code, 0);
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains("unknown variable `$ssl_client_dn`"), "{err}");
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let work = Workdir::new();
    let path = work.write("broken.toml", "[[server]]\nlisten = [\"127.0.0.1:1\"\n");
    let (code, _, err) = check(&path);
    assert_ne!(code, 0);
    assert!(
        err.contains("broken.toml") && err.contains("line 2"),
        "{err}"
    );
}

/// Unknown keys get the closest known one, nginx directive names written
/// by habit are mapped to ours, and a TOML type error shows its line with
/// a caret under the value.
#[test]
fn unknown_keys_are_explained_and_type_errors_point_at_the_value() {
    let work = Workdir::new();
    let path = work.write(
        "typo.toml",
        "worker_connections = 100\n[[server]]\nlisten = \"127.0.0.1:3443\"\nssl_verify_client = \"on\"\n[server.tls]\nssl_certificate = \"s.pem\"\n[server.client_auth]\nverify_clinet = \"on\"\n",
    );
    let (code, _, err) = check(&path);
    assert_ne!(code, 0);
    let file = path.display().to_string();
    for e in [
        "worker_connections: unknown key; nginx's `worker_connections` is `max_connections` here",
        "server[0].ssl_verify_client: unknown key; nginx's `ssl_verify_client` is `verify_client` in [server.client_auth]",
        "server[0].tls.ssl_certificate: unknown key; nginx's `ssl_certificate` is `certificate` here",
        "server[0].client_auth.verify_clinet: unknown key; did you mean `verify_client`?",
    ] {
        assert!(
            err.contains(&format!("{file}: {e}")),
            "missing {e:?} in:\n{err}"
        );
    }

    let path = work.write(
        "types.toml",
        "[[server]]\nlisten = \"127.0.0.1:3443\"\n[server.client_auth]\nverify_depth = \"1\"\n",
    );
    let (code, _, err) = check(&path);
    assert_ne!(code, 0);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0]
            .ends_with("types.toml: line 4, column 16: invalid type: string \"1\", expected i64"),
        "{err}"
    );
    assert_eq!(lines[1], "  4 | verify_depth = \"1\"", "{err}");
    assert_eq!(lines[2], "    |                ^^^", "{err}");
    assert_eq!(
        lines[2].find('^'),
        lines[1].find('"'),
        "caret under the value"
    );
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    std::fs::create_dir(work.path().join("etc")).unwrap();
    std::fs::create_dir(work.path().join("pki")).unwrap();
    work.write("pki/server.pem", server.chain(0));
    work.write("pki/server-key.pem", &server.key_pem);
    work.write("pki/ca.pem", root.pem());
    let path = work.write(
        "etc/gw.toml",
        r#"
[[server]]
listen = "127.0.0.1:0"
[server.tls]
certificate = "../pki/server.pem"
certificate_key = "../pki/server-key.pem"
[server.client_auth]
verify_client = "on"
client_certificate = "../pki/ca.pem"
[[server.location]]
prefix = "/"
return = { status = 200, text = "ok" }
"#,
    );
    // Run from another working directory.
    let (code, out, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .current_dir("/")
            .args(["check", "--config"])
            .arg(&path),
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// An expired server certificate: nginx starts and serves it, and so does
/// the gateway (one server's certificate must not take the others down),
/// but `check` says so loudly, the start logs it as an error and the expiry
/// metric is negative. (A reload to an expired certificate is refused:
/// tests/reload.rs.)
#[test]
fn an_expired_server_certificate_is_served_and_said_loudly() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let mut spec = LeafSpec::client("gw").expired();
    spec.sans = vec!["localhost".into()];
    let server = root.leaf(spec);
    work.write("server.pem", &server.cert_pem);
    work.write("server-key.pem", &server.key_pem);
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = format!(
        "[admin]\nlisten = \"{admin}\"\n[[server]]\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificate = \"server.pem\"\ncertificate_key = \"server-key.pem\"\n[[server.location]]\nprefix = \"/\"\nreturn = {{ status = 200, text = \"served\" }}\n"
    );
    let path = work.write("gateway.toml", &text);
    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning: server[0].tls.certificate: EXPIRED on")
            && err.contains("every client refuses this server"),
        "{err}"
    );
    assert!(
        out.contains("configuration OK, with 1 warning(s) above"),
        "{out}"
    );

    let gw = Gateway::start(work.path(), &text);
    assert!(
        gw.logs().contains("server[0].tls.certificate: EXPIRED on"),
        "{}",
        gw.logs()
    );
    // It is served: a client that ignores dates gets the page.
    let (_, body, _) = run_output(Command::new("curl").args([
        "-sS",
        "-k",
        "--resolve",
        &format!("localhost:{}:127.0.0.1", gw.port()),
        &format!("https://localhost:{}/", gw.port()),
    ]));
    assert_eq!(body, "served");
    let (_, metrics, _) =
        run_output(Command::new("curl").args(["-sS", &format!("http://{admin}/metrics")]));
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                "mtls_gateway_certificate_expiry_seconds{server=\"server[0]\",kind=\"server\"",
            )
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value < 0.0, "{line}");
}

/// `check` warns about configurations that load but refuse clients: a CA
/// bundle whose client-issuing CA needs a larger verify_depth, a non-CA
/// certificate in the bundle, a server certificate expiring soon.
#[test]
fn check_warns_about_configs_that_refuse_every_client() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let int = root.intermediate("Int");
    let sub = int.intermediate("Sub");
    let stray = root.client("stray-leaf");
    let mut spec = LeafSpec::client("gw");
    spec.sans = vec!["localhost".into()];
    spec.eku = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    spec.not_after = time::OffsetDateTime::now_utc() + time::Duration::hours(10 * 24 + 12);
    let server = root.leaf(spec);
    work.write("server.pem", &server.cert_pem);
    work.write("server-key.pem", &server.key_pem);
    work.write(
        "bundle.pem",
        format!("{}{}{}{}", root.pem(), int.pem(), sub.pem(), stray.cert_pem),
    );
    let path = work.write(
        "gw.toml",
        "[[server]]\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificate = \"server.pem\"\ncertificate_key = \"server-key.pem\"\n[server.client_auth]\nverify_client = \"on\"\nclient_certificate = \"bundle.pem\"\nverify_depth = 1\n",
    );
    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "{out}{err}");
    let file = path.display().to_string();
    for e in [
        "warning: server[0].client_auth.client_certificate: verify_depth = 1 refuses every client certificate issued by `CN=Sub,O=Example,C=RU`: its chain has 2 intermediate(s); set verify_depth = 2 (as it stands, no CA of the bundle can issue an accepted client certificate)",
        "warning: server[0].client_auth.client_certificate: `CN=stray-leaf,OU=Dev,O=Example,C=RU` is not a CA certificate",
        "warning: server[0].tls.certificate: expires in 10 day(s)",
    ] {
        assert!(
            err.contains(&format!("{file}: {e}")),
            "missing {e:?} in:\n{err}"
        );
    }
    assert_eq!(err.matches("warning:").count(), 3, "{err}");
    // The horizon is a flag.
    let (_, _, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--expiry-warning-days", "5", "--config"])
            .arg(&path),
    );
    assert!(!err.contains("expires in"), "{err}");
}

#[test]
fn a_taken_port_is_a_clear_start_up_error() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let logs = Gateway::try_start(
        work.path(),
        &format!("[[server]]\nlisten = \"127.0.0.1:{port}\"\n[server.tls]\ncertificate = \"server.pem\"\ncertificate_key = \"server-key.pem\"\n"),
    )
    .err()
    .expect("must not start");
    assert!(
        logs.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{logs}"
    );
}

/// A passphrase-protected key is named as such, with the command that
/// decrypts it (it used to be "no usable private key").
#[test]
fn an_encrypted_key_says_so_and_how_to_decrypt_it() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    work.write("server.pem", server.chain(0));
    let plain = work.write("plain-key.pem", &server.key_pem);
    let encrypted = work.path().join("server-key.pem");
    let (code, out, err) = run_output(Command::new("openssl").args([
        "pkey",
        "-in",
        plain.to_str().unwrap(),
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        encrypted.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let path = work.write(
        "gw.toml",
        "[[server]]\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificate = \"server.pem\"\ncertificate_key = \"server-key.pem\"\n",
    );
    let (code, _, err) = check(&path);
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "the private key is encrypted (passphrase-protected); encrypted keys are not supported"
        ) && err.contains(&format!("openssl pkey -in {}", encrypted.display())),
        "{err}"
    );
}

/// A server chain written root first: the key matches a later certificate
/// of the file, and the error says the order is wrong (it used to say the
/// key does not match the certificate).
#[test]
fn a_chain_in_the_wrong_order_is_named_as_such() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    work.write("server.pem", format!("{}{}", root.pem(), server.cert_pem));
    work.write("server-key.pem", &server.key_pem);
    let path = work.write(
        "gw.toml",
        "[[server]]\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificate = \"server.pem\"\ncertificate_key = \"server-key.pem\"\n",
    );
    let (code, _, err) = check(&path);
    assert_ne!(code, 0);
    assert!(
        err.contains("server[0].tls.certificate: the key belongs to certificate #2 of the file: the chain is in the wrong order"),
        "{err}"
    );
    assert!(!err.contains("does not match"), "{err}");
}

/// A port below 1024 refused to a non-root user: the error says how to
/// grant it (the unit's capability, setcap), and is printed once.
#[test]
fn a_privileged_port_refused_says_how_and_is_printed_once() {
    use std::os::unix::fs::PermissionsExt;
    let unprivileged_start: u32 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
    if unprivileged_start <= 443 {
        eprintln!("skipped: this machine lets any user bind port 443");
        return;
    }
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    let path = work.write(
        "gw.toml",
        "pid = \"/dev/null/none\"\n[[server]]\nlisten = \"127.0.0.1:443\"\n[server.tls]\ncertificate = \"server.pem\"\ncertificate_key = \"server-key.pem\"\n",
    );
    // Readable by the unprivileged user the test runs the gateway as.
    for f in ["", "server.pem", "server-key.pem", "gw.toml"] {
        let p = work.path().join(f);
        let mode = if f.is_empty() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_mtls-gateway");
    let is_root = run_output(Command::new("id").arg("-u")).1.trim() == "0";
    let mut cmd = if is_root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            bin,
        ]);
        c
    } else {
        Command::new(bin)
    };
    let (code, out, err) = run_output(cmd.args(["run", "--config"]).arg(&path));
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("cannot listen on 127.0.0.1:443")
            && err.contains("CAP_NET_BIND_SERVICE")
            && err.contains("setcap cap_net_bind_service=+ep"),
        "{err}"
    );
    assert_eq!(
        err.matches("cannot listen on").count(),
        1,
        "printed twice:\n{err}"
    );
}
