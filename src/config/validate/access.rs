//! Access policy keys: `require_verified`, `[[allow]]` rules and
//! `deny_return`, on a server (inherited, as nginx inherits) or a location.
//! The rules themselves are [`crate::verify::access`]; this file maps the
//! TOML onto them and names the key of every problem.

use std::sync::Arc;

use super::Ctx;
use super::location::validate_return;
use crate::config::ReturnSpec;
use crate::config::raw::{OneOrMany, RawAllow, RawReturn};
use crate::verify::access::{
    self, AccessError, AttributeMatch, Condition, EmailSet, IpSet, Kind, ListFile, Name,
    PatternSet, Rule,
};

/// What a server's locations inherit.
#[derive(Default)]
pub(super) struct InheritedAccess {
    pub(super) require_verified: bool,
    pub(super) rules: Option<Arc<[Rule]>>,
    pub(super) deny_return: Option<ReturnSpec>,
}

impl InheritedAccess {
    /// The server-level keys of `label`.
    pub(super) fn of_server(
        label: &str,
        require_verified: Option<bool>,
        allow: &[RawAllow],
        deny_return: Option<RawReturn>,
        ctx: &mut Ctx<'_>,
    ) -> InheritedAccess {
        InheritedAccess {
            require_verified: require_verified.unwrap_or(false),
            rules: (!allow.is_empty()).then(|| validate_rules(label, allow, ctx)),
            deny_return: deny_return
                .and_then(|r| validate_return(&format!("{label}.deny_return"), r, false, ctx)),
        }
    }
}

/// A location's policy and denial answer, after inheritance.
pub(super) fn location_access(
    key: &str,
    require_verified: Option<bool>,
    allow: &[RawAllow],
    deny_return: Option<RawReturn>,
    inherited: &InheritedAccess,
    ctx: &mut Ctx<'_>,
) -> (access::AccessPolicy, Option<ReturnSpec>) {
    let rules = if allow.is_empty() {
        inherited.rules.clone().unwrap_or_else(|| Arc::from([]))
    } else {
        validate_rules(key, allow, ctx)
    };
    let deny_return = match deny_return {
        Some(r) => validate_return(&format!("{key}.deny_return"), r, false, ctx),
        None => inherited.deny_return.clone(),
    };
    let policy = access::AccessPolicy {
        require_verified: require_verified.unwrap_or(inherited.require_verified),
        rules,
    };
    (policy, deny_return)
}

/// The rules at `key` (a server's or a location's); a server's rules are
/// labelled `server.allow[N]` so that a log line tells them from a
/// location's own `allow[N]`.
fn validate_rules(key: &str, raw: &[RawAllow], ctx: &mut Ctx<'_>) -> Arc<[Rule]> {
    let prefix = if key.contains(".location[") {
        ""
    } else {
        "server."
    };
    raw.iter()
        .enumerate()
        .filter_map(|(i, rule)| {
            validate_rule(
                &format!("{key}.allow[{i}]"),
                &format!("{prefix}allow[{i}]"),
                rule,
                ctx,
            )
        })
        .collect()
}

/// Builds a pattern condition from its list.
type BuildPatterns = fn(&[String]) -> Result<Condition, AccessError>;
/// Checks and normalizes one exact value.
type ParseExact = fn(&str) -> Result<String, AccessError>;
/// Makes the condition of a set of exact values.
type MakeExact = fn(std::collections::HashSet<String>) -> Condition;

fn list_of(v: &Option<OneOrMany<String>>) -> Option<Vec<String>> {
    v.clone().map(OneOrMany::into_vec)
}

