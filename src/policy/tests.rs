//! The rules that need no network: identities, domains, linked identities, authentication
//! policies, deny beating allow. Group rules are tested against a Groups API in tests/policy.rs.

use super::*;

const ALICE: &str = "a11ce000-0000-4000-8000-00000000000a";
const POLICY: &str = "9d0a1e6b-0000-4000-8000-0000000000a1";

fn rules(yaml: &str) -> Policy {
    let rules: PolicyConfig = serde_yaml::from_str(yaml).unwrap();
    Policy::new(rules, Admins::default(), None).unwrap()
}

fn identity(sub: &str, username: &str) -> Identity {
    Identity {
        sub: sub.into(),
        username: Some(username.into()),
    }
}

/// Alice as `username`, with `linked` identities in her set.
fn alice(username: &str, linked: &[&str]) -> Authenticated {
    let mut who = Authenticated::from(identity(ALICE, username));
    for (i, name) in linked.iter().enumerate() {
        who.identity_set
            .push(identity(&format!("linked-{i}"), name));
    }
    who
}

async fn admit(policy: &Policy, who: &Authenticated) -> Result<Decision, Refusal> {
    policy.admit(who, "token").await
}

fn refused_by(result: Result<Decision, Refusal>) -> (&'static str, String, AuthRequirements) {
    match result {
        Err(Refusal::Denied {
            rule,
            message,
            requirements,
        }) => (rule, message, *requirements),
        other => panic!("not denied: {other:?}"),
    }
}

#[tokio::test]
async fn no_policy_admits_any_valid_token() {
    let policy = rules("{}");
    assert!(policy.is_open());
    let decision = admit(&policy, &alice("alice@example.org", &[]))
        .await
        .unwrap();
    assert_eq!(decision.rule, "any valid token (no policy)");
    assert!(!decision.admin);
    assert_eq!(
        introspection_details(&PolicyConfig::default()),
        Default::default()
    );
}

#[tokio::test]
async fn identities_are_admitted_by_id_or_username() {
    let policy = rules(&format!("allow_identities: [{ALICE}, BOB@Example.org]"));
    let by_id = admit(&policy, &alice("alice@example.org", &[]))
        .await
        .unwrap();
    assert_eq!(by_id.rule, format!("allow_identities {ALICE}"));
    let bob = Authenticated::from(identity("bob-sub", "bob@example.org"));
    assert!(admit(&policy, &bob).await.is_ok());
    let carol = Authenticated::from(identity("carol-sub", "carol@example.org"));
    let (rule, message, requirements) = refused_by(admit(&policy, &carol).await);
    assert_eq!(rule, "allow_identities");
    assert!(
        message.contains("identity carol@example.org may not use"),
        "{message}"
    );
    assert!(
        !message.contains(ALICE),
        "the allow list is not shown: {message}"
    );
    assert!(requirements.is_empty());
}

#[tokio::test]
async fn domains_match_exactly_or_by_wildcard_and_ask_for_a_login_from_one() {
    let policy = rules("allow_domains: [anl.gov, '*.uchicago.edu']");
    let exact = admit(&policy, &alice("alice@anl.gov", &[])).await.unwrap();
    assert_eq!(exact.rule, "allow_domains anl.gov as alice@anl.gov");
    assert!(admit(&policy, &alice("alice@rcc.uchicago.edu", &[]))
        .await
        .is_ok());
    let (rule, message, requirements) =
        refused_by(admit(&policy, &alice("alice@example.org", &[])).await);
    assert_eq!(rule, "allow_domains");
    assert!(
        message.contains("it admits identities from anl.gov or *.uchicago.edu;"),
        "{message}"
    );
    // A wildcard cannot be asked of Globus; the plain domain can.
    assert_eq!(requirements.session_required_single_domain, ["anl.gov"]);
}

#[tokio::test]
async fn a_linked_identity_counts_only_with_linked_identities() {
    let linked = alice("alice@example.org", &["alice@anl.gov"]);
    let own_only = rules("allow_domains: [anl.gov]");
    assert_eq!(
        refused_by(admit(&own_only, &linked).await).0,
        "allow_domains"
    );
    let with_linked = rules("allow_domains: [anl.gov]\nlinked_identities: true");
    let decision = admit(&with_linked, &linked).await.unwrap();
    assert_eq!(decision.rule, "allow_domains anl.gov as alice@anl.gov");
    assert_eq!(
        decision.identity.sub, ALICE,
        "the token's own identity owns sessions"
    );
}

