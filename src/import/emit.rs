//! The converted configuration as a model of the gateway's TOML, and its text.
//!
//! Written by hand rather than serialised so that each block can carry a
//! comment naming the nginx file and line it came from; every string goes
//! through the `toml` crate's own quoting.

use indexmap::IndexMap;

/// A TOML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    /// An inline table of string/int pairs (`return = { status = 404, text = "..." }`).
    Table(Vec<(String, Value)>),
}

/// Keys in the order they were set; setting a key again replaces it in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys(pub IndexMap<String, Value>);

impl Keys {
    pub fn set(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_string(), value);
    }
}

#[derive(Debug, Clone, Default)]
pub struct Location {
    /// `file:line` of the nginx location.
    pub source: String,
    pub keys: Keys,
    pub proxy_set_header: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone, Default)]
pub struct Server {
    pub source: String,
    pub keys: Keys,
    pub tls: Keys,
    pub client_auth: Keys,
    pub proxy_set_header: Option<Vec<(String, String)>>,
    pub locations: Vec<Location>,
}

#[derive(Debug, Clone, Default)]
pub struct Upstream {
    pub source: String,
    pub keys: Keys,
}

#[derive(Debug, Clone, Default)]
pub struct Document {
    pub header: Vec<String>,
    pub top: Keys,
    pub servers: Vec<Server>,
    pub upstreams: IndexMap<String, Upstream>,
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Str(s) => quote(s),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Table(pairs) => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), value(v)))
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
    }
}

fn keys(out: &mut String, keys: &Keys) {
    for (k, v) in &keys.0 {
        out.push_str(&format!("{} = {}\n", key(k), value(v)));
    }
}

fn headers(out: &mut String, table: &str, headers: &[(String, String)]) {
    out.push_str(&format!("\n[{table}]\n"));
    for (name, v) in headers {
        out.push_str(&format!("{} = {}\n", key(name), quote(v)));
    }
}

impl Document {
    /// The TOML text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            out.push_str(&format!("# {line}\n"));
        }
        if !self.top.0.is_empty() {
            out.push('\n');
            keys(&mut out, &self.top);
        }
        for s in &self.servers {
            out.push_str(&format!("\n# nginx: server at {}\n[[server]]\n", s.source));
            keys(&mut out, &s.keys);
            if let Some(h) = &s.proxy_set_header {
                headers(&mut out, "server.proxy_set_header", h);
            }
            if !s.tls.0.is_empty() {
                out.push_str("\n[server.tls]\n");
                keys(&mut out, &s.tls);
            }
            if !s.client_auth.0.is_empty() {
                out.push_str("\n[server.client_auth]\n");
                keys(&mut out, &s.client_auth);
            }
            for l in &s.locations {
                out.push_str(&format!(
                    "\n# nginx: location at {}\n[[server.location]]\n",
                    l.source
                ));
                keys(&mut out, &l.keys);
                if let Some(h) = &l.proxy_set_header {
                    headers(&mut out, "server.location.proxy_set_header", h);
                }
            }
        }
        for (name, u) in &self.upstreams {
            out.push_str(&format!(
                "\n# nginx: upstream at {}\n[upstream.{}]\n",
                u.source,
                key(name)
            ));
            keys(&mut out, &u.keys);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn strings_and_keys_are_quoted_for_toml() {
        let mut doc = Document::default();
        let mut s = Server::default();
        s.keys.set("server_name", Value::List(vec!["a\"b".into()]));
        s.proxy_set_header = Some(vec![("X A".into(), "v\\\n".into())]);
        doc.servers.push(s);
        let text = doc.render();
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        let server = &parsed["server"][0];
        assert_eq!(server["server_name"][0].as_str(), Some("a\"b"));
        assert_eq!(server["proxy_set_header"]["X A"].as_str(), Some("v\\\n"));
    }
}
