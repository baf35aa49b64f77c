//! `mtls-gateway import-nginx`: nginx configurations in, gateway TOML out.
//!
//! The output must pass `mtls-gateway check`; every directive not carried
//! over is one warning with its file and line; the exit status says whether
//! something security-relevant was dropped; and, by behaviour, the gateway
//! running the converted file answers the parity cases (no certificate, good,
//! expired, wrong CA, forged identity headers, paths) with the status and the
//! identity headers a real nginx gives with the original file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use mtls_gateway::import::rules::{self, Feature};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nginx")
        .join(name)
}

/// `import-nginx CONF [args]`: (exit code, stdout, stderr).
fn import(conf: &Path, args: &[&str]) -> (i32, String, String) {
    run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .arg("import-nginx")
            .arg(conf)
            .args(args),
    )
}

fn check(path: &Path) -> (i32, String) {
    let (code, out, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(path),
    );
    (code, format!("{out}{err}"))
}

/// The warning lines of an import's stderr.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(": not carried over: "))
        .collect()
}

/// A PKI under `dir/certs/` with the seed's file names.
fn seed_certs(work: &Workdir) -> Ca {
    std::fs::create_dir_all(work.path().join("certs")).unwrap();
    let root = Ca::root("Client Root CA");
    let server = root.server(&["local.trusted.com", "localhost"]);
    work.write("certs/local.trusted.com.pem", server.chain(0));
    work.write("certs/local.trusted.com-key.pem", &server.key_pem);
    work.write("certs/ca-bundle.crt", root.pem());
    root
}

