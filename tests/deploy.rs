//! Deployment artefacts (deploy/): the Kubernetes kustomization renders and
//! validates against the Kubernetes schemas (offline, `kubernetes-validate`),
//! with the settings the gateway relies on; its ConfigMap's TOML passes
//! `mtls-gateway check` against test Secrets laid out as Kubernetes mounts
//! them; two gateway processes with those settings behind HAProxy resume
//! each other's sessions and pass the client's address on; `watch = true`
//! sees Kubernetes' `..data` symlink swaps; the systemd unit and the docs'
//! links are where the docs say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::haproxy::{Haproxy, free_port};
use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn k8s_dir() -> PathBuf {
    Path::new(ROOT).join("deploy/kubernetes")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The kustomization rendered: by `kubectl kustomize` when kubectl is
/// there, else its `resources` joined (the kustomization has nothing but
/// `resources`, which the test checks).
fn render() -> String {
    let dir = k8s_dir();
    let kustomization = read(&dir.join("kustomization.yaml"));
    let mut resources = Vec::new();
    let mut in_resources = false;
    for line in kustomization.lines() {
        let t = line.trim_end();
        if t.is_empty() || t.trim_start().starts_with('#') {
            continue;
        }
        if !t.starts_with(' ') && !t.starts_with('-') {
            in_resources = t == "resources:";
            assert!(
                ["apiVersion:", "kind:", "resources:"]
                    .iter()
                    .any(|k| t.starts_with(k)),
                "kustomization.yaml has more than resources: {t}"
            );
            continue;
        }
        if in_resources && let Some(item) = t.trim_start().strip_prefix("- ") {
            resources.push(item.trim().to_string());
        }
    }
    assert!(resources.len() >= 4, "{resources:?}");
    if let Ok(out) = Command::new("kubectl").arg("kustomize").arg(&dir).output()
        && out.status.success()
    {
        return String::from_utf8(out.stdout).unwrap();
    }
    resources
        .iter()
        .map(|r| read(&dir.join(r)))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The TOML of the ConfigMap (`gateway.toml: |` block).
fn configmap_toml() -> String {
    let text = read(&k8s_dir().join("configmap.yaml"));
    let mut lines = text.lines().skip_while(|l| l.trim() != "gateway.toml: |");
    let head = lines.next().expect("gateway.toml: | in configmap.yaml");
    let indent = head.len() - head.trim_start().len() + 2;
    let mut out = String::new();
    for line in lines {
        if !line.trim().is_empty() && line.len() - line.trim_start().len() < indent {
            break;
        }
        out.push_str(line.get(indent..).unwrap_or(""));
        out.push('\n');
    }
    out
}

/// A number after `key: ` in `text` (the first occurrence).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text.find(key).unwrap_or_else(|| panic!("{key} not found"));
    text[at + key.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key}"))
}

#[test]
fn kubernetes_manifests_render_and_validate_against_the_schemas() {
    let rendered = render();
    for needle in [
        "kind: Deployment",
        "kind: PodDisruptionBudget",
        "kind: Service",
        "type: LoadBalancer",
        "kind: ConfigMap",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "- ALL",
        "path: /healthz",
        "path: /readyz",
        "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol",
        "secretName: mtls-gateway-ticket-keys",
        "secretName: mtls-gateway-client-ca",
        "secretName: mtls-gateway-server-tls",
        "readOnly: true",
        "requests:",
    ] {
        assert!(
            rendered.contains(needle),
            "rendered manifests lack {needle:?}"
        );
    }
    assert!(!rendered.contains("subPath"), "subPath mounts never update");
    assert!(number_after(&rendered, "replicas:") >= 2);
    // The admin listener serves what the probes ask for.
    let admin = read(&Path::new(ROOT).join("src/admin.rs"));
    assert!(admin.contains("\"/healthz\"") && admin.contains("\"/readyz\""));
    // The grace period covers the preStop sleep and shutdown_timeout.
    let toml = configmap_toml();
    let shutdown = number_after(&toml, "shutdown_timeout = \"");
    let pre_stop = number_after(&rendered, "seconds:");
    let grace = number_after(&rendered, "terminationGracePeriodSeconds:");
    assert!(
        grace > shutdown + pre_stop,
        "grace {grace} s <= shutdown_timeout {shutdown} s + preStop {pre_stop} s"
    );
    assert!(toml.contains("watch = true"));

    // Offline schema validation (strict: unknown fields are errors).
    let work = Workdir::new();
    let file = work.write("rendered.yaml", &rendered);
    let validate = |files: &[&Path]| {
        let out = Command::new("kubernetes-validate")
            .args(["--strict", "--kubernetes-version", "1.32.0"])
            .args(files)
            .output()
            .expect("kubernetes-validate (pip install kubernetes-validate; .ci/run does)");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let secrets = k8s_dir().join("secrets.example.yaml");
    let (ok, out) = validate(&[&file, &secrets]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("passed").count(), 7, "{out}");
    // The validation does catch a mistake (a misspelt field).
    let broken = work.write(
        "broken.yaml",
        rendered.replacen("readOnlyRootFilesystem", "readOnlyRootFileSystem", 1),
    );
    let (ok, out) = validate(&[&broken]);
    assert!(!ok, "a misspelt field passed: {out}");
}

/// The files of one mounted Secret or ConfigMap, laid out as the kubelet
/// does: `<dir>/<..timestamp>/<files>`, `<dir>/..data` -> that folder, and
/// `<dir>/<name>` -> `..data/<name>`.
fn k8s_mount(dir: &Path, version: &str, files: &[(&str, Vec<u8>)]) {
    let stamp = format!("..2026_11_29_00_00_00.{version}");
    let data = dir.join(&stamp);
    std::fs::create_dir_all(&data).unwrap();
    for (name, bytes) in files {
        std::fs::write(data.join(name), bytes).unwrap();
    }
    // The kubelet's atomic swap: a new symlink renamed over `..data`.
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
        }
    }
}

