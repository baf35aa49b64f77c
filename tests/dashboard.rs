//! deploy/grafana: the Grafana dashboard and the Prometheus rules beside it
//! query only metrics a running gateway exports (scraped from its admin
//! listener after traffic of every kind), the dashboard's JSON loads, and
//! the rules file carries the alerts of docs/operations.md unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Names of time series that Prometheus makes itself, not the gateway.
const PROMETHEUS_OWN: &[&str] = &["up"];

/// PromQL words that are neither metrics nor functions.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators: `sum by (x) (...)` puts a label list between
/// the name and its parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Skips from `b[i]` (an opening `open`) to just past its matching `close`,
/// stepping over quoted strings.
fn skip_group(b: &[u8], mut i: usize, open: u8, close: u8) -> usize {
    let mut depth = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => i = skip_string(b, i, q),
            c if c == open => {
                depth += 1;
                i += 1;
            }
            c if c == close => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    i
}

fn skip_string(b: &[u8], mut i: usize, quote: u8) -> usize {
    i += 1;
    while i < b.len() && b[i] != quote {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The metric names a PromQL expression selects: identifiers outside label
/// matchers `{...}`, ranges `[...]`, strings and `by (...)`-style label
/// lists, that are not functions (followed by `(`) or keywords. Grafana's
/// `label_values(METRIC, LABEL)` yields METRIC.
fn metric_names(expr: &str) -> Vec<String> {
    if let Some(args) = expr.trim().strip_prefix("label_values(") {
        let metric = args.split([',', ')']).next().unwrap_or("").trim();
        return metric_names(metric);
    }
    let b = expr.as_bytes();
    let mut names = Vec::new();
    let mut label_list_next = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(b, i, c);
        } else if c == b'{' {
            i = skip_group(b, i, b'{', b'}');
        } else if c == b'[' {
            i = skip_group(b, i, b'[', b']');
        } else if c == b'(' && label_list_next {
            i = skip_group(b, i, b'(', b')');
            label_list_next = false;
        } else if c == b'$' {
            // A Grafana variable.
            i += 1;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = expr[i..].trim_start().bytes().next();
            if KEYWORDS.contains(&word) {
                label_list_next = matches!(
                    word,
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) && next == Some(b'(');
            } else if AGGREGATIONS.contains(&word) {
                // `sum by (x) (...)` or `sum(...) by (x)`: the label list
                // comes with the `by`.
            } else if next != Some(b'(') {
                names.push(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_promql_reader_finds_metric_names_only() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.9, sum by (le, location) (rate(m_bucket{server=~"$server",x="a{b}"}[$__rate_interval])))"#
        ),
        ["m_bucket"]
    );
    assert_eq!(
        metric_names(
            r#"sum by (result) (rate(a_total{result=~"FAILED.*"}[5m])) > 1 and on (x) b / 86400"#
        ),
        ["a_total", "b"]
    );
    assert_eq!(metric_names("label_values(m_total, server)"), ["m_total"]);
    assert_eq!(metric_names(r#"up{job="g"} == 0"#), ["up"]);
}

/// Every `expr` of the dashboard's panels (rows included) and every query
/// of its variables.
fn dashboard_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::String(s)) if s.contains('(') => {
                        out.push(s.clone())
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                dashboard_queries(v, out);
            }
        }
        _ => {}
    }
}

/// `(alert, expr)` of a rules file or of the YAML block in the docs: each
/// `- alert: NAME` followed by its `expr: ...` line.
fn alerts(yaml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut name = None;
    for line in yaml.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("- alert:") {
            let rest = rest.split('#').next().unwrap_or("");
            name = Some(rest.trim().to_string());
        } else if let Some(expr) = line.strip_prefix("expr:")
            && let Some(n) = name.take()
        {
            out.push((n, expr.trim().to_string()));
        }
    }
    out
}

/// The sample names of a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect()
}