#[test]
fn the_seed_block_converts_completely_and_passes_check() {
    let work = Workdir::new();
    seed_certs(&work);
    for f in ["seed.conf", "mime.types"] {
        std::fs::copy(fixture(f), work.path().join(f)).unwrap();
    }
    let out = work.path().join("gateway.toml");
    let (code, _, err) = import(
        &work.path().join("seed.conf"),
        &["-o", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(warnings(&err).is_empty(), "{err}");
    let toml = std::fs::read_to_string(&out).unwrap();
    for line in [
        "listen = [\"0.0.0.0:3443\"]",
        "certificate = \"certs/local.trusted.com.pem\"",
        "verify_client = \"on\"",
        "verify_depth = 3",
        "session_cache = 40000",
        "session_timeout = \"10m\"",
        "protocols = [\"TLSv1.2\", \"TLSv1.3\"]",
        "return = { status = 404, text = \"mTLS endpoints only. Use port 443 for regular access.\" }",
        "proxy_pass = \"http://backend\"",
        "X-SSL-Client-DN = \"$ssl_client_s_dn\"",
        "server = [\"127.0.0.1:8080\"]",
    ] {
        assert!(toml.contains(line), "missing {line:?} in\n{toml}");
    }
    let (code, out) = check(&out);
    assert_eq!(code, 0, "{out}\n{toml}");
}

/// The import of the seed's block is the shipped `config/gateway.toml`,
/// apart from what that file adds by hand (the `localhost` name, the
/// default `session_tickets = true`, a loopback listener for trying it out)
/// and where the certificates live.
#[test]
fn the_seed_block_imports_as_the_shipped_configuration() {
    let work = Workdir::new();
    for f in ["seed.conf", "mime.types"] {
        std::fs::copy(fixture(f), work.path().join(f)).unwrap();
    }
    let (code, toml, err) = import(&work.path().join("seed.conf"), &[]);
    assert_eq!(code, 0, "{err}");
    let mut imported: toml::Value = toml::from_str(&toml).unwrap();
    let shipped_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway.toml");
    let mut shipped: toml::Value =
        toml::from_str(&std::fs::read_to_string(shipped_path).unwrap()).unwrap();
    let file_names = |v: &mut toml::Value| {
        let server = &mut v["server"][0];
        for (table, key) in [
            ("tls", "certificate"),
            ("tls", "certificate_key"),
            ("client_auth", "client_certificate"),
        ] {
            let p = server[table][key].as_str().unwrap().to_string();
            let name = Path::new(&p)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            server[table][key] = toml::Value::String(name);
        }
        let server = server.as_table_mut().unwrap();
        server.remove("server_name");
        server.remove("listen");
        server["tls"]
            .as_table_mut()
            .unwrap()
            .remove("session_tickets");
    };
    file_names(&mut imported);
    file_names(&mut shipped);
    assert_eq!(imported, shipped, "imported:\n{toml}");
}

#[test]
fn without_output_the_toml_goes_to_stdout_with_absolute_paths() {
    let work = Workdir::new();
    seed_certs(&work);
    for f in ["seed.conf", "mime.types"] {
        std::fs::copy(fixture(f), work.path().join(f)).unwrap();
    }
    let (code, toml, err) = import(&work.path().join("seed.conf"), &[]);
    assert_eq!(code, 0, "{err}");
    let cert = work.path().join("certs/local.trusted.com.pem");
    assert!(
        toml.contains(&format!("certificate = \"{}\"", cert.display())),
        "{toml}"
    );
    // Checked from another folder: the paths do not depend on where it is written.
    let elsewhere = Workdir::new();
    let (code, out) = check(&elsewhere.write("g.toml", &toml));
    assert_eq!(code, 0, "{out}");
}

/// Several servers, upstreams and includes (a glob in `http`, a plain file
/// inside `server`), inheritance from `http`, a plain-HTTP redirect server,
/// and the warnings with their file and line.
#[test]
fn several_servers_upstreams_and_includes() {
    let work = Workdir::new();
    let root = Ca::root("Client Root CA");
    let server = root.server(&["a.test", "b.test"]);
    std::fs::create_dir_all(work.path().join("conf.d")).unwrap();
    std::fs::create_dir_all(work.path().join("snippets")).unwrap();
    std::fs::create_dir_all(work.path().join("tls")).unwrap();
    work.write("tls/server.pem", server.chain(0));
    work.write("tls/server-key.pem", &server.key_pem);
    work.write("tls/ca.pem", root.pem());
    let main = work.write(
        "nginx.conf",
        "user www-data;\nworker_processes auto;\nevents { worker_connections 768; }\n\
         http {\n\
         \x20 proxy_set_header X-Forwarded-Proto $scheme;\n\
         \x20 proxy_read_timeout 30s;\n\
         \x20 client_max_body_size 2m;\n\
         \x20 gzip on;\n\
         \x20 include conf.d/*.conf;\n\
         }\n",
    );
    work.write(
        "conf.d/00-upstreams.conf",
        "upstream app {\n  server 127.0.0.1:9001 weight=2;\n  server 127.0.0.1:9002;\n  server 127.0.0.1:9003 backup;\n  keepalive 16;\n}\n\
         upstream unused { server 127.0.0.1:9999; }\n",
    );
    work.write(
        "conf.d/a.conf",
        "server {\n  listen 8443 ssl;\n  server_name a.test;\n  include snippets/tls.conf;\n\
         \x20 location / {\n    proxy_pass http://app;\n  }\n\
         \x20 location = /health {\n    return 200 \"ok\";\n  }\n\
         \x20 location /own {\n    proxy_set_header X-Own yes;\n    proxy_pass http://127.0.0.1:9100;\n  }\n\
         }\n",
    );
    work.write(
        "conf.d/b.conf",
        "server {\n  listen 8443 ssl default_server;\n  server_name b.test;\n  include snippets/tls.conf;\n\
         \x20 location / {\n    add_header X-Frame-Options DENY;\n    proxy_pass http://app;\n  }\n\
         }\n\
         server {\n  listen 80;\n  server_name a.test;\n  return 301 https://$host$request_uri;\n}\n",
    );
    work.write("conf.d/ignored.conf.bak", "this is not { valid nginx");
    work.write(
        "snippets/tls.conf",
        "ssl_certificate tls/server.pem;\nssl_certificate_key tls/server-key.pem;\n\
         ssl_client_certificate tls/ca.pem;\nssl_verify_client on;\n",
    );
    let out = work.path().join("gateway.toml");
    let (code, _, err) = import(&main, &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let toml = std::fs::read_to_string(&out).unwrap();
    let (check_code, check_out) = check(&out);
    assert_eq!(check_code, 0, "{check_out}\n{toml}");

    // The default server comes first, as the gateway's default is the first.
    let b = toml.find("server_name = [\"b.test\"]").expect("b.test");
    let a = toml.find("server_name = [\"a.test\"]").expect("a.test");
    assert!(b < a, "{toml}");
    // http-level settings are inherited by each server, as in nginx.
    assert_eq!(
        toml.matches("client_max_body_size = \"2m\"").count(),
        2,
        "{toml}"
    );
    assert_eq!(
        toml.matches("X-Forwarded-Proto = \"$scheme\"").count(),
        2,
        "{toml}"
    );
    // A location with its own proxy_set_header replaces the inherited ones.
    let own = &toml[toml.find("prefix = \"/own\"").unwrap()..];
    let own = &own[..own.find("[[server.location]]").unwrap_or(own.len())];
    assert!(own.contains("X-Own = \"yes\""), "{own}");
    assert!(own.contains("proxy_read_timeout = \"30s\""), "{own}");
    assert!(toml.contains("exact = \"/health\""), "{toml}");
    assert!(
        toml.contains("server = [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]\nkeepalive = 16"),
        "{toml}"
    );
    assert!(
        !toml.contains("unused"),
        "only upstreams in use are written:\n{toml}"
    );
    assert!(toml.contains("certificate = \"tls/server.pem\""), "{toml}");

    // One warning per directive, with the file and line it was written on.
    let w = warnings(&err);
    let conf_d = work.path().join("conf.d");
    let expect = [
        (work.path().join("nginx.conf"), 8, "gzip on"),
        (
            conf_d.join("00-upstreams.conf"),
            2,
            "server 127.0.0.1:9001 weight=2",
        ),
        (
            conf_d.join("00-upstreams.conf"),
            4,
            "server 127.0.0.1:9003 backup",
        ),
        (conf_d.join("b.conf"), 6, "add_header X-Frame-Options DENY"),
        (
            conf_d.join("b.conf"),
            10,
            "server: not carried over: a server without an ssl listener",
        ),
    ];
    for (file, line, directive) in expect {
        let prefix = format!("{}:{line}: {directive}", file.display());
        assert!(
            w.iter().any(|l| l.starts_with(&prefix)),
            "no warning {prefix:?} in\n{err}"
        );
    }
    assert!(w.iter().all(|l| !l.contains("[security]")), "{err}");
    assert_eq!(w.len(), 5, "{err}");
}

#[test]
fn security_relevant_drops_exit_2_and_are_marked() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    work.write("ca.pem", root.pem());
    let conf = work.write(
        "nginx.conf",
        r#"http {
  server {
    listen 443 ssl;
    ssl_certificate server.pem;
    ssl_certificate_key server-key.pem;
    ssl_client_certificate ca.pem;
    ssl_verify_client optional;
    location / {
      allow 10.0.0.0/8;
      deny all;
      proxy_pass http://127.0.0.1:9000;
    }
    location ~ \.php$ { proxy_pass http://127.0.0.1:9001; }
    location /admin {
      auth_basic "admins";
      proxy_pass http://127.0.0.1:9000;
    }
    location /closed { deny all; }
  }
}
"#,
    );
    let out = work.path().join("gateway.toml");
    let (code, _, err) = import(&conf, &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let w = warnings(&err);
    let at = |line: u32| format!("{}:{line}: [security] ", conf.display());
    for line in [9, 13, 15] {
        assert!(
            w.iter().any(|l| l.starts_with(&at(line))),
            "line {line}:\n{err}"
        );
    }
    let toml = std::fs::read_to_string(&out).unwrap();
    // `deny all` with `allow` rules: closed, never open.
    let root_loc = &toml[toml.find("prefix = \"/\"").unwrap()..];
    assert!(
        root_loc.starts_with("prefix = \"/\"\nreturn = { status = 403 }"),
        "{toml}"
    );
    // `deny all` alone is carried as a 403, without a warning.
    assert!(
        toml.contains("prefix = \"/closed\"\nreturn = { status = 403 }"),
        "{toml}"
    );
    assert!(
        !w.iter()
            .any(|l| l.starts_with(&format!("{}:18:", conf.display()))),
        "{err}"
    );
    let (code, out) = check(&out);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_verify_idiom_is_carried_or_flagged() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    work.write("ca.pem", root.pem());
    let conf_for = |mode: &str| {
        format!(
            "http {{ server {{\n listen 443 ssl;\n ssl_certificate server.pem;\n ssl_certificate_key server-key.pem;\n \
             ssl_client_certificate ca.pem;\n ssl_verify_client {mode};\n location /admin {{\n  \
             if ($ssl_client_verify != \"SUCCESS\") {{ return 403; }}\n  proxy_pass http://127.0.0.1:9000;\n }}\n}} }}\n"
        )
    };
    // With `on` the block can never fire: carried as is.
    let conf = work.write("on.conf", conf_for("on"));
    let (code, toml, err) = import(&conf, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!toml.contains("require_verified"), "{toml}");
    // With `optional` it needs `require_verified`.
    let conf = work.write("optional.conf", conf_for("optional"));
    let (code, toml, err) = import(&conf, &[]);
    if rules::supported(Feature::RequireVerified) {
        assert_eq!(code, 0, "{err}");
        assert!(toml.contains("require_verified = true"), "{toml}");
    } else {
        assert_eq!(code, 2, "{err}");
        let w = warnings(&err);
        assert_eq!(w.len(), 1, "{err}");
        assert!(
            w[0].starts_with(&format!(
                "{}:8: [security] if ($ssl_client_verify != SUCCESS)",
                conf.display()
            )),
            "{err}"
        );
        assert!(
            w[0].contains("needs a gateway that supports require_verified"),
            "{err}"
        );
        assert!(!toml.contains("require_verified"), "{toml}");
    }
}

#[test]
fn keys_of_features_in_progress_are_written_only_when_supported() {
    let work = Workdir::new();
    let conf = work.write(
        "nginx.conf",
        "http { server {\n listen 443 ssl proxy_protocol;\n ssl_certificate s.pem;\n ssl_certificate_key k.pem;\n \
         ssl_client_certificate ca.pem;\n ssl_verify_client on;\n ssl_ocsp on;\n ssl_session_ticket_key t1.key;\n \
         ssl_session_ticket_key t0.key;\n set_real_ip_from 10.0.0.0/8;\n real_ip_header proxy_protocol;\n \
         location / { proxy_pass https://127.0.0.1:9443; proxy_ssl_verify on; }\n} }\n",
    );
    let (code, toml, err) = import(&conf, &[]);
    let cases: [(Feature, &str, u32); 5] = [
        (Feature::ProxyProtocol, "proxy_protocol = true", 2),
        (Feature::Ocsp, "ocsp = \"on\"", 7),
        (Feature::SessionTicketKey, "session_ticket_key = [", 8),
        (
            Feature::ProxyProtocol,
            "set_real_ip_from = [\"10.0.0.0/8\"]",
            10,
        ),
        (
            Feature::UpstreamTls,
            "proxy_pass = \"https://127.0.0.1:9443\"",
            12,
        ),
    ];
    for (feature, key, line) in cases {
        let warned = warnings(&err)
            .iter()
            .any(|l| l.starts_with(&format!("{}:{line}:", conf.display())));
        if rules::supported(feature) {
            assert!(toml.contains(key), "{key} missing:\n{toml}");
        } else {
            assert!(!toml.contains(key), "{key} written:\n{toml}");
            assert!(warned, "no warning for line {line}:\n{err}");
        }
    }
    // Dropping OCSP weakens revocation checking: security-relevant.
    if !rules::supported(Feature::Ocsp) {
        assert_eq!(code, 2, "{err}");
    }
}

#[test]
fn odd_syntax_is_read_as_nginx_reads_it() {
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    std::fs::create_dir_all(work.path().join("my certs")).unwrap();
    work.write("my certs/server.pem", server.chain(0));
    work.write("my certs/server-key.pem", &server.key_pem);
    work.write("ca.pem", root.pem());
    let conf = work.write(
        "nginx.conf",
        "http{server{listen 127.0.0.1:8443 ssl;ssl_certificate \"my certs/server.pem\";\
         ssl_certificate_key 'my certs/server-key.pem';#comment; with {braces}\n\
         ssl_client_certificate ca.pem;ssl_verify_client optional_no_ca;\n\
         location =/x{return 200 \"a;b {c} # d \\\"q\\\" ${ssl_client_verify}\";}\n\
         location ^~/y { return 200 'it\\'s'; }\n\
         location / { proxy_set_header X-Verify \"${ssl_client_verify}\"; proxy_pass http://127.0.0.1:9000; }}}",
    );
    let out = work.path().join("gateway.toml");
    let (code, _, err) = import(&conf, &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let toml = std::fs::read_to_string(&out).unwrap();
    let parsed: toml::Value = toml::from_str(&toml).unwrap();
    let s = &parsed["server"][0];
    assert_eq!(
        s["tls"]["certificate"].as_str(),
        Some("my certs/server.pem")
    );
    let loc = s["location"].as_array().unwrap();
    assert_eq!(loc[0]["exact"].as_str(), Some("/x"));
    assert_eq!(
        loc[0]["return"]["text"].as_str(),
        Some("a;b {c} # d \"q\" ${ssl_client_verify}")
    );
    assert_eq!(loc[1]["prefix"].as_str(), Some("/y"));
    assert_eq!(loc[1]["return"]["text"].as_str(), Some("it's"));
    assert_eq!(
        loc[2]["proxy_set_header"]["X-Verify"].as_str(),
        Some("${ssl_client_verify}")
    );
    let (code, out) = check(&out);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn broken_input_writes_nothing_and_names_file_and_line() {
    let work = Workdir::new();
    let out = work.path().join("gateway.toml");
    let o = out.to_str().unwrap();
    let cases: [(&str, &str, &str); 6] = [
        (
            "unclosed.conf",
            "http {\n server {\n",
            "unexpected end of file",
        ),
        (
            "quote.conf",
            "http { a \"b;\n}\n",
            "line 1: unexpected end of file inside a quoted string",
        ),
        (
            "glued.conf",
            "a \"b\"c;\n",
            "line 1: unexpected \"c\" after a closing quote",
        ),
        ("stray.conf", "a;\n}\n", "line 2: unexpected \"}\""),
        (
            "missing.conf",
            "http {\n include nowhere.conf;\n}\n",
            "nowhere.conf: cannot read",
        ),
        (
            "cycle.conf",
            "include cycle.conf;\n",
            "cycle.conf:1: include: includes nested deeper than",
        ),
    ];
    for (name, text, message) in cases {
        let conf = work.write(name, text);
        let (code, _, err) = import(&conf, &["-o", o]);
        assert_eq!(code, 3, "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(!out.exists(), "{name}: wrote a file");
    }
    // No TLS server at all.
    let conf = work.write("plain.conf", "http { server { listen 80; return 200; } }\n");
    let (code, _, err) = import(&conf, &["-o", o]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nothing to convert"), "{err}");
    // A glob that matches nothing is not an error (nginx agrees).
    let conf = work.write(
        "glob.conf",
        "include none/*.conf;\nhttp { include none-*.conf; }\n",
    );
    let (code, _, err) = import(&conf, &["-o", o]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nothing to convert"), "{err}");
}

#[test]
fn prefix_overrides_the_folder_of_the_file() {
    let work = Workdir::new();
    seed_certs(&work);
    std::fs::create_dir_all(work.path().join("copy")).unwrap();
    std::fs::copy(fixture("seed.conf"), work.path().join("copy/nginx.conf")).unwrap();
    std::fs::copy(fixture("mime.types"), work.path().join("mime.types")).unwrap();
    let conf = work.path().join("copy/nginx.conf");
    // Without --prefix, `include mime.types` is looked up beside the copy.
    let (code, _, err) = import(&conf, &[]);
    assert_eq!(code, 3, "{err}");
    let (code, toml, err) = import(&conf, &["--prefix", work.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let cert = work.path().join("certs/local.trusted.com.pem");
    assert!(toml.contains(&cert.display().to_string()), "{toml}");
}

/// What a client saw in one parity case.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    /// Identity headers as the backend received them (empty when not proxied).
    identity: Vec<(String, Vec<String>)>,
    body: Option<String>,
}

const IDENTITY: [&str; 6] = [
    "x-ssl-client-verify",
    "x-ssl-client-dn",
    "x-ssl-client-serial",
    "x-ssl-client-fingerprint",
    "x-ssl-client-issuer",
    "x-real-ip",
];

fn seen(r: &CurlResponse) -> Seen {
    let proxied = r.body_text().starts_with("GET ");
    Seen {
        status: r.status,
        identity: if proxied {
            IDENTITY
                .iter()
                .map(|h| (h.to_string(), r.echoed(h)))
                .collect()
        } else {
            Vec::new()
        },
        body: (!proxied && r.status == 200 || r.status == 404 && !r.body_text().contains("<html>"))
            .then(|| r.body_text()),
    }
}

/// The converted configuration behaves as nginx did with the original file.
#[test]
fn the_converted_config_answers_like_nginx() {
    let work = Workdir::new();
    let root = Ca::root("Client Root CA");
    let server = root.server(&["on.test", "opt.test"]);
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    work.write("ca.pem", root.pem());
    let alice = root.client("alice");
    let expired = root.leaf(LeafSpec::client("old").expired());
    let stranger = Ca::root("Other CA").client("mallory");
    let backend = Backend::start();
    // nginx runs from <work>/nginx/nginx.conf: relative paths resolve there,
    // so `../server.pem` also tests the prefix rule of the import.
    let http = format!(
        r#"  upstream backend {{ server {backend}; }}
  server {{
    listen 127.0.0.1:{{port0}} ssl;
    server_name on.test;
    ssl_certificate ../server.pem;
    ssl_certificate_key ../server-key.pem;
    ssl_client_certificate ../ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {{ return 404 "mTLS endpoints only"; }}
    location = /exact {{ return 200 "exact"; }}
    location /api/mtls {{
      if ($ssl_client_verify != SUCCESS) {{ return 403; }}
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
      proxy_set_header X-SSL-Client-DN $ssl_client_s_dn;
      proxy_set_header X-SSL-Client-Serial $ssl_client_serial;
      proxy_set_header X-SSL-Client-Fingerprint $ssl_client_fingerprint;
      proxy_set_header X-SSL-Client-Issuer $ssl_client_i_dn;
      proxy_pass http://backend;
    }}
  }}
  server {{
    listen 127.0.0.1:{{port1}} ssl;
    server_name opt.test;
    ssl_certificate ../server.pem;
    ssl_certificate_key ../server-key.pem;
    ssl_client_certificate ../ca.pem;
    ssl_verify_client optional;
    proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
    proxy_set_header X-SSL-Client-DN $ssl_client_s_dn;
    location / {{ proxy_pass http://backend; }}
    location /admin {{
      if ($ssl_client_verify != "SUCCESS") {{ return 403; }}
      proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
      proxy_pass http://backend;
    }}
  }}
"#,
        backend = backend.addr
    );
    let nginx = Nginx::start(work.path(), &http, 2);
    let nginx_conf = work.path().join("nginx/nginx.conf");
    let out = work.path().join("gateway.toml");
    let (code, _, err) = import(&nginx_conf, &["-o", out.to_str().unwrap()]);
    let require_verified = rules::supported(Feature::RequireVerified);
    // Without require_verified the `optional` server's idiom cannot be
    // carried: security-relevant, and /admin is left out of the comparison.
    assert_eq!(code, if require_verified { 0 } else { 2 }, "{err}");
    let toml = std::fs::read_to_string(&out).unwrap();
    // The gateway listens on a port of its own (one address for both
    // servers: SNI selects, as nginx's two ports do here).
    let mut config = toml.clone();
    for port in &nginx.ports {
        config = config.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:0");
    }
    let gw = Gateway::start(work.path(), &config);

    let files = |leaf: &Leaf, name: &str| {
        let cert = work.write(&format!("{name}.pem"), &leaf.cert_pem);
        let key = work.write(&format!("{name}-key.pem"), &leaf.key_pem);
        (cert, key)
    };
    let (alice_cert, alice_key) = files(&alice, "alice");
    let (old_cert, old_key) = files(&expired, "old");
    let (mallory_cert, mallory_key) = files(&stranger, "mallory");
    let server_ca = work.path().join("ca.pem");
    let forged = [
        "-H",
        "X-SSL-Client-DN: CN=admin",
        "-H",
        "X-SSL-Client-Verify: SUCCESS",
        "-H",
        "X_SSL_Client_Serial: 01",
    ];
    type Identity<'a> = Option<(&'a Path, &'a Path)>;
    /// (name, server index, path, client certificate, curl arguments, compare?)
    type Case<'a> = (&'a str, usize, &'a str, Identity<'a>, &'a [&'a str], bool);
    let cases: Vec<Case> = vec![
        ("no certificate", 0, "/api/mtls", None, &[], true),
        (
            "good certificate",
            0,
            "/api/mtls",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
        (
            "expired",
            0,
            "/api/mtls",
            Some((&old_cert, &old_key)),
            &[],
            true,
        ),
        (
            "wrong CA",
            0,
            "/api/mtls",
            Some((&mallory_cert, &mallory_key)),
            &[],
            true,
        ),
        (
            "forged headers",
            0,
            "/api/mtls/x",
            Some((&alice_cert, &alice_key)),
            &forged,
            true,
        ),
        (
            "prefix is a string prefix",
            0,
            "/api/mtlsx",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
        (
            "catch-all",
            0,
            "/other",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
        (
            "exact",
            0,
            "/exact",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
        (
            "exact only",
            0,
            "/exact/more",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
        (
            "dot segments",
            0,
            "/x/../api/mtls",
            Some((&alice_cert, &alice_key)),
            &["--path-as-is"],
            true,
        ),
        ("optional: none", 1, "/", None, &[], true),
        ("optional: forged", 1, "/", None, &forged, true),
        (
            "optional: good",
            1,
            "/",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
        (
            "optional: expired",
            1,
            "/",
            Some((&old_cert, &old_key)),
            &[],
            true,
        ),
        (
            "optional: admin, none",
            1,
            "/admin",
            None,
            &[],
            require_verified,
        ),
        (
            "optional: admin, good",
            1,
            "/admin",
            Some((&alice_cert, &alice_key)),
            &[],
            true,
        ),
    ];
    let mut differences = Vec::new();
    for (name, server, path, identity, extra, compare) in cases {
        if !compare {
            continue;
        }
        let host = ["on.test", "opt.test"][server];
        let mut args: Vec<String> = Vec::new();
        if let Some((cert, key)) = identity {
            args.extend(cert_args(cert, key));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let from_nginx = seen(&curl(host, nginx.ports[server], path, &server_ca, &args));
        let from_gateway = seen(&curl(host, gw.port(), path, &server_ca, &args));
        if from_nginx != from_gateway {
            differences.push(format!(
                "{name}:\n  nginx:   {from_nginx:?}\n  gateway: {from_gateway:?}"
            ));
        }
        // Each case must exercise what it names (not two equal failures).
        if name == "good certificate" {
            assert_eq!(from_nginx.status, 200, "{from_nginx:?}");
            assert!(from_nginx.identity[0].1 == ["SUCCESS"], "{from_nginx:?}");
        }
        if name == "forged headers" {
            assert_eq!(
                from_nginx.identity[1].1,
                ["CN=alice,OU=Dev,O=Example,C=RU"],
                "{from_nginx:?}"
            );
        }
    }
    assert!(
        differences.is_empty(),
        "the converted configuration answers differently:\n{}\n\n{toml}\n{}",
        differences.join("\n"),
        gw.logs()
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text made of nginx's significant characters and words, so that
    /// random input reaches blocks, quotes, escapes and known directives.
    fn nginx_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("http".to_string()),
            Just("server".to_string()),
            Just("location".to_string()),
            Just("listen 443 ssl".to_string()),
            Just("ssl_certificate a.pem".to_string()),
            Just("ssl_certificate_key k.pem".to_string()),
            Just("proxy_pass http://u".to_string()),
            Just("upstream u".to_string()),
            Just("return 200".to_string()),
            Just("if ($ssl_client_verify != SUCCESS)".to_string()),
            Just("proxy_set_header X $ssl_client_s_dn".to_string()),
            Just("include x.conf".to_string()),
            "[ {};\"'\\\\#$\n=~^@a-z0-9./:()*]{0,12}",
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|p| p.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Never a panic; when something is written, it is TOML.
        #[test]
        fn any_text_converts_or_fails_cleanly(text in nginx_like()) {
            if let Ok(c) = mtls_gateway::import::convert_text(&text, Path::new("/x/nginx.conf")) {
                prop_assert!(toml::from_str::<toml::Value>(&c.toml).is_ok(), "{}", c.toml);
                prop_assert!(c.servers > 0);
            }
        }

        #[test]
        fn any_bytes_are_refused_or_parsed(text in "\\PC{0,200}") {
            let _ = mtls_gateway::import::convert_text(&text, Path::new("/x/nginx.conf"));
        }
    }
}

#[test]
fn an_https_upstream_with_its_proxy_ssl_lines_passes_check() {
    if !rules::supported(Feature::UpstreamTls) {
        return;
    }
    let work = Workdir::new();
    let root = Ca::root("Root");
    let server = root.server(&["localhost"]);
    let upstream_ca = Ca::root("Upstream CA");
    let gateway_client = upstream_ca.client("gateway");
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    work.write("ca.pem", root.pem());
    work.write("up-ca.pem", upstream_ca.pem());
    work.write("gw.pem", &gateway_client.cert_pem);
    work.write("gw-key.pem", &gateway_client.key_pem);
    let conf = work.write(
        "nginx.conf",
        "http {\n upstream app { server 127.0.0.1:9443; }\n server {\n  listen 443 ssl;\n  \
         ssl_certificate server.pem;\n  ssl_certificate_key server-key.pem;\n  \
         ssl_client_certificate ca.pem;\n  ssl_verify_client on;\n  \
         proxy_ssl_certificate gw.pem;\n  proxy_ssl_certificate_key gw-key.pem;\n  \
         location / {\n   proxy_pass https://app;\n   proxy_ssl_trusted_certificate up-ca.pem;\n   \
         proxy_ssl_verify on;\n   proxy_ssl_name upstream.test;\n   proxy_ssl_server_name on;\n  }\n \
         location /plain { proxy_pass http://127.0.0.1:9000; }\n }\n}\n",
    );
    let out = work.path().join("gateway.toml");
    let (code, _, err) = import(&conf, &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let toml = std::fs::read_to_string(&out).unwrap();
    assert!(toml.contains("proxy_pass = \"https://app\""), "{toml}");
    assert!(
        toml.contains("proxy_ssl_certificate = \"gw.pem\""),
        "{toml}"
    );
    let (code, out) = check(&out);
    assert_eq!(code, 0, "{out}\n{toml}");
}
