#[derive(Debug)]
pub struct CertParseError;
#[derive(Debug)]
pub struct ClientCert {
    s: String,
}
impl ClientCert {
    pub fn from_der(_d: &[u8]) -> Result<ClientCert, CertParseError> {
        Ok(ClientCert { s: String::new() })
    }
    pub fn serial(&self) -> &str {
        &self.s
    }
    pub fn fingerprint(&self) -> &str {
        &self.s
    }
    pub fn fingerprint_sha256(&self) -> &str {
        &self.s
    }
    pub fn subject_dn(&self) -> &str {
        &self.s
    }
    pub fn issuer_dn(&self) -> &str {
        &self.s
    }
    pub fn subject_dn_legacy(&self) -> &str {
        &self.s
    }
    pub fn issuer_dn_legacy(&self) -> &str {
        &self.s
    }
    pub fn v_start(&self) -> &str {
        &self.s
    }
    pub fn v_end(&self) -> &str {
        &self.s
    }
    pub fn raw_pem(&self) -> &str {
        &self.s
    }
    pub fn escaped_pem(&self) -> &str {
        &self.s
    }
    pub fn v_remain(&self, _now: i64) -> String {
        String::new()
    }
}