fn http_get(addr: &str, path: &str) -> String {
    let (code, out, err) = run_output(
        std::process::Command::new("curl").args(["-sS", &format!("http://{addr}{path}")]),
    );
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn dashboard_and_rules_query_only_exported_metrics() {
    // The files: the JSON loads, the rules carry the documented alerts.
    let json = repo_file("deploy/grafana/mtls-gateway.json");
    let dashboard: serde_json::Value = serde_json::from_str(&json).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    let rules_text = repo_file("deploy/grafana/mtls-gateway.rules.yml");
    let rules = alerts(&rules_text);
    let ops = repo_file("docs/operations.md");
    let documented_block = ops
        .split("### Alerts worth setting")
        .nth(1)
        .and_then(|s| s.split("```yaml").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the alerts block of docs/operations.md");
    let documented = alerts(documented_block);
    assert!(documented.len() >= 7, "{documented:?}");
    for alert in &documented {
        assert!(
            rules.contains(alert),
            "docs/operations.md's {alert:?} is not in the rules file as written: {rules:?}"
        );
    }
    queries.extend(rules.iter().map(|(_, e)| e.clone()));

    // What the dashboard promises to show.
    let all = queries.join("\n");
    for needle in [
        "mtls_gateway_tls_handshakes_total",
        r#"result=~"FAILED.*""#,
        "sum by (location, status) (rate(mtls_gateway_requests_total",
        "histogram_quantile(0.99",
        "mtls_gateway_config_reloads_total",
        r#"kind="server""#,
        r#"kind="ca""#,
        r#"kind="crl""#,
    ] {
        assert!(all.contains(needle), "no query with {needle}");
    }

    // A real gateway with every kind of series: a CRL, a proxied request
    // (latency histogram), an upstream failure, a refused certificate, a reload.
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    work.write("crl.pem", pki.root.crl(&[], 30));
    let stranger = Ca::root("Stranger CA").client("mallory");
    let stranger_cert = work.write("mallory.pem", &stranger.cert_pem);
    let stranger_key = work.write("mallory-key.pem", &stranger.key_pem);
    let backend = Backend::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = GatewayConfig::mtls("localhost", "optional")
        .admin(admin)
        .client_auth_key("crl", "crl.pem")
        .proxy("/", backend.addr)
        .proxy("/dead", format!("127.0.0.1:{dead_port}"))
        .start(&work);
    assert_eq!(pki.curl_alice(gw.port(), "/", &[]).status, 200);
    assert_eq!(pki.curl_alice(gw.port(), "/dead", &[]).status, 502);
    let refused = curl_cert(
        "localhost",
        gw.port(),
        "/",
        &pki.ca,
        (&stranger_cert, &stranger_key),
        &[],
    );
    assert_eq!(refused.status, 400);
    gw.signal("HUP");
    assert!(
        wait_for_log_count(&gw, "reload complete", 1),
        "{}",
        gw.logs()
    );
    std::thread::sleep(Duration::from_millis(100));
    let scrape = http_get(&admin.to_string(), "/metrics");
    let names = exported(&scrape);
    for kind in ["server", "ca", "crl"] {
        assert!(
            scrape.contains(&format!(
                "mtls_gateway_certificate_expiry_seconds{{server=\"server[0]\",kind=\"{kind}\""
            )),
            "no {kind} expiry series:\n{scrape}"
        );
    }
    assert!(scrape.contains(r#"result="FAILED:"#), "{scrape}");

    let mut missing = Vec::new();
    let mut checked = BTreeSet::new();
    for q in &queries {
        let found = metric_names(q);
        assert!(!found.is_empty(), "no metric in query {q:?}");
        for name in found {
            if PROMETHEUS_OWN.contains(&name.as_str()) {
                continue;
            }
            if !names.contains(&name) {
                missing.push(format!("{name} (in {q})"));
            }
            checked.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exported:\n{}\n\nexported: {names:?}",
        missing.join("\n")
    );
    assert!(checked.len() >= 9, "{checked:?}");
}
