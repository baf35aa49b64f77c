//! What `mtls-gateway check` warns about in a client-certificate policy
//! that loads but refuses clients it was surely meant to accept: a CA
//! bundle holding a certificate that is not a CA, and `verify_depth` too
//! small for the chains the bundle builds.

use super::policy::ClientAuth;
use super::profile::Profile;
use super::rules;
use crate::identity::ClientCert;

/// The most links followed from a CA towards its root (a loop in the
/// bundle's names stops here; OpenSSL's depth limit is far below).
const MAX_WALK: usize = 32;

/// One warning per problem, each a sentence naming the certificate by subject.
pub fn warnings(auth: &ClientAuth) -> Vec<String> {
    let certs = auth.trust.certificates();
    let profiles: Vec<(Option<Profile>, String)> = certs
        .iter()
        .map(|der| {
            let subject = ClientCert::from_der(der.as_ref())
                .map(|c| c.subject_dn().to_string())
                .unwrap_or_else(|_| "(unreadable subject)".into());
            (Profile::parse(der.as_ref()), subject)
        })
        .collect();
    let mut out = Vec::new();
    let mut too_deep = Vec::new();
    // CAs that issued no other CA of the bundle: those that issue clients.
    let mut issuing = 0usize;
    for (profile, subject) in &profiles {
        let Some(p) = profile else { continue };
        if rules::check_ca(p) == 0 {
            out.push(format!(
                "`{subject}` is not a CA certificate (no basicConstraints CA:TRUE): it never verifies a client; nginx does not pin client certificates either, put their CA here"
            ));
            continue;
        }
        let issues_a_ca = profiles.iter().any(|(q, _)| {
            q.as_ref().is_some_and(|q| {
                !q.self_issued() && q.issuer == p.subject && q.subject != p.subject
            })
        });
        if !issues_a_ca {
            issuing += 1;
        }
        if let Some(needed) = intermediates(p, &profiles)
            && needed > auth.verify_depth
        {
            too_deep.push((subject.clone(), needed, issues_a_ca));
        }
    }
    let refused_leaf_issuers = too_deep.iter().filter(|(_, _, issues)| !*issues).count();
    let every = issuing > 0 && refused_leaf_issuers == issuing;
    for (subject, needed, _) in &too_deep {
        out.push(format!(
            "verify_depth = {} refuses every client certificate issued by `{subject}`: its chain has {needed} intermediate(s); set verify_depth = {needed}{}",
            auth.verify_depth,
            if every {
                " (as it stands, no CA of the bundle can issue an accepted client certificate)"
            } else {
                ""
            }
        ));
    }
    out
}

/// How many intermediates a client certificate issued by `ca` has up to a
/// self-signed root of the bundle (`ca` itself counts unless it is that
/// root); None when the bundle holds no root for it.
fn intermediates(ca: &Profile, bundle: &[(Option<Profile>, String)]) -> Option<u32> {
    let mut current = ca;
    for count in 0..MAX_WALK {
        if current.self_issued() {
            return u32::try_from(count).ok();
        }
        current = bundle
            .iter()
            .filter_map(|(p, _)| p.as_ref())
            .find(|p| p.subject == current.issuer)?;
    }
    None
}
