//! Who may use a gateway: `scistream server` with authentication on and an access policy, against
//! the local OAuth2 server (introspection with identity sets and policy evaluations, the
//! dependent token grant and the Groups API), driven over gRPC and through the binary.

use std::path::PathBuf;
use std::time::Duration;

use predicates::prelude::*;
use predicates::str::contains;
use scistream::auth::{AuthRequirements, AUTH_REQUIREMENTS_METADATA_KEY};
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::scope::SCOPE_METADATA_KEY;
use tonic::{Code, Request};

use crate::common::identities::{ADMIN, ALICE, BOB, GROUP, S1, SECRET};
use crate::common::oauth::{OAuthServer, USER_SUB};
use crate::common::server_process::ServerProcess;
use crate::common::user::{stderr, User};

const HIGH_ASSURANCE: &str = "9d0a1e6b-0000-4000-8000-0000000000a1";
const HOUR: Duration = Duration::from_secs(3600);

/// A gateway whose config file holds `yaml` (its Groups API is the test auth server), with
/// authentication on and `flags`.
struct Gateway {
    server: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start(auth: &OAuthServer, yaml: &str, flags: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(&dir, &format!("groups_url: {}\n{yaml}", auth.base_url()));
        let args = [&["--config", config.to_str().unwrap()], flags].concat();
        let server = ServerProcess::with_auth(auth, (S1, SECRET), &args);
        Gateway { server, _dir: dir }
    }

    /// `list` over gRPC with a fresh token of `sub`.
    async fn list_as(
        &self,
        auth: &OAuthServer,
        sub: &str,
    ) -> Result<pb::SessionList, tonic::Status> {
        let token = auth.mint_for(sub, S1, HOUR).access_token;
        self.list_with(&token).await
    }

    async fn list_with(&self, token: &str) -> Result<pb::SessionList, tonic::Status> {
        let mut client = ControlClient::connect(format!("http://{}", self.server.addr))
            .await
            .unwrap();
        let mut request = Request::new(pb::ListRequest::default());
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        client.list(request).await.map(|r| r.into_inner())
    }

    /// `scistream req ACTION --s2cs this ARGS` as `user`.
    fn req(&self, user: &User, action: &str, args: &[&str]) -> assert_cmd::Command {
        let base = ["req", action, "--no-tls", "--s2cs", &self.server.addr];
        user.cmd(&[&base[..], args].concat())
    }
}

fn write_config(dir: &tempfile::TempDir, yaml: &str) -> PathBuf {
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A user of the binary whose stored token for S1 is `token`.
fn user_with(auth: &OAuthServer, token: &str) -> User {
    let user = User::new(auth);
    user.write_config(&format!(
        "servers:\n  127.0.0.1: {S1}\ntokens:\n  {S1}:\n    access_token: {token}\n    \
         expires_at: 2099-01-01T00:00:00Z\n    scope: x\n"
    ));
    user
}

fn user_for(auth: &OAuthServer, sub: &str) -> User {
    user_with(auth, &auth.mint_for(sub, S1, HOUR).access_token)
}

#[track_caller]
fn assert_denied(result: Result<pb::SessionList, tonic::Status>) -> tonic::Status {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get(SCOPE_METADATA_KEY)
            .unwrap()
            .to_str()
            .unwrap(),
        S1
    );
    status
}

fn requirements(status: &tonic::Status) -> Option<AuthRequirements> {
    let value = status.metadata().get(AUTH_REQUIREMENTS_METADATA_KEY)?;
    AuthRequirements::from_metadata(value.to_str().unwrap())
}

