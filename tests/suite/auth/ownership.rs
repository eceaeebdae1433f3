//! Who may do what with a session: `scistream server` with authentication on, driven over gRPC
//! and through the binary by two identities (and an admin), each with its own token.

use std::time::Duration;

use predicates::prelude::*;
use predicates::str::contains;
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use tonic::transport::Channel;
use tonic::{Code, Request};

use super::S1;
use crate::common::oauth::OAuthServer;
use crate::common::server_process::{ServerProcess, ServerSetup};
use crate::common::user::User;

const SECRET: &str = "s1-secret";
const ALICE: &str = "a11ce000-0000-4000-8000-00000000000a";
const BOB: &str = "b0b00000-0000-4000-8000-00000000000b";
const ADMIN: &str = "ad000000-0000-4000-8000-0000000000ad";
const HOUR: Duration = Duration::from_secs(3600);

fn server(auth: &OAuthServer, extra_args: &[&str]) -> ServerProcess {
    auth.accept_client(S1, SECRET);
    ServerProcess::start(
        auth,
        ServerSetup {
            ip: "127.0.0.1",
            credentials: Some((S1, SECRET)),
            extra_args,
        },
    )
}

/// A gRPC client whose calls carry a token of identity `sub`.
struct Caller {
    client: ControlClient<Channel>,
    token: String,
}

impl Caller {
    async fn new(auth: &OAuthServer, server: &ServerProcess, sub: &str) -> Self {
        let client = ControlClient::connect(format!("http://{}", server.addr))
            .await
            .unwrap();
        let token = auth.mint_for(sub, S1, HOUR).access_token;
        Self { client, token }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let value = format!("Bearer {}", self.token).parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        request
    }

    async fn req(&self, uid: &str) -> Result<pb::Response, tonic::Status> {
        let req = pb::Request {
            uid: uid.into(),
            role: "PROD".into(),
            num_conn: 1,
            rate: 1,
            ..Default::default()
        };
        let response = self.client.clone().req(self.request(req)).await?;
        Ok(response.into_inner())
    }

    async fn hello(&self, uid: &str) -> Result<pb::AppResponse, tonic::Status> {
        let hello = pb::Hello {
            uid: uid.into(),
            prod_listeners: vec!["127.0.0.1:7000".into()],
            role: "PROD".into(),
        };
        let response = self.client.clone().hello(self.request(hello)).await?;
        Ok(response.into_inner())
    }

    async fn update(&self, uid: &str, target: &str) -> Result<pb::Response, tonic::Status> {
        let update = pb::UpdateTargets {
            uid: uid.into(),
            remote_listeners: vec![target.into()],
            role: "PROD".into(),
        };
        let response = self.client.clone().update(self.request(update)).await?;
        Ok(response.into_inner())
    }

    async fn release(&self, uid: &str) -> Result<pb::Response, tonic::Status> {
        let release = pb::Release { uid: uid.into() };
        let response = self.client.clone().release(self.request(release)).await?;
        Ok(response.into_inner())
    }

    async fn status(&self, uid: &str) -> Result<pb::SessionInfo, tonic::Status> {
        let query = pb::StatusRequest { uid: uid.into() };
        let response = self.client.clone().status(self.request(query)).await?;
        Ok(response.into_inner())
    }

    /// The uids `list` shows this caller.
    async fn listed(&self) -> Vec<String> {
        let list = self.request(pb::ListRequest::default());
        let sessions = self.client.clone().list(list).await.unwrap();
        let sessions = sessions.into_inner().sessions;
        sessions.into_iter().map(|s| s.uid).collect()
    }

    /// Opens session `uid` relaying to 127.0.0.1:7000, with the hello sent by `hello_from`.
    async fn open(&self, uid: &str, hello_from: &Caller) {
        let (req, hello) = tokio::join!(self.req(uid), hello_from.hello(uid));
        req.unwrap();
        hello.unwrap();
        self.update(uid, "127.0.0.1:7000").await.unwrap();
    }
}

/// The call was refused as not the caller's, with a message that names the session only.
#[track_caller]
fn assert_denied<T: std::fmt::Debug>(result: Result<T, tonic::Status>, uid: &str, owner: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(uid), "{status:?}");
    assert!(!status.message().contains(owner), "{status:?}");
}

