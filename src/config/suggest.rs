//! Helping with a mistyped configuration: the known key closest to an
//! unknown one (`verify_clinet` → `verify_client`), nginx directive names
//! written by habit (`ssl_verify_client` → `verify_client` in
//! `[server.client_auth]`), keys written in the wrong table, and TOML
//! errors shown with the line and a caret under the value.
//!
//! The known keys are read from the serde structs of [`super::raw`] (the
//! field list serde passes to `deserialize_struct`), so a key added there
//! is known here without a second list to keep in step.

use serde::de::{self, DeserializeOwned, Visitor};

use super::raw;

/// The tables of the configuration: how an unknown key's parent path is
/// written with indexes and names removed, how the table is written in
/// TOML, and its keys.
fn tables() -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    vec![
        ("", "the top level", fields_of::<raw::RawConfig>()),
        ("admin", "[admin]", fields_of::<raw::RawAdmin>()),
        ("server", "[[server]]", fields_of::<raw::RawServer>()),
        ("server.tls", "[server.tls]", fields_of::<raw::RawTls>()),
        (
            "server.client_auth",
            "[server.client_auth]",
            fields_of::<raw::RawClientAuth>(),
        ),
        (
            "server.location",
            "[[server.location]]",
            fields_of::<raw::RawLocation>(),
        ),
        (
            "server.location.return",
            "a location's `return`",
            fields_of::<raw::RawReturn>(),
        ),
        (
            "upstream.*",
            "[upstream.NAME]",
            fields_of::<raw::RawUpstream>(),
        ),
    ]
}

/// nginx directives whose name here is not the directive without `ssl_`.
const NGINX_RENAMED: &[(&str, &str)] = &[
    ("worker_connections", "max_connections"),
    ("worker_shutdown_timeout", "shutdown_timeout"),
    ("large_client_header_buffers", "max_request_header_size"),
];

/// Tables and tail of an unknown key: `server[0].tls.foo` → (`server.tls`, `foo`).
fn split(key: &str) -> (String, &str) {
    let (parent, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut table = String::new();
    for (depth, part) in parent.split('.').filter(|p| !p.is_empty()).enumerate() {
        let part = part.split('[').next().unwrap_or(part);
        if !table.is_empty() {
            table.push('.');
        }
        // `upstream.NAME`: the name is the user's.
        if depth == 1 && table == "upstream." {
            table.push('*');
        } else {
            table.push_str(part);
        }
    }
    (table, name)
}

/// What to say after "unknown key" for `key` (a dotted path as reported,
/// e.g. `server[0].client_auth.verify_clinet`), if anything helps.
pub fn hint(key: &str) -> Option<String> {
    let (table, name) = split(key);
    let tables = tables();
    let here = tables.iter().find(|(t, _, _)| *t == table);
    // nginx's name for one of ours.
    let ours = NGINX_RENAMED
        .iter()
        .find(|(nginx, _)| *nginx == name)
        .map(|(_, ours)| *ours)
        .or_else(|| name.strip_prefix("ssl_"));
    if let Some(ours) = ours {
        if here.is_some_and(|(_, _, keys)| keys.contains(&ours)) {
            return Some(format!("nginx's `{name}` is `{ours}` here"));
        }
        if let Some((_, written, _)) = tables.iter().find(|(_, _, keys)| keys.contains(&ours)) {
            return Some(format!("nginx's `{name}` is `{ours}` in {written}"));
        }
    }
    // One of ours in the wrong table.
    let elsewhere: Vec<&str> = tables
        .iter()
        .filter(|(t, _, keys)| *t != table && keys.contains(&name))
        .map(|(_, written, _)| *written)
        .collect();
    if !elsewhere.is_empty() {
        return Some(format!("`{name}` belongs in {}", elsewhere.join(" or ")));
    }
    // A typo.
    let (_, _, keys) = here?;
    closest(name, keys).map(|k| format!("did you mean `{k}`?"))
}

/// The key nearest to `name` by edit distance (a swap of two neighbours
/// counts one), if near enough to be a typo.
fn closest<'k>(name: &str, keys: &[&'k str]) -> Option<&'k str> {
    let limit = if name.len() >= 12 { 3 } else { 2 };
    keys.iter()
        .map(|k| (distance(name, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance (Levenshtein with transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        d[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        d[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[at(i - 1, j)] + 1)
                .min(d[at(i, j - 1)] + 1)
                .min(d[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[at(i - 2, j - 2)] + 1);
            }
            d[at(i, j)] = best;
        }
    }
    d[at(a.len(), b.len())]
}

/// A TOML error as lines: the problem with its line and column, then the
/// line of the file with a caret under the value:
///
/// ```text
/// line 4, column 16: invalid type: string "1", expected i64
///   4 | verify_depth = "1"
///     |                ^^^
/// ```
pub fn toml_error(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    let message = message.trim();
    let Some(span) = span else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let number = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let width = text
        .get(start..span.end.min(line_end).max(start))
        .map_or(1, |s| s.chars().count().max(1));
    let gutter = number.to_string();
    let pad = " ".repeat(gutter.len());
    // Tabs keep their width so that the caret stays under the value.
    let indent: String = text[line_start..start]
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(
        "line {number}, column {column}: {message}\n  {gutter} | {line}\n  {pad} | {indent}{}",
        "^".repeat(width)
    )
}

/// The field names of a serde struct, as its `Deserialize` implementation
/// lists them.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    // Always an error: the capture stops the deserialization at once.
    let _ = T::deserialize(Capture(&mut fields));
    fields.unwrap_or(&[])
}

struct Capture<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for Capture<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields captured"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_nginx_names_and_misplaced_keys() {
        assert_eq!(
            hint("server[0].client_auth.verify_clinet").as_deref(),
            Some("did you mean `verify_client`?")
        );
        assert_eq!(
            hint("server[0].ssl_verify_client").as_deref(),
            Some("nginx's `ssl_verify_client` is `verify_client` in [server.client_auth]")
        );
        assert_eq!(
            hint("server[1].tls.ssl_certificate").as_deref(),
            Some("nginx's `ssl_certificate` is `certificate` here")
        );
        assert_eq!(
            hint("worker_connections").as_deref(),
            Some("nginx's `worker_connections` is `max_connections` here")
        );
        assert_eq!(
            hint("server[0].tls.verify_depth").as_deref(),
            Some("`verify_depth` belongs in [server.client_auth]")
        );
        assert_eq!(
            hint("upstream.backend.keepalve").as_deref(),
            Some("did you mean `keepalive`?")
        );
        assert_eq!(hint("server[0].zzzzzzzz"), None);
    }

    #[test]
    fn toml_errors_put_the_caret_under_the_value() {
        let text = "[[server]]\n[server.client_auth]\nverify_depth = \"1\"\n";
        let start = text.find("\"1\"").unwrap();
        let shown = toml_error(
            text,
            "invalid type: string \"1\", expected i64\n",
            Some(start..start + 3),
        );
        assert_eq!(
            shown,
            "line 3, column 16: invalid type: string \"1\", expected i64\n  3 | verify_depth = \"1\"\n    |                ^^^"
        );
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[2].find('^'), lines[1].find('"'));
    }
}