#[tokio::test]
async fn a_domain_rule_admits_its_domain_and_refuses_others_with_the_login_that_asks_for_it() {
    let auth = OAuthServer::start();
    auth.set_username(ALICE, "alice@anl.gov");
    let gateway = Gateway::start(&auth, "policy:\n  allow_domains: [anl.gov]\n", &[]);
    gateway.list_as(&auth, ALICE).await.unwrap();
    assert_eq!(
        auth.last_introspection_params()["include"],
        "identity_set_detail"
    );

    let status = assert_denied(gateway.list_as(&auth, BOB).await);
    let message = status.message();
    assert!(
        message.starts_with(&format!(
            "identity {BOB}@example.org may not use this gateway: it admits identities from \
             anl.gov;"
        )),
        "{message}"
    );
    let asked = requirements(&status).expect("a login can meet a domain rule");
    assert_eq!(asked.session_required_single_domain, ["anl.gov"]);

    // Through the binary: exit 3 and the command that asks for such a login.
    let bob = user_for(&auth, BOB);
    gateway
        .req(&bob, "list", &[])
        .assert()
        .code(3)
        .stderr(contains(message))
        .stderr(contains(format!(
            "run: scistream login --scope {S1} --force --required-domain anl.gov\n"
        )));
}

#[tokio::test]
async fn a_linked_identity_counts_only_with_linked_identities() {
    let auth = OAuthServer::start();
    auth.link_identity(BOB, "b0b00000-0000-4000-8000-0000000000b2", "bob@anl.gov");
    let own_only = Gateway::start(&auth, "", &["--allow-domain", "anl.gov"]);
    assert_denied(own_only.list_as(&auth, BOB).await);
    let linked = Gateway::start(
        &auth,
        "",
        &["--allow-domain", "anl.gov", "--linked-identities"],
    );
    linked.list_as(&auth, BOB).await.unwrap();
    assert!(
        linked
            .server
            .log()
            .contains("rule=allow_domains anl.gov as bob@anl.gov"),
        "{}",
        linked.server.log()
    );
}

#[tokio::test]
async fn an_identity_rule_admits_by_id_or_username_and_refuses_others() {
    let auth = OAuthServer::start();
    auth.set_username(ALICE, "alice@anl.gov");
    let flags = [
        "--allow-identity",
        "Alice@ANL.gov",
        "--allow-identity",
        ADMIN,
    ];
    let gateway = Gateway::start(&auth, "", &flags);
    gateway.list_as(&auth, ALICE).await.unwrap();
    gateway.list_as(&auth, ADMIN).await.unwrap();
    let status = assert_denied(gateway.list_as(&auth, BOB).await);
    assert!(status
        .message()
        .contains("admits only the identities its operator listed"));
    assert!(!status.message().contains("alice"), "the list is not shown");
    assert!(requirements(&status).is_none());
}

#[tokio::test]
async fn deny_beats_allow_and_the_refusal_does_not_show_the_deny_list() {
    let auth = OAuthServer::start();
    auth.set_username(ALICE, "alice@anl.gov");
    auth.set_username(BOB, "mallory@anl.gov");
    let yaml = "policy:\n  allow_domains: [anl.gov]\n  deny_identities: [MALLORY@anl.gov]\n";
    let gateway = Gateway::start(&auth, yaml, &[]);
    gateway.list_as(&auth, ALICE).await.unwrap();
    let status = assert_denied(gateway.list_as(&auth, BOB).await);
    assert!(requirements(&status).is_none(), "a new login cannot help");
    assert!(!status.message().contains("deny"), "{}", status.message());
    // Exit 6: not permitted, and nothing to log in to.
    gateway
        .req(&user_for(&auth, BOB), "list", &[])
        .assert()
        .code(6)
        .stderr(contains("ask the gateway's operator"))
        .stderr(contains("scistream login").not());
}

