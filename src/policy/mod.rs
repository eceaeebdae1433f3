//! Who may use a gateway: the access policy, applied to every call once its token is found
//! valid and before anything is stored. Identities allowed or denied (deny wins), username
//! domains (of the token's identity, or of any identity linked to it), Globus Group membership
//! and Globus authentication policies. Every kind of rule that is configured must pass; any
//! entry within a kind does. No rule: any valid token passes.
//!
//! [`Policy::admit`] turns an [`Authenticated`] token into a [`Decision`] (who, whether an
//! admin, which rule admitted it), or a [`Refusal`] in words the user can act on, with the
//! [`AuthRequirements`] a new login would meet where logging in again can help.

use std::collections::HashSet;
use std::sync::Arc;

use crate::auth::{AuthRequirements, Authenticated, Identity, IntrospectionDetails, Introspector};
use crate::config::{Config, GroupRef, IdentityName, PolicyConfig};

mod groups;

pub(crate) use groups::load_groups_url;
pub use groups::{groups_url, Groups, DEFAULT_MEMBERSHIP_CACHE};

/// Connections the server may hold to the auth server and the Groups API together: one per
/// introspection under way (capped), and one per group lookup under way on each of the two.
pub const OUTBOUND_CONNECTIONS: usize =
    crate::auth::IntrospectionLimits::DEFAULT_MAX_IN_FLIGHT + 2 * groups::MAX_LOOKUPS;
// The server's fd budget keeps fds for them.
const _: () = assert!(OUTBOUND_CONNECTIONS <= crate::relay::AUTH_CONNECTION_FDS);

/// Who sees and releases every session.
#[derive(Clone, Debug, Default)]
pub struct Admins {
    /// Identity ids (`sub`).
    pub identities: Vec<String>,
    pub groups: Vec<GroupRef>,
}

/// A call let in: by whom, with which powers, and why.
#[derive(Clone, Debug)]
pub struct Decision {
    pub identity: Identity,
    /// An admin identity, or a member of an admin group: sees and releases every session.
    pub admin: bool,
    /// The rule that admitted it, for the audit log.
    pub rule: String,
    /// The ids of the Globus Groups it is a member of, when a rule or a quota override names
    /// groups (empty otherwise): quotas per group read them.
    pub groups: Arc<HashSet<String>>,
}

/// A call the policy keeps out.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not allowed: PERMISSION_DENIED.
    #[error("{message}")]
    Denied {
        message: String,
        /// The kind of rule that refused it (`allow_domains`...), for the audit log.
        rule: &'static str,
        /// What a new login would meet; empty when logging in again cannot help.
        requirements: Box<AuthRequirements>,
    },
    /// Memberships could not be looked up: UNAVAILABLE, never "not allowed".
    #[error("could not check this gateway's access policy: {0}; try again later")]
    Unavailable(String),
}

/// The rules, the admins, and what looks up group memberships.
#[derive(Default)]
pub struct Policy {
    rules: PolicyConfig,
    admin_identities: HashSet<String>,
    admin_groups: Vec<GroupRef>,
    groups: Option<Groups>,
    /// Whether quota overrides name groups, so that every caller's memberships are needed.
    quota_groups: bool,
}

/// What introspection must ask about for `rules`: the identity set whenever some rule looks at
/// identities (a denied one may be linked), and the authentication policies.
pub fn introspection_details(rules: &PolicyConfig) -> IntrospectionDetails {
    IntrospectionDetails {
        identity_set: !(rules.allow_identities.is_empty()
            && rules.deny_identities.is_empty()
            && rules.allow_domains.is_empty()),
        authentication_policies: rules
            .authentication_policies
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect(),
    }
}

impl Policy {
    /// `rules` and `admins`, with group memberships looked up by `groups` (needed iff some
    /// rule names a group).
    pub fn new(
        rules: PolicyConfig,
        admins: Admins,
        groups: Option<Groups>,
    ) -> anyhow::Result<Self> {
        let names_groups = !(rules.allow_groups.is_empty() && admins.groups.is_empty());
        anyhow::ensure!(
            groups.is_some() || !names_groups,
            "the policy names groups but nothing can look memberships up"
        );
        Ok(Policy {
            rules,
            admin_identities: admins.identities.iter().map(|s| s.to_lowercase()).collect(),
            admin_groups: admins.groups,
            groups,
            quota_groups: false,
        })
    }

    /// The policy of the server's `config` file plus the rules and admins given as flags,
    /// looking groups up through `introspector` when a rule names one.
    pub(crate) fn load(
        config: &Config,
        rules: PolicyConfig,
        admins: Admins,
        introspector: &Arc<Introspector>,
    ) -> anyhow::Result<Self> {
        let quota_groups = !config.quotas.groups.is_empty();
        let needs_groups =
            quota_groups || !(rules.allow_groups.is_empty() && admins.groups.is_empty());
        let groups = match needs_groups {
            true => {
                let ttl = rules
                    .membership_cache_secs
                    .map(std::time::Duration::from_secs);
                let ttl = ttl.unwrap_or(DEFAULT_MEMBERSHIP_CACHE);
                let url = load_groups_url(config)?;
                Some(Groups::new(introspector.clone(), &url, ttl)?)
            }
            false => None,
        };
        let policy = Policy::new(rules, admins, groups)?;
        Ok(Policy {
            quota_groups,
            ..policy
        })
    }