/// Removes the older versions of a mount (the kubelet does after a swap).
fn k8s_prune(dir: &Path, keep: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("..2026") && !name.ends_with(keep) {
            std::fs::remove_dir_all(dir.join(name)).unwrap();
        }
    }
}

struct Mounted {
    work: Workdir,
    root: Ca,
    alice: Leaf,
    /// Where `/etc/mtls-gateway` is for the test.
    etc: PathBuf,
}

fn ticket_key(seed: u8) -> Vec<u8> {
    (0..80u8)
        .map(|i| i.wrapping_mul(seed).wrapping_add(seed))
        .collect()
}

/// Test Secrets under `etc/` in the layout the Deployment mounts.
fn mounted() -> Mounted {
    let work = Workdir::new();
    let root = Ca::root("Client Root CA");
    let server = root.server(&["mtls.example.com"]);
    let alice = root.client("alice");
    work.write("ca.pem", root.pem());
    work.write("alice.pem", &alice.cert_pem);
    work.write("alice-key.pem", &alice.key_pem);
    let etc = work.path().join("etc");
    k8s_mount(
        &etc.join("server"),
        "1",
        &[
            ("tls.crt", server.chain(0).into_bytes()),
            ("tls.key", server.key_pem.clone().into_bytes()),
        ],
    );
    k8s_mount(
        &etc.join("client-ca"),
        "1",
        &[
            ("ca.pem", root.pem().into_bytes()),
            ("crl.pem", root.crl(&[], 30).into_bytes()),
        ],
    );
    k8s_mount(
        &etc.join("tickets"),
        "1",
        &[
            ("current.key", ticket_key(3)),
            ("previous.key", ticket_key(5)),
        ],
    );
    Mounted {
        work,
        root,
        alice,
        etc,
    }
}

impl Mounted {
    /// The ConfigMap's TOML with the mount paths moved under `etc/`, and
    /// the addresses of this machine: listen on 127.0.0.1, admin on
    /// `admin`, the upstream `backend`, and 127.0.0.1 (HAProxy here) added
    /// to set_real_ip_from.
    fn toml(&self, admin: u16, backend: std::net::SocketAddr) -> String {
        let toml = configmap_toml();
        let replaced = [
            ("/etc/mtls-gateway/", format!("{}/", self.etc.display())),
            ("\"0.0.0.0:8443\"", "\"127.0.0.1:0\"".to_string()),
            ("\"0.0.0.0:9901\"", format!("\"127.0.0.1:{admin}\"")),
            (
                "\"backend.default.svc.cluster.local:8080\"",
                format!("\"{backend}\""),
            ),
            (
                "set_real_ip_from = [",
                "set_real_ip_from = [\"127.0.0.1\", ".to_string(),
            ),
        ];
        let mut out = toml.clone();
        for (from, to) in replaced {
            assert!(out.contains(from), "the ConfigMap no longer has {from}");
            out = out.replace(from, &to);
        }
        out
    }
}