#[tokio::test]
async fn group_members_pass_others_are_refused_and_a_groups_outage_is_unavailable_and_not_kept() {
    let auth = OAuthServer::start();
    auth.set_member(GROUP, ALICE, true);
    auth.set_member(GROUP, ADMIN, true);
    let yaml = format!("policy:\n  allow_groups:\n    - {{id: {GROUP}, name: APS-users}}\n");
    let gateway = Gateway::start(&auth, &yaml, &[]);
    gateway.list_as(&auth, ALICE).await.unwrap();

    let status = assert_denied(gateway.list_as(&auth, BOB).await);
    assert!(
        status
            .message()
            .contains("it admits members of group APS-users; ask a group"),
        "{}",
        status.message()
    );
    assert!(requirements(&status).is_none());

    auth.set_groups_outage(true);
    let down = gateway.list_as(&auth, ADMIN).await.unwrap_err();
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    assert!(down.message().contains("Groups API"), "{}", down.message());
    gateway
        .req(&user_for(&auth, ADMIN), "list", &[])
        .assert()
        .code(4);
    auth.set_groups_outage(false);
    // The failed lookup was not kept as "not a member".
    gateway.list_as(&auth, ADMIN).await.unwrap();
}

#[tokio::test]
async fn a_membership_change_is_seen_within_the_membership_cache_time() {
    let auth = OAuthServer::start();
    auth.set_member(GROUP, ALICE, true);
    let rules = |secs: u32| {
        format!("policy:\n  allow_groups: [{GROUP}]\n  membership_cache_secs: {secs}\n")
    };
    let cached = Gateway::start(&auth, &rules(3600), &[]);
    let uncached = Gateway::start(&auth, &rules(0), &[]);
    let token = auth.mint_for(ALICE, S1, HOUR).access_token;
    cached.list_with(&token).await.unwrap();
    uncached.list_with(&token).await.unwrap();
    let lookups = auth.group_lookups();

    auth.set_member(GROUP, ALICE, false);
    // Kept for the cache time: no new lookup, still a member.
    cached.list_with(&token).await.unwrap();
    assert_eq!(auth.group_lookups(), lookups);
    // Not kept at all: seen at once.
    assert_denied(uncached.list_with(&token).await);
}