fn validate_rule(key: &str, label: &str, raw: &RawAllow, ctx: &mut Ctx<'_>) -> Option<Rule> {
    let mut conditions = Vec::new();
    let mut ok = true;
    // Each bad attribute is reported where it is found.
    let mut attr_failed = false;
    let mut check =
        |ctx: &mut Ctx<'_>, field: &str, result: Result<Condition, AccessError>| match result {
            Ok(c) => conditions.push(c),
            Err(e) => {
                ctx.error(format!("{key}.{field}"), e);
                ok = false;
            }
        };
    for (field, which, map) in [
        ("subject", Name::Subject, &raw.subject),
        ("issuer", Name::Issuer, &raw.issuer),
    ] {
        let Some(map) = map else { continue };
        if map.is_empty() {
            check(ctx, field, Err(AccessError::EmptyList));
            continue;
        }
        let mut attrs = Vec::new();
        let mut attrs_ok = true;
        for (name, patterns) in map {
            let patterns = patterns.clone().into_vec();
            let built = access::attribute_oid(name).and_then(|oid| {
                Ok(AttributeMatch {
                    oid,
                    written: name.clone(),
                    patterns: PatternSet::new(Kind::ATTRIBUTE, &patterns)?,
                })
            });
            match built {
                Ok(a) => attrs.push(a),
                Err(e) => {
                    // Key names as written: `subject.OU`.
                    ctx.error(format!("{key}.{field}.{name}"), e);
                    attrs_ok = false;
                }
            }
        }
        if attrs_ok {
            check(ctx, field, Ok(Condition::Attributes(which, attrs)));
        } else {
            attr_failed = true;
        }
    }
    let pattern_fields: [(&str, &Option<OneOrMany<String>>, BuildPatterns); 4] = [
        ("san_dns", &raw.san_dns, |p| {
            PatternSet::new(Kind::DNS, p).map(Condition::SanDns)
        }),
        ("san_email", &raw.san_email, |p| {
            EmailSet::new(p).map(Condition::SanEmail)
        }),
        ("san_uri", &raw.san_uri, |p| {
            PatternSet::new(Kind::URI, p).map(Condition::SanUri)
        }),
        ("san_ip", &raw.san_ip, |p| {
            IpSet::new(p).map(Condition::SanIp)
        }),
    ];
    for (field, value, build) in pattern_fields {
        if let Some(v) = list_of(value) {
            check(ctx, field, build(&v));
        }
    }
    let exact_fields: [(&str, &Option<OneOrMany<String>>, ParseExact, MakeExact); 3] = [
        (
            "serial",
            &raw.serial,
            access::parse_serial,
            Condition::Serial,
        ),
        (
            "fingerprint_sha256",
            &raw.fingerprint_sha256,
            access::parse_fingerprint,
            Condition::Fingerprint,
        ),
        (
            "spki_sha256",
            &raw.spki_sha256,
            access::parse_spki,
            Condition::Spki,
        ),
    ];
    for (field, value, parse, make) in exact_fields {
        let Some(v) = list_of(value) else { continue };
        if v.is_empty() {
            check(ctx, field, Err(AccessError::EmptyList));
            continue;
        }
        let parsed: Result<std::collections::HashSet<String>, AccessError> =
            v.iter().map(|s| parse(s)).collect();
        check(ctx, field, parsed.map(make));
    }
    ok &= !attr_failed;
    if let Some(file) = &raw.list {
        let path = ctx.resolve(file);
        match ListFile::load(&path) {
            Ok(list) => {
                if list.is_empty() {
                    // Accepted: emptying the list must revoke everyone, not
                    // fail the reload and leave the old list in force.
                    tracing::warn!(
                        key = %format!("{key}.list"),
                        file = %path.display(),
                        "list file has no entry: this rule admits no one"
                    );
                }
                conditions.push(Condition::List(Arc::new(list)));
            }
            Err(e) => {
                ctx.error(format!("{key}.list"), format!("{}: {e}", path.display()));
                ok = false;
            }
        }
    }
    if ok && conditions.is_empty() {
        ctx.error(
            key,
            "empty rule: give at least one condition (subject, issuer, san_dns, san_email, san_uri, san_ip, serial, fingerprint_sha256, spki_sha256, list); to admit every verified client write require_verified = true",
        );
        return None;
    }
    ok.then(|| Rule {
        label: label.to_string(),
        conditions,
    })
}
