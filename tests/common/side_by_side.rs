//! Asking nginx and the gateway the same question: what one request with a
//! client certificate gets from each (tests/verify_vs_nginx.rs, the CRL and
//! OCSP comparisons).

use std::time::{Duration, Instant};

/// What nginx does with one client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with this `$ssl_client_verify`.
    Verified(String),
    /// The 400 page, with this `(code:reason)` in the log.
    Refused(String),
    /// No HTTP response: the TLS handshake failed.
    Handshake,
}

/// Sends one request. For a 400, the reason is the
/// `client SSL certificate verify error: (code:reason)` line (nginx and the
/// gateway both write it) that this request added to `log`.
pub fn outcome(request: impl FnOnce() -> (u16, String), log: impl Fn() -> String) -> Outcome {
    const MARK: &str = "client SSL certificate verify error: (";
    let before = log().matches(MARK).count();
    let (status, body) = request();
    match status {
        0 => Outcome::Handshake,
        200 => Outcome::Verified(body),
        400 => {
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let text = log();
                if text.matches(MARK).count() > before {
                    let line = text.split(MARK).nth(before + 1).unwrap_or("");
                    let reason = line.split(')').next().unwrap_or("");
                    return Outcome::Refused(reason.to_string());
                }
                if Instant::now() > deadline {
                    return Outcome::Refused(format!("(no reason logged) {body}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        other => Outcome::Refused(format!("status {other}: {body}")),
    }
}