#[tokio::test]
async fn an_admin_group_member_sees_every_session_with_its_owners_username() {
    let auth = OAuthServer::start();
    auth.set_username(ALICE, "alice@anl.gov");
    auth.set_member(GROUP, ADMIN, true);
    let gateway = Gateway::start(&auth, &format!("admin_groups: [{GROUP}]\n"), &[]);
    let alice = user_for(&auth, ALICE);
    gateway
        .req(
            &alice,
            "prod",
            &[
                "--remote-ip",
                "127.0.0.1",
                "--receiver-ports",
                "7000",
                "--plaintext-hop",
            ],
        )
        .assert()
        .success();

    let admin = user_for(&auth, ADMIN);
    let listed = gateway.req(&admin, "list", &["--json"]).assert().success();
    let sessions: serde_json::Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    assert_eq!(sessions[0]["owner"], "alice@anl.gov", "{sessions}");
    gateway
        .req(&admin, "list", &[])
        .assert()
        .success()
        .stdout(contains("OWNER").and(contains("alice@anl.gov")));
    // Bob is no admin: he sees nothing.
    gateway
        .req(&user_for(&auth, BOB), "list", &["--json"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn a_high_assurance_refusal_leads_to_the_login_that_meets_it() {
    let auth = OAuthServer::start();
    let gateway = Gateway::start(&auth, "", &["--authentication-policy", HIGH_ASSURANCE]);
    let user = user_with(&auth, &auth.mint(S1, HOUR).access_token);
    let refused = gateway.req(&user, "list", &[]).assert().code(3);
    let said = stderr(refused.get_output());
    let command =
        format!("scistream login --scope {S1} --force --required-policy {HIGH_ASSURANCE}");
    assert!(said.contains(&format!("run: {command}\n")), "{said}");
    assert!(
        said.contains("does not meet this gateway's authentication policy"),
        "{said}"
    );
    assert_eq!(
        auth.last_introspection_params()["authentication_policies"],
        HIGH_ASSURANCE
    );

    // The user runs it: the authorize URL asks Globus for exactly that.
    let args: Vec<&str> = command.split(' ').skip(2).collect();
    let output = user.login(&auth, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let query = auth.authorize_queries().pop().unwrap();
    assert_eq!(query["session_required_policies"], HIGH_ASSURANCE);
    assert_eq!(query["prompt"], "login");

    gateway
        .req(&user, "list", &["--json"])
        .assert()
        .success()
        .stdout("[]\n");
    let log = gateway.server.log();
    assert!(
        log.lines().any(|l| l.contains("decision=\"admitted\"")
            && l.contains(&format!("rule=authentication_policies {HIGH_ASSURANCE}"))
            && l.contains(USER_SUB)),
        "{log}"
    );
}

#[test]
fn every_decision_is_logged_once_per_call_with_identity_username_and_rule() {
    let auth = OAuthServer::start();
    auth.set_username(ALICE, "alice@anl.gov");
    let gateway = Gateway::start(&auth, "policy:\n  allow_domains: [anl.gov]\n", &[]);
    gateway
        .req(&user_for(&auth, ALICE), "list", &[])
        .assert()
        .success();
    gateway
        .req(&user_for(&auth, BOB), "list", &[])
        .assert()
        .code(3);
    let log = gateway.server.log();
    let decisions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"access\""))
        .collect();
    assert_eq!(decisions.len(), 2, "{log}");
    let (admitted, refused) = (decisions[0], decisions[1]);
    assert!(admitted.contains("decision=\"admitted\""), "{admitted}");
    assert!(admitted.contains(&format!("sub={ALICE}")), "{admitted}");
    assert!(
        admitted.contains("username=\"alice@anl.gov\""),
        "{admitted}"
    );
    assert!(
        admitted.contains("rule=allow_domains anl.gov as alice@anl.gov"),
        "{admitted}"
    );
    assert!(refused.contains("decision=\"refused\""), "{refused}");
    assert!(refused.contains(&format!("sub={BOB}")), "{refused}");
    assert!(
        refused.contains(&format!("username=\"{BOB}@example.org\"")),
        "{refused}"
    );
    assert!(refused.contains("rule=\"allow_domains\""), "{refused}");
}

/// `scistream server` with `config` as its file and a client secret; it must fail at start.
fn failed_start(auth: &OAuthServer, config: &str, flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, config);
    let mut cmd = assert_cmd::Command::cargo_bin("scistream").unwrap();
    cmd.args([
        "--config",
        path.to_str().unwrap(),
        "server",
        "--no-tls",
        "--port",
        "0",
    ])
    .args(["--bind", "127.0.0.1"])
    .args(flags)
    .env("SCISTREAM_AUTH_URL", auth.base_url())
    .env_remove("SCISTREAM_CONFIG")
    .timeout(Duration::from_secs(60));
    let failed = cmd.assert().failure();
    let said = stderr(failed.get_output());
    assert!(said.contains(path.to_str().unwrap()), "{said}");
    said
}

#[test]
fn a_policy_file_that_names_an_unknown_key_or_a_bad_entry_stops_the_server() {
    let auth = OAuthServer::start();
    auth.accept_client(S1, SECRET);
    let secret = ["--client-secret", SECRET];
    let typo = failed_start(&auth, "policy:\n  allow_domain: [anl.gov]\n", &secret);
    assert!(typo.contains("at line 2 column 3"), "{typo}");
    assert!(typo.contains("unknown field `allow_domain`"), "{typo}");
    let bad = failed_start(&auth, "policy:\n  allow_groups: [APS-users]\n", &secret);
    assert!(
        bad.contains("line 2") && bad.contains("not a UUID"),
        "{bad}"
    );
    let wildcard = failed_start(&auth, "policy:\n  allow_domains: ['anl.*']\n", &secret);
    assert!(
        wildcard.contains("line 2") && wildcard.contains("*.anl.gov"),
        "{wildcard}"
    );
}

#[test]
fn a_policy_without_authentication_stops_the_server() {
    let auth = OAuthServer::start();
    let said = failed_start(&auth, "policy:\n  allow_domains: [anl.gov]\n", &[]);
    assert!(said.contains("needs authentication"), "{said}");
}