    /// Whether any rule restricts who may use the gateway.
    pub fn is_open(&self) -> bool {
        let r = &self.rules;
        r.allow_identities.is_empty()
            && r.deny_identities.is_empty()
            && r.allow_domains.is_empty()
            && r.allow_groups.is_empty()
            && r.authentication_policies.is_empty()
    }

    /// What the gateway admits, in the words refusals use (for the log at start).
    pub fn describe(&self) -> String {
        if self.is_open() {
            return "any valid token of this server's scope".into();
        }
        let r = &self.rules;
        let mut kinds = Vec::new();
        if !r.allow_identities.is_empty() {
            kinds.push(format!("{} listed identities", r.allow_identities.len()));
        }
        if !r.allow_domains.is_empty() {
            kinds.push(self.domains_admitted());
        }
        if !r.allow_groups.is_empty() {
            kinds.push(format!("members of {}", group_labels(&r.allow_groups)));
        }
        if !r.authentication_policies.is_empty() {
            kinds.push(format!("logins meeting {}", self.policy_ids()));
        }
        let mut described = kinds.join(", and ");
        if !r.deny_identities.is_empty() {
            let denied = r.deny_identities.len();
            described.push_str(&format!(", except {denied} denied identities"));
        }
        described
    }

    /// Lets the caller of `who` (whose access token is `token`) in, or says why not.
    pub async fn admit(&self, who: &Authenticated, token: &str) -> Result<Decision, Refusal> {
        let mut admitted_by = Vec::new();
        self.check_deny(who)?;
        admitted_by.extend(self.check_identities(who)?);
        admitted_by.extend(self.check_domains(who)?);
        admitted_by.extend(self.check_policies(who)?);
        let memberships = self.memberships(who, token).await?;
        admitted_by.extend(self.check_groups(who, &memberships)?);
        let rule = match admitted_by.is_empty() {
            true => "any valid token (no policy)".to_owned(),
            false => admitted_by.join(", "),
        };
        Ok(Decision {
            identity: who.identity.clone(),
            admin: self.is_admin(&who.identity, &memberships),
            rule,
            groups: memberships.unwrap_or_default(),
        })
    }