#[tokio::test]
async fn a_second_identity_can_say_hello_but_not_list_steer_query_or_release() {
    let auth = OAuthServer::start();
    let server = server(&auth, &[]);
    let alice = Caller::new(&auth, &server, ALICE).await;
    let bob = Caller::new(&auth, &server, BOB).await;
    // The uid is the capability for hello: an app controller may run under its own identity.
    alice.open("alices", &bob).await;

    assert_eq!(bob.listed().await, Vec::<String>::new());
    assert_denied(bob.update("alices", "127.0.0.1:9").await, "alices", ALICE);
    assert_denied(bob.status("alices").await, "alices", ALICE);
    assert_denied(bob.release("alices").await, "alices", ALICE);

    assert_eq!(alice.listed().await, ["alices"]);
    let status = alice.status("alices").await.unwrap();
    assert_eq!(
        status.targets,
        ["127.0.0.1:7000"],
        "bob's update was refused"
    );
    alice.release("alices").await.unwrap();
    let log = server.log();
    assert!(!log.contains(&bob.token) && !log.contains(&alice.token));
}

#[tokio::test]
async fn an_admin_identity_sees_and_releases_every_session_but_steers_none() {
    let auth = OAuthServer::start();
    let server = server(&auth, &["--admin-identity", ADMIN]);
    let alice = Caller::new(&auth, &server, ALICE).await;
    let bob = Caller::new(&auth, &server, BOB).await;
    let admin = Caller::new(&auth, &server, ADMIN).await;
    alice.open("alices", &alice).await;
    bob.open("bobs", &bob).await;

    let mut all = admin.listed().await;
    all.sort();
    assert_eq!(all, ["alices", "bobs"]);
    assert_eq!(bob.listed().await, ["bobs"]);
    assert_eq!(admin.status("alices").await.unwrap().uid, "alices");
    assert_denied(admin.update("alices", "127.0.0.1:9").await, "alices", ALICE);
    admin.release("alices").await.unwrap();
    let gone = alice.status("alices").await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(admin.listed().await, ["bobs"]);
}

#[tokio::test]
async fn admin_identities_can_come_from_the_config_file() {
    let auth = OAuthServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("admin_identities:\n  - {ADMIN}\n")).unwrap();
    // After the fixture's own --config, so this one wins.
    let server = server(&auth, &["--config", config.to_str().unwrap()]);
    let alice = Caller::new(&auth, &server, ALICE).await;
    let admin = Caller::new(&auth, &server, ADMIN).await;
    alice.open("alices", &alice).await;
    assert_eq!(admin.listed().await, ["alices"]);
    admin.release("alices").await.unwrap();
}

/// A user of the binary whose stored token for S1 belongs to `sub`.
fn user_with_token(auth: &OAuthServer, sub: &str) -> User {
    let user = User::new(auth);
    let token = auth.mint_for(sub, S1, HOUR).access_token;
    user.write_config(&format!(
        "servers:\n  127.0.0.1: {S1}\ntokens:\n  {S1}:\n    access_token: {token}\n    \
         expires_at: 2099-01-01T00:00:00Z\n    scope: x\n"
    ));
    user
}

#[tokio::test]
async fn the_cli_exits_6_on_another_identitys_session_and_lists_only_its_own() {
    let auth = OAuthServer::start();
    let server = server(&auth, &[]);
    let alice = Caller::new(&auth, &server, ALICE).await;
    alice.open("alices", &alice).await;
    let bob = user_with_token(&auth, BOB);
    let req = |action: &str, rest: &[&str]| {
        let args = [&["req", action, "--no-tls", "--s2cs", &server.addr], rest].concat();
        bob.cmd(&args)
    };
    for action in ["release", "status"] {
        req(action, &["alices"])
            .assert()
            .code(6)
            .stderr(contains("session \"alices\" belongs to another identity"))
            .stderr(contains(ALICE).not());
    }
    req("list", &["--json"]).assert().success().stdout("[]\n");
    assert_eq!(alice.listed().await, ["alices"]);
}
