//! The `gateway.toml` that `certs init` writes beside the PKI: the seed's
//! nginx block (client certificate required on `/api/mtls`, identity
//! headers to the backend), pointing at the files of that folder.

use std::net::IpAddr;

/// What the generated configuration needs to know.
pub struct GatewayToml<'a> {
    pub server_names: &'a [String],
    pub certificate: &'a str,
    pub certificate_key: &'a str,
    pub listen: &'a str,
    pub backend: &'a str,
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl GatewayToml<'_> {
    pub fn render(&self) -> String {
        // SNI never carries an IP address: only DNS names select the server.
        let dns: Vec<String> = self
            .server_names
            .iter()
            .filter(|n| n.parse::<IpAddr>().is_err())
            .map(|n| quote(n))
            .collect();
        let server_name = if dns.is_empty() {
            String::new()
        } else {
            format!("server_name = [{}]\n", dns.join(", "))
        };
        format!(
            r#"# Made by `mtls-gateway certs init`. Paths are relative to this file.
#   mtls-gateway check --config gateway.toml
#   mtls-gateway run --config gateway.toml
# Every key is described in docs/configuration.md.

[[server]]
listen = [{listen}]
{server_name}
[server.tls]
certificate = {certificate}          # chain: leaf, root
certificate_key = {certificate_key}

[server.client_auth]
verify_client = "on"
client_certificate = "ca-bundle.crt"  # client CA + root: trusted, and advertised to browsers
verify_depth = 1                      # client certificate -> client CA -> root
# Revocation: `mtls-gateway certs crl --ca .` writes crl.pem (and `certs revoke` updates it).
# Once enabled, write a new one before its next update or every client is refused.
# crl = "crl.pem"

[[server.location]]
prefix = "/"
return = {{ status = 404, text = "mTLS endpoints only." }}

[[server.location]]
prefix = "/api/mtls"
proxy_pass = "http://backend"

[server.location.proxy_set_header]
Host = "$host"
X-Real-IP = "$remote_addr"
X-Forwarded-For = "$proxy_add_x_forwarded_for"
X-Forwarded-Proto = "$scheme"
X-SSL-Client-Verify = "$ssl_client_verify"
X-SSL-Client-DN = "$ssl_client_s_dn"
X-SSL-Client-Serial = "$ssl_client_serial"
X-SSL-Client-Fingerprint = "$ssl_client_fingerprint"
X-SSL-Client-Issuer = "$ssl_client_i_dn"

[upstream.backend]
server = [{backend}]
"#,
            listen = quote(self.listen),
            certificate = quote(self.certificate),
            certificate_key = quote(self.certificate_key),
            backend = quote(self.backend),
        )
    }
}