    /// The identities a rule may match: the token's own, or with `linked_identities` every
    /// identity of its set.
    fn candidates<'a>(&self, who: &'a Authenticated, linked: bool) -> Vec<&'a Identity> {
        let mut all = vec![&who.identity];
        if linked {
            all.extend(who.identity_set.iter());
        }
        all
    }

    fn check_deny(&self, who: &Authenticated) -> Result<(), Refusal> {
        let denied = self.candidates(who, true).into_iter().any(|identity| {
            let on_list = |entry: &IdentityName| names(entry, identity);
            self.rules.deny_identities.iter().any(on_list)
        });
        match denied {
            // The message never shows the deny list.
            true => Err(denied_by(
                "deny_identities",
                format!(
                    "identity {} may not use this gateway; ask the gateway's operator if this \
                     is a mistake",
                    who.identity.name()
                ),
            )),
            false => Ok(()),
        }
    }

    fn check_identities(&self, who: &Authenticated) -> Result<Option<String>, Refusal> {
        let allowed = &self.rules.allow_identities;
        if allowed.is_empty() {
            return Ok(None);
        }
        let candidates = self.candidates(who, self.rules.linked_identities);
        let found = candidates
            .into_iter()
            .find_map(|identity| allowed.iter().find(|entry| names(entry, identity)));
        match found {
            Some(entry) => Ok(Some(format!("allow_identities {}", entry.as_str()))),
            None => Err(denied_by(
                "allow_identities",
                format!(
                    "identity {} may not use this gateway: it admits only the identities its \
                     operator listed; ask the operator for access",
                    who.identity.name()
                ),
            )),
        }
    }

    fn check_domains(&self, who: &Authenticated) -> Result<Option<String>, Refusal> {
        let patterns = &self.rules.allow_domains;
        if patterns.is_empty() {
            return Ok(None);
        }
        let candidates = self.candidates(who, self.rules.linked_identities);
        let found = candidates.into_iter().find_map(|identity| {
            let domain = identity.username.as_deref()?.rsplit_once('@')?.1;
            let pattern = patterns.iter().find(|p| p.matches(domain))?;
            Some((pattern, identity))
        });
        if let Some((pattern, identity)) = found {
            return Ok(Some(format!(
                "allow_domains {} as {}",
                pattern.as_str(),
                identity.name()
            )));
        }
        let exact: Vec<String> = patterns
            .iter()
            .filter(|p| p.is_exact())
            .map(|p| p.as_str().to_owned())
            .collect();
        let message = format!(
            "identity {} may not use this gateway: it admits {}; log in with an identity \
             from one of them",
            who.identity.name(),
            self.domains_admitted()
        );
        let requirements = AuthRequirements {
            session_message: (!exact.is_empty())
                .then(|| format!("This scistream gateway admits {}.", self.domains_admitted())),
            session_required_single_domain: exact,
            ..AuthRequirements::default()
        };
        Err(Refusal::Denied {
            message,
            rule: "allow_domains",
            requirements: Box::new(requirements),
        })
    }

    fn domains_admitted(&self) -> String {
        let domains: Vec<&str> = self
            .rules
            .allow_domains
            .iter()
            .map(|p| p.as_str())
            .collect();
        let linked = match self.rules.linked_identities {
            true => " (or linked to one)",
            false => "",
        };
        format!("identities from {}{linked}", domains.join(" or "))
    }

    fn policy_ids(&self) -> String {
        let ids: Vec<&str> = self
            .rules
            .authentication_policies
            .iter()
            .map(|id| id.as_str())
            .collect();
        format!("authentication policy {}", ids.join(" and "))
    }

    fn check_policies(&self, who: &Authenticated) -> Result<Option<String>, Refusal> {
        let asked = introspection_details(&self.rules).authentication_policies;
        if asked.is_empty() {
            return Ok(None);
        }
        let failed: Vec<String> = who.failed_policies(&asked).into_iter().cloned().collect();
        if failed.is_empty() {
            return Ok(Some(format!("authentication_policies {}", asked.join(","))));
        }
        let message = format!(
            "the login of identity {} does not meet this gateway's authentication policy {} \
             (such as high assurance or multi-factor authentication, or a recent enough \
             login); log in again to meet it",
            who.identity.name(),
            failed.join(" and ")
        );
        let requirements = AuthRequirements {
            session_message: Some("Log in to meet this scistream gateway's policy.".into()),
            session_required_policies: failed,
            ..AuthRequirements::default()
        };
        Err(Refusal::Denied {
            message,
            rule: "authentication_policies",
            requirements: Box::new(requirements),
        })
    }

    /// The caller's group memberships, when a rule needs them.
    async fn memberships(
        &self,
        who: &Authenticated,
        token: &str,
    ) -> Result<Option<groups::Memberships>, Refusal> {
        let sub = &who.identity.sub;
        let admin_by_id = self.admin_identities.contains(&sub.to_lowercase());
        let needed = self.quota_groups
            || !self.rules.allow_groups.is_empty()
            || (!self.admin_groups.is_empty() && !admin_by_id);
        let Some(groups) = self.groups.as_ref().filter(|_| needed) else {
            return Ok(None);
        };
        let found = groups.of(sub, token).await;
        found.map(Some).map_err(Refusal::Unavailable)
    }

    fn check_groups(
        &self,
        who: &Authenticated,
        memberships: &Option<groups::Memberships>,
    ) -> Result<Option<String>, Refusal> {
        let allowed = &self.rules.allow_groups;
        if allowed.is_empty() {
            return Ok(None);
        }
        let member_of = |g: &&GroupRef| {
            memberships
                .as_ref()
                .is_some_and(|m| m.contains(g.id.as_str()))
        };
        if let Some(group) = allowed.iter().find(member_of) {
            return Ok(Some(format!("allow_groups {}", group.label())));
        }
        let ttl = self.groups.as_ref().map_or(0, |g| g.ttl().as_secs());
        Err(denied_by(
            "allow_groups",
            format!(
                "identity {} may not use this gateway: it admits members of {}; ask a group \
                 administrator to add you (memberships are looked up again after {ttl} s)",
                who.identity.name(),
                group_labels(allowed)
            ),
        ))
    }

    fn is_admin(&self, identity: &Identity, memberships: &Option<groups::Memberships>) -> bool {
        let by_id = self.admin_identities.contains(&identity.sub.to_lowercase());
        let by_group = memberships
            .as_ref()
            .is_some_and(|m| self.admin_groups.iter().any(|g| m.contains(g.id.as_str())));
        by_id || by_group
    }
}

/// Whether `entry` names `identity`: its id or its username, without case.
fn names(entry: &IdentityName, identity: &Identity) -> bool {
    let entry = entry.as_str();
    identity.sub.eq_ignore_ascii_case(entry)
        || identity
            .username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(entry))
}

fn group_labels(groups: &[GroupRef]) -> String {
    let labels: Vec<String> = groups
        .iter()
        .map(|g| format!("group {}", g.label()))
        .collect();
    labels.join(" or ")
}

/// A refusal that logging in again cannot fix.
fn denied_by(rule: &'static str, message: String) -> Refusal {
    Refusal::Denied {
        message,
        rule,
        requirements: Box::default(),
    }
}

#[cfg(test)]
mod tests;