#[test]
fn the_configmap_passes_check_against_test_secrets() {
    let m = mounted();
    let toml = configmap_toml().replace("/etc/mtls-gateway/", &format!("{}/", m.etc.display()));
    let path = m.work.write("gateway.toml", toml);
    let (code, out, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(&path),
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// Two replicas with the ConfigMap's settings behind HAProxy (`mode tcp`,
/// `send-proxy-v2`, round robin): a client balanced from one to the other
/// resumes its session (shared ticket keys) and the backend sees the
/// client's address, not HAProxy's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_haproxy_resume_and_pass_the_client_address() {
    let m = mounted();
    let backend = Backend::start();
    let admins = [free_port(), free_port()];
    let replicas: Vec<Gateway> = tokio::task::block_in_place(|| {
        admins
            .iter()
            .enumerate()
            .map(|(i, admin)| {
                let dir = m.work.path().join(format!("replica-{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                Gateway::start(&dir, &m.toml(*admin, backend.addr))
            })
            .collect()
    });
    let lb = tokio::task::block_in_place(|| {
        Haproxy::start(
            m.work.path(),
            &[replicas[0].addr(), replicas[1].addr()],
            "send-proxy-v2",
        )
    });
    let cfg = rustls_client::with_identity(&m.root.pem(), &m.alice, false);
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let tcp = socket.connect(lb.addr).await.unwrap();
        let req = rustls_client::get("mtls.example.com", "/", false)
            .body(rustls_client::empty())
            .unwrap();
        let out = rustls_client::send_on(tcp, "mtls.example.com", cfg.clone(), req)
            .await
            .unwrap();
        let body = out.text();
        assert_eq!(out.response.status(), 200, "{body}");
        assert_eq!(echoed_headers(&body, "x-real-ip"), ["127.0.0.2"], "{body}");
        assert_eq!(
            echoed_headers(&body, "x-ssl-client-verify"),
            ["SUCCESS"],
            "{body}"
        );
        kinds.push(out.handshake);
    }
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(kinds, [Full, Resumed, Resumed, Resumed]);
    // Both replicas resumed sessions (round robin: the other's tickets too).
    for admin in admins {
        let metrics = tokio::task::block_in_place(|| admin_get(admin, "/metrics"));
        assert!(
            metrics.contains("mtls_gateway_tls_resumptions_total{key=\""),
            "replica on admin {admin} resumed nothing:\n{metrics}"
        );
    }
}

fn admin_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    out
}

fn generation(admin: u16) -> u64 {
    let metrics = admin_get(admin, "/metrics");
    metrics
        .lines()
        .find(|l| l.starts_with("mtls_gateway_config_generation "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_generation(admin: u16, n: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if generation(admin) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `watch = true` and Kubernetes' way of updating a mounted Secret: new
/// files in a new folder, the `..data` symlink swapped to it, the old
/// folder removed. A swapped ticket key of the same size and modification
/// time is seen too (by the file's identity), and a swapped CRL revokes.
#[test]
fn watch_sees_kubernetes_symlink_swaps() {
    let m = mounted();
    let backend = Backend::start();
    let admin = free_port();
    let dir = m.work.path().join("replica");
    std::fs::create_dir_all(&dir).unwrap();
    let gw = Gateway::start(&dir, &m.toml(admin, backend.addr));
    assert_eq!(generation(admin), 1);

    // The ticket keys rotate: 80 bytes as before, and the same mtime.
    let tickets = m.etc.join("tickets");
    let old_time = std::fs::metadata(tickets.join("current.key"))
        .unwrap()
        .modified()
        .unwrap();
    k8s_mount(
        &tickets,
        "2",
        &[
            ("current.key", ticket_key(7)),
            ("previous.key", ticket_key(3)),
        ],
    );
    for name in ["current.key", "previous.key"] {
        let file = std::fs::File::options()
            .write(true)
            .open(tickets.join(name))
            .unwrap();
        file.set_modified(old_time).unwrap();
    }
    k8s_prune(&tickets, "2");
    assert!(
        wait_generation(admin, 2),
        "the ..data swap of the ticket keys was not seen:\n{}",
        gw.logs()
    );

    // The CRL is replaced by one revoking alice (the listener wants a
    // PROXY header: curl goes through HAProxy).
    let lb = Haproxy::start(m.work.path(), &[gw.addr()], "send-proxy");
    let get = || {
        curl_cert(
            "mtls.example.com",
            lb.addr.port(),
            "/",
            &m.work.path().join("ca.pem"),
            (
                &m.work.path().join("alice.pem"),
                &m.work.path().join("alice-key.pem"),
            ),
            &[],
        )
    };
    assert_eq!(get().status, 200);
    let client_ca = m.etc.join("client-ca");
    k8s_mount(
        &client_ca,
        "2",
        &[
            ("ca.pem", m.root.pem().into_bytes()),
            ("crl.pem", m.root.crl(&[&m.alice], 30).into_bytes()),
        ],
    );
    k8s_prune(&client_ca, "2");
    assert!(wait_generation(admin, 3), "{}", gw.logs());
    let r = get();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body_text().contains("certificate"), "{r:?}");
}

/// The systemd unit lives in deploy/systemd/, and every relative link of
/// the README and docs/ points at a file that exists.
#[test]
fn deployment_files_are_where_the_docs_say() {
    let unit = read(&Path::new(ROOT).join("deploy/systemd/mtls-gateway.service"));
    assert!(unit.contains("Type=notify"));
    assert!(unit.contains("deploy/systemd/mtls-gateway.service"));
    let timeout = number_after(&unit, "TimeoutStopSec=");
    assert!(
        timeout > 30,
        "TimeoutStopSec {timeout} <= shutdown_timeout's default 30 s"
    );
    let mut docs = vec![Path::new(ROOT).join("README.md")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    for doc in docs {
        let text = read(&doc);
        let base = doc.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            assert!(
                base.join(target).exists(),
                "{}: link to {target} points at nothing",
                doc.display()
            );
        }
        for old in ["docs/deploy/", "(deploy/mtls-gateway.service)"] {
            assert!(!text.contains(old), "{}: stale path {old}", doc.display());
        }
    }
}
