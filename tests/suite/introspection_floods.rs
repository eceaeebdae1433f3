//! Distinct junk tokens cannot flood the auth server: introspections under way are capped in
//! all and per client address (the rest are refused at once as UNAVAILABLE), so the gateway
//! holds a bounded number of connections to the auth server; and each kind of token refusal is
//! logged once every few seconds, not once per call.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use scistream::auth::{AuthError, AuthSettings, IntrospectionLimits, Introspector};
use scistream::config::Config;
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::secret::Secret;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::common::oauth::OAuthServer;
use crate::common::server_process::ServerProcess;

const S1: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
const SECRET: &str = "s1-secret";
const HOUR: Duration = Duration::from_secs(3600);
/// Generous: a loaded CI machine is slow, but never this slow.
const DEADLINE: Duration = Duration::from_secs(30);

const LIMITS: IntrospectionLimits = IntrospectionLimits {
    max_in_flight: 8,
    max_in_flight_per_ip: 3,
};

fn introspector(auth: &OAuthServer) -> Introspector {
    auth.accept_client(S1, SECRET);
    let config = Config {
        auth_url: Some(auth.base_url()),
        ..Config::default()
    };
    let settings = AuthSettings::resolve(&config, None).unwrap();
    Introspector::new(&settings, S1.parse().unwrap(), Secret::new(SECRET))
        .unwrap()
        .with_limits(LIMITS)
}

fn ip(n: u8) -> Option<IpAddr> {
    Some(IpAddr::from([10, 0, 0, n]))
}