#[tokio::test]
async fn deny_wins_over_every_allow_and_covers_linked_identities() {
    let policy = rules(&format!(
        "allow_identities: [{ALICE}]\nallow_domains: [anl.gov]\ndeny_identities: [mallory@evil.org]"
    ));
    let plain = alice("alice@anl.gov", &[]);
    assert!(admit(&policy, &plain).await.is_ok());
    let with_denied_link = alice("alice@anl.gov", &["mallory@evil.org"]);
    let (rule, message, _) = refused_by(admit(&policy, &with_denied_link).await);
    assert_eq!(rule, "deny_identities");
    assert!(
        !message.contains("mallory"),
        "the deny list is not shown: {message}"
    );
    let denied_by_id = rules(&format!("deny_identities: [{ALICE}]"));
    assert_eq!(
        refused_by(admit(&denied_by_id, &plain).await).0,
        "deny_identities"
    );
}

#[tokio::test]
async fn every_configured_kind_must_pass() {
    let policy = rules(&format!(
        "allow_identities: [{ALICE}]\nallow_domains: [anl.gov]"
    ));
    let wrong_domain = alice("alice@example.org", &[]);
    assert_eq!(
        refused_by(admit(&policy, &wrong_domain).await).0,
        "allow_domains"
    );
    let decision = admit(&policy, &alice("alice@anl.gov", &[])).await.unwrap();
    assert_eq!(
        decision.rule,
        format!("allow_identities {ALICE}, allow_domains anl.gov as alice@anl.gov")
    );
}

#[tokio::test]
async fn every_authentication_policy_must_pass_and_a_refusal_asks_for_the_failed_ones() {
    let policy = rules(&format!("authentication_policies: [{POLICY}]"));
    assert_eq!(
        introspection_details(&policy.rules).authentication_policies,
        [POLICY]
    );
    let mut who = alice("alice@example.org", &[]);
    // Not in the answer at all: failed.
    let (rule, message, requirements) = refused_by(admit(&policy, &who).await);
    assert_eq!(rule, "authentication_policies");
    assert!(
        message.contains(&format!("authentication policy {POLICY}")),
        "{message}"
    );
    assert_eq!(requirements.session_required_policies, [POLICY]);
    who.policy_evaluations.insert(POLICY.into(), false);
    assert!(admit(&policy, &who).await.is_err());
    who.policy_evaluations.insert(POLICY.into(), true);
    let decision = admit(&policy, &who).await.unwrap();
    assert_eq!(decision.rule, format!("authentication_policies {POLICY}"));
}

#[tokio::test]
async fn admin_identities_are_admins() {
    let admins = Admins {
        identities: vec![ALICE.to_uppercase()],
        groups: Vec::new(),
    };
    let policy = Policy::new(PolicyConfig::default(), admins, None).unwrap();
    assert!(admit(&policy, &alice("a@x.org", &[])).await.unwrap().admin);
    let bob = Authenticated::from(identity("bob-sub", "bob@example.org"));
    assert!(!admit(&policy, &bob).await.unwrap().admin);
}

#[test]
fn groups_need_a_lookup() {
    let rules: PolicyConfig =
        serde_yaml::from_str("allow_groups: [6f1c0a3e-0000-4000-8000-000000000001]").unwrap();
    assert!(Policy::new(rules, Admins::default(), None).is_err());
}

/// A group lookup against a port nothing listens on (never used: the tests make no lookup).
fn groups() -> Groups {
    let settings =
        crate::auth::AuthSettings::resolve(&Config::default(), Some("http://127.0.0.1:9".into()))
            .unwrap();
    let scope = crate::scope::DEFAULT_SCOPE.parse().unwrap();
    let secret = crate::secret::Secret::new("s");
    let introspector = Arc::new(Introspector::new(&settings, scope, secret).unwrap());
    Groups::new(introspector, "http://127.0.0.1:9", DEFAULT_MEMBERSHIP_CACHE).unwrap()
}

#[test]
fn the_description_names_what_is_admitted_but_not_who_is_denied() {
    let rules: PolicyConfig = serde_yaml::from_str(
        "allow_domains: [anl.gov]\nallow_groups: [{id: 6f1c0a3e-0000-4000-8000-000000000001, \
         name: APS-users}]\ndeny_identities: [mallory@evil.org]",
    )
    .unwrap();
    let policy = Policy::new(rules, Admins::default(), Some(groups())).unwrap();
    assert_eq!(
        policy.describe(),
        "identities from anl.gov, and members of group APS-users, except 1 denied identities"
    );
}