/// Waits until the auth server has `n` introspections waiting.
async fn until_in_progress(auth: &OAuthServer, n: usize) {
    let started = Instant::now();
    while auth.introspections_in_progress().0 < n {
        assert!(
            started.elapsed() < DEADLINE,
            "{:?}",
            auth.introspections_in_progress()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `n` of `tasks` have finished.
async fn until_finished<T>(tasks: &[JoinHandle<T>], n: usize) {
    let started = Instant::now();
    while tasks.iter().filter(|t| t.is_finished()).count() < n {
        assert!(
            started.elapsed() < DEADLINE,
            "refusals must not wait for the auth server"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks each of `tokens` from the address of `from(i)`, all at once, while the auth server
/// holds every introspection: once `answered` of them have their answer (refused without a
/// call), the hold ends. The results, with how many introspections the auth server held.
async fn flood(
    auth: &OAuthServer,
    tokens: usize,
    from: impl Fn(usize) -> Option<IpAddr>,
    held: usize,
) -> (Vec<Result<(), AuthError>>, usize) {
    let checker = Arc::new(introspector(auth));
    auth.hold_introspections(true);
    let tasks: Vec<_> = (0..tokens)
        .map(|i| {
            let checker = checker.clone();
            let peer = from(i);
            tokio::spawn(async move {
                let token = format!("junk-{i}");
                checker.authenticate(Some(&token), peer).await.map(drop)
            })
        })
        .collect();
    until_in_progress(auth, held).await;
    until_finished(&tasks, tokens - held).await;
    let in_progress = auth.introspections_in_progress().0;
    auth.hold_introspections(false);
    let results = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    (results, in_progress)
}

fn count(results: &[Result<(), AuthError>], busy: bool) -> usize {
    let wanted = |r: &&Result<(), AuthError>| match r {
        Err(AuthError::Busy { .. }) => busy,
        Err(AuthError::Invalid { .. }) => !busy,
        other => panic!("{other:?}"),
    };
    results.iter().filter(wanted).count()
}

#[tokio::test]
async fn one_address_with_distinct_junk_tokens_gets_only_its_share_of_introspections() {
    let auth = OAuthServer::start();
    let share = LIMITS.max_in_flight_per_ip;
    let (results, in_progress) = flood(&auth, 100, |_| ip(1), share).await;
    assert_eq!(in_progress, share);
    assert_eq!(
        auth.introspections_in_progress().1,
        share,
        "never more at once"
    );
    assert_eq!(count(&results, true), 100 - share);
    assert_eq!(count(&results, false), share, "the held ones were answered");
    assert_eq!(auth.introspection_calls(), share);
}

#[tokio::test]
async fn many_addresses_together_stay_under_the_whole_cap_and_its_connections() {
    let auth = OAuthServer::start();
    let whole = LIMITS.max_in_flight;
    let (results, in_progress) = flood(&auth, 60, |i| ip(i as u8 % 20), whole).await;
    assert_eq!(in_progress, whole);
    assert_eq!(
        auth.introspections_in_progress().1,
        whole,
        "never more at once"
    );
    assert_eq!(count(&results, true), 60 - whole);
    // One connection per introspection under way at most.
    let connections = auth.connections_accepted();
    assert!(
        connections <= whole,
        "{connections} connections to the auth server"
    );

    // The flood over, a good token passes.
    let checker = introspector(&auth);
    let good = auth.mint(S1, HOUR).access_token;
    checker.authenticate(Some(&good), ip(1)).await.unwrap();
}

fn gateway(auth: &OAuthServer) -> ServerProcess {
    ServerProcess::with_auth(auth, (S1, SECRET), &[])
}

async fn client(server: &ServerProcess) -> ControlClient<Channel> {
    ControlClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap()
}

async fn list(
    mut client: ControlClient<Channel>,
    token: String,
) -> Result<pb::SessionList, tonic::Status> {
    let mut request = Request::new(pb::ListRequest::default());
    let value = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    client.list(request).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn a_junk_token_flood_is_refused_unavailable_and_the_auth_server_sees_a_few() {
    let auth = OAuthServer::start();
    let server = gateway(&auth);
    let client = client(&server).await;
    let before = auth.connections_accepted();
    let share = IntrospectionLimits::default().max_in_flight_per_ip;
    auth.hold_introspections(true);
    let calls: Vec<_> = (0..300)
        .map(|i| tokio::spawn(list(client.clone(), format!("junk-{i}"))))
        .collect();
    until_in_progress(&auth, share).await;
    until_finished(&calls, 300 - share).await;
    let (_, peak) = auth.introspections_in_progress();
    auth.hold_introspections(false);
    let results: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert_eq!(
        peak, share,
        "the auth server saw {peak} introspections at once"
    );
    let unavailable: Vec<&tonic::Status> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|s| s.code() == Code::Unavailable)
        .collect();
    assert_eq!(unavailable.len(), 300 - share);
    let message = unavailable[0].message();
    assert!(
        message.contains("checking too many new tokens at once"),
        "{message}"
    );
    let opened = auth.connections_accepted() - before;
    assert!(opened <= share, "{opened} connections to the auth server");

    // A real user gets through once the flood is over.
    let good = auth.mint(S1, HOUR).access_token;
    list(client, good).await.unwrap();
}

#[tokio::test]
async fn junk_token_refusals_make_one_warning_per_kind_every_ten_seconds() {
    let auth = OAuthServer::start();
    let server = gateway(&auth);
    let started = Instant::now();
    let client = client(&server).await;
    for i in 0..40 {
        let status = list(client.clone(), format!("junk-{i}")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let status = list(client.clone(), String::new()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let windows = 1 + started.elapsed().as_secs() as usize / 10;
    let log = server.log();
    let warnings = |reason: &str| {
        log.lines()
            .filter(|l| l.contains("event=\"auth_failure\"") && l.contains(reason))
            .count()
    };
    let (invalid, missing) = (warnings("invalid_token"), warnings("missing_token"));
    assert!((1..=windows).contains(&invalid), "{invalid} lines:\n{log}");
    assert!((1..=windows).contains(&missing), "{missing} lines:\n{log}");
    assert!(
        log.contains("refused=1"),
        "the first line counts one call:\n{log}"
    );
}
