//! A Globus-Auth-shaped OAuth2 server on 127.0.0.1, port 0: authorize (code + PKCE S256),
//! token (authorization_code, refresh_token and Globus's dependent token grants), introspect
//! (RFC 7662, HTTP Basic; with `include=identity_set_detail` and `authentication_policies`
//! evaluations) and revoke (RFC 7009), with Globus's response shapes; and the Groups API's
//! `my_groups` on the same port. Tokens belong to identities: the one a login gets
//! ([`USER_SUB`]) or any other [`OAuthServer::mint_for`] names. A login whose authorize URL asked
//! for `session_required_policies` gets tokens that meet those policies.
//!
//! It runs on its own thread and runtime, so both plain `#[test]`s that block on the binary and
//! `#[tokio::test]`s can use it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

/// Globus's native app id: what the binary uses unless the config file says otherwise.
pub const NATIVE_CLIENT_ID: &str = "4787c84e-9c55-4881-b941-cb6720cea11c";

/// The identity that logs in through the authorize page and that [`OAuthServer::mint`] serves.
pub const USER_SUB: &str = "b0b0b0b0-0000-4000-8000-000000000001";

/// What the dependent token grant names the Groups API.
pub const GROUPS_RESOURCE_SERVER: &str = "groups.api.globus.org";

/// The lifetime of the access tokens the token endpoint issues.
const ACCESS_LIFETIME: Duration = Duration::from_secs(3600);

pub struct OAuthServer {
    addr: SocketAddr,
    state: Arc<Mutex<AuthState>>,
    /// While true, introspections wait (counted as in progress) until it turns false.
    hold: watch::Sender<bool>,
    /// TCP connections accepted so far.
    connections: Arc<AtomicUsize>,
    runtime: tokio::runtime::Handle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Tokens handed out by [`OAuthServer::mint`].
pub struct Minted {
    pub access_token: String,
    pub refresh_token: String,
}

struct AuthState {
    base_url: String,
    /// Resource servers allowed to introspect: client id -> secret.
    clients: HashMap<String, String>,
    codes: HashMap<String, Consent>,
    access: HashMap<String, Issued>,
    refresh: HashMap<String, Issued>,
    introspections: usize,
    /// While set, introspection answers 503: the auth server is having an outage.
    outage: bool,
    authorize_queries: Vec<HashMap<String, String>>,
    /// Introspections answered or waiting now, and the most at once.
    in_progress: usize,
    peak_in_progress: usize,
    /// What each introspection asked for beyond the token: `include`, `authentication_policies`.
    introspection_params: Vec<HashMap<String, String>>,
    /// Usernames other than `<sub>@example.org`.
    usernames: HashMap<String, String>,
    /// Identities linked to an identity (its identity set, besides itself).
    linked: HashMap<String, Vec<String>>,
    /// Group id -> the identities that are active members.
    groups: HashMap<String, HashSet<String>>,
    /// Groups API tokens from the dependent token grant -> the identity they act for.
    groups_tokens: HashMap<String, String>,
    dependent_grants: usize,
    my_groups_calls: usize,
    /// While set, the Groups API answers 503.
    groups_outage: bool,
}

/// What the user agreed to in the browser, waiting for the code exchange.
struct Consent {
    client_id: String,
    scope: String,
    challenge: String,
    redirect_uri: String,
    /// The authentication policies the login met (what its authorize URL asked for).
    policies: Vec<String>,
}

struct Issued {
    client_id: String,
    scope: String,
    /// The identity it was issued to.
    sub: String,
    /// Unix seconds; refresh tokens do not expire.
    exp: u64,
    revoked: bool,
    /// The authentication policies its login met.
    policies: Vec<String>,
}

impl OAuthServer {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(AuthState {
            base_url: format!("http://{addr}"),
            clients: HashMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            introspections: 0,
            outage: false,
            authorize_queries: Vec::new(),
            in_progress: 0,
            peak_in_progress: 0,
            introspection_params: Vec::new(),
            usernames: HashMap::new(),
            linked: HashMap::new(),
            groups: HashMap::new(),
            groups_tokens: HashMap::new(),
            dependent_grants: 0,
            my_groups_calls: 0,
            groups_outage: false,
        }));
        let (hold, _) = watch::channel(false);
        let connections = Arc::new(AtomicUsize::new(0));
        let (shutdown, stop) = oneshot::channel();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let app = routes(state.clone(), hold.clone());
        let accepted = connections.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            handle_tx.send(runtime.handle().clone()).unwrap();
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener)
                        .unwrap()
                        .tap_io(move |_| {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        });
                // Dropping the server future on stop closes the port at once, open
                // connections included: that is what "the auth server went down" means.
                tokio::select! {
                    served = axum::serve(listener, app) => served.unwrap(),
                    _ = stop => {}
                }
            });
        });
        Self {
            addr,
            state,
            hold,
            connections,
            runtime: handle_rx.recv().unwrap(),
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets a resource server (a control server's client id) introspect with this secret.
    pub fn accept_client(&self, client_id: &str, secret: &str) {
        self.state().clients.insert(client_id.into(), secret.into());
    }

    /// Issues tokens for `scope_id` directly, as if the user had logged in; a zero lifetime
    /// gives an already expired access token (with a working refresh token).
    pub fn mint(&self, scope_id: &str, lifetime: Duration) -> Minted {
        self.mint_for(USER_SUB, scope_id, lifetime)
    }

    /// [`OAuthServer::mint`] for the identity `sub` (username `<sub>@example.org`).
    pub fn mint_for(&self, sub: &str, scope_id: &str, lifetime: Duration) -> Minted {
        self.mint_meeting(sub, scope_id, lifetime, &[])
    }

    /// [`OAuthServer::mint_for`] a login that met the authentication `policies`.
    pub fn mint_meeting(
        &self,
        sub: &str,
        scope_id: &str,
        lifetime: Duration,
        policies: &[&str],
    ) -> Minted {
        let grant = Grant {
            client_id: NATIVE_CLIENT_ID.into(),
            scope: scistream_scope(scope_id),
            sub: sub.into(),
            policies: policies.iter().map(|p| p.to_string()).collect(),
        };
        self.state().issue(grant, lifetime)
    }

    /// Names identity `sub` `username` (instead of `<sub>@example.org`).
    pub fn set_username(&self, sub: &str, username: &str) {
        self.state().usernames.insert(sub.into(), username.into());
    }

    /// Links identity `other` (named `username`) into `sub`'s identity set.
    pub fn link_identity(&self, sub: &str, other: &str, username: &str) {
        let mut state = self.state();
        state.usernames.insert(other.into(), username.into());
        state
            .linked
            .entry(sub.into())
            .or_default()
            .push(other.into());
    }

    /// Makes `sub` an active member of `group` (true) or takes it out.
    pub fn set_member(&self, group: &str, sub: &str, member: bool) {
        let mut state = self.state();
        let members = state.groups.entry(group.into()).or_default();
        match member {
            true => members.insert(sub.into()),
            false => members.remove(sub),
        };
    }

    /// Starts (true) or ends an outage of the Groups API.
    pub fn set_groups_outage(&self, outage: bool) {
        self.state().groups_outage = outage;
    }

    /// How many dependent token grants and `my_groups` calls were answered.
    pub fn group_lookups(&self) -> (usize, usize) {
        let state = self.state();
        (state.dependent_grants, state.my_groups_calls)
    }

    /// Holds every introspection (true) until released (false).
    pub fn hold_introspections(&self, hold: bool) {
        self.hold.send_replace(hold);
    }

    /// Introspections under way now, and the most there were at once.
    pub fn introspections_in_progress(&self) -> (usize, usize) {
        let state = self.state();
        (state.in_progress, state.peak_in_progress)
    }

    /// What the latest introspection asked for besides the token.
    pub fn last_introspection_params(&self) -> HashMap<String, String> {
        let state = self.state();
        state
            .introspection_params
            .last()
            .cloned()
            .unwrap_or_default()
    }

    /// TCP connections this server has accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Starts (true) or ends an outage of the introspection endpoint.
    pub fn set_outage(&self, outage: bool) {
        self.state().outage = outage;
    }

    /// A code for the token endpoint, as the authorize page would give it.
    pub fn mint_code(&self, client_id: &str, scope_id: &str, code_challenge: &str) -> String {
        let mut state = self.state();
        let redirect_uri = format!("{}/v2/web/auth-code", state.base_url);
        let code = random("code");
        state.codes.insert(
            code.clone(),
            Consent {
                client_id: client_id.into(),
                scope: scistream_scope(scope_id),
                challenge: code_challenge.into(),
                redirect_uri,
                policies: Vec::new(),
            },
        );
        code
    }

    pub fn revoke(&self, token: &str) {
        self.state().revoke(token);
    }

    /// Whether introspection would call this token active (ignoring who asks).
    pub fn is_active(&self, token: &str) -> bool {
        self.state().access.get(token).is_some_and(Issued::is_live)
    }

    pub fn introspection_calls(&self) -> usize {
        self.state().introspections
    }

    /// The query strings the authorize endpoint has seen, oldest first.
    pub fn authorize_queries(&self) -> Vec<HashMap<String, String>> {
        self.state().authorize_queries.clone()
    }

    /// What a user does with the login URL: opens it and reads the code off the page.
    pub fn open_in_browser(&self, url: &str) -> String {
        let url = url.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let page = async {
                let response = reqwest::get(&url).await?.error_for_status()?;
                response.text().await
            };
            tx.send(page.await).unwrap();
        });
        rx.recv().unwrap().expect("the authorize page answered")
    }

    /// Takes the server down; its port refuses connections from now on.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    fn state(&self) -> MutexGuard<'_, AuthState> {
        self.state.lock().unwrap()
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn scistream_scope(scope_id: &str) -> String {
    format!("https://auth.globus.org/scopes/{scope_id}/scistream")
}

fn random(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::rng().random::<u128>())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Issued {
    fn is_live(&self) -> bool {
        !self.revoked && unix_now() < self.exp
    }

    fn grant(&self) -> Grant {
        Grant {
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            sub: self.sub.clone(),
            policies: self.policies.clone(),
        }
    }
}

/// What a token endpoint call issues tokens for: which app, which scope, which identity.
struct Grant {
    client_id: String,
    scope: String,
    sub: String,
    /// The authentication policies the login met.
    policies: Vec<String>,
}

impl AuthState {
    fn issue(&mut self, grant: Grant, lifetime: Duration) -> Minted {
        let minted = Minted {
            access_token: random("AT"),
            refresh_token: random("RT"),
        };
        let issued = |exp| Issued {
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            sub: grant.sub.clone(),
            exp,
            revoked: false,
            policies: grant.policies.clone(),
        };
        let exp = unix_now() + lifetime.as_secs();
        self.access.insert(minted.access_token.clone(), issued(exp));
        self.refresh
            .insert(minted.refresh_token.clone(), issued(u64::MAX));
        minted
    }

    fn revoke(&mut self, token: &str) {
        for issued in [self.access.get_mut(token), self.refresh.get_mut(token)]
            .into_iter()
            .flatten()
        {
            issued.revoked = true;
        }
    }

    /// A fresh access token (and, with a new login, a refresh token) in Globus's shape.
    fn token_response(&mut self, grant: Grant, refresh: Option<String>) -> Value {
        let scope = grant.scope.clone();
        let mut minted = self.issue(grant, ACCESS_LIFETIME);
        if let Some(refresh) = refresh {
            // Globus keeps the refresh token across refreshes.
            self.refresh.remove(&minted.refresh_token);
            minted.refresh_token = refresh;
        }
        let resource_server = scope
            .trim_start_matches("https://auth.globus.org/scopes/")
            .trim_end_matches("/scistream");
        json!({
            "access_token": minted.access_token,
            "token_type": "Bearer",
            "resource_server": resource_server,
            "expires_in": ACCESS_LIFETIME.as_secs(),
            "scope": scope,
            "refresh_token": minted.refresh_token,
            "other_tokens": [],
            "state": "_default",
        })
    }

    /// Whether the call's HTTP Basic credentials are a resource server's.
    fn is_client(&self, headers: &HeaderMap) -> bool {
        basic_credentials(headers)
            .is_some_and(|(id, secret)| self.clients.get(&id) == Some(&secret))
    }

    fn live_access(&self, token: &str) -> Option<&Issued> {
        self.access.get(token).filter(|t| t.is_live())
    }

    fn username(&self, sub: &str) -> String {
        self.usernames
            .get(sub)
            .cloned()
            .unwrap_or_else(|| format!("{sub}@example.org"))
    }

    /// `sub` and every identity linked to it, in `identity_set_detail`'s shape.
    fn identity_set(&self, sub: &str) -> Vec<Value> {
        let linked = self.linked.get(sub).into_iter().flatten();
        std::iter::once(sub)
            .chain(linked.map(String::as_str))
            .map(|id| json!({ "sub": id, "username": self.username(id), "status": "used" }))
            .collect()
    }
}

type Shared = Arc<Mutex<AuthState>>;
type Params = HashMap<String, String>;

#[derive(Clone)]
struct App {
    state: Shared,
    hold: watch::Receiver<bool>,
}

impl axum::extract::FromRef<App> for Shared {
    fn from_ref(app: &App) -> Shared {
        app.state.clone()
    }
}

fn routes(state: Shared, hold: watch::Sender<bool>) -> Router {
    let app = App {
        state,
        hold: hold.subscribe(),
    };
    Router::new()
        .route("/v2/oauth2/authorize", get(authorize))
        .route("/v2/oauth2/token", post(token))
        .route("/v2/oauth2/token/introspect", post(introspect))
        .route("/v2/oauth2/token/revoke", post(revoke))
        .route("/v2/groups/my_groups", get(my_groups))
        .with_state(app)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (status, Json(body)).into_response()
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

/// The page the user sees after consenting: just the code, to copy back to the terminal.
async fn authorize(State(state): State<Shared>, Query(q): Query<Params>) -> Response {
    let mut state = state.lock().unwrap();
    state.authorize_queries.push(q.clone());
    let expected_redirect = format!("{}/v2/web/auth-code", state.base_url);
    let problems = [
        (
            param(&q, "response_type") != "code",
            "response_type must be code",
        ),
        (
            param(&q, "code_challenge_method") != "S256",
            "code_challenge_method must be S256",
        ),
        (
            param(&q, "code_challenge").is_empty(),
            "code_challenge is missing",
        ),
        (
            param(&q, "redirect_uri") != expected_redirect,
            "unexpected redirect_uri",
        ),
        (param(&q, "state").is_empty(), "state is missing"),
        (param(&q, "client_id").is_empty(), "client_id is missing"),
    ];
    if let Some((_, problem)) = problems.iter().find(|(bad, _)| *bad) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", problem);
    }
    let code = random("code");
    let policies = param(&q, "session_required_policies").split(',');
    state.codes.insert(
        code.clone(),
        Consent {
            client_id: param(&q, "client_id").into(),
            scope: param(&q, "scope").into(),
            challenge: param(&q, "code_challenge").into(),
            redirect_uri: expected_redirect,
            policies: policies
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        },
    );
    code.into_response()
}

async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    let mut state = state.lock().unwrap();
    match param(&form, "grant_type") {
        "urn:globus:auth:grant_type:dependent_token" => {
            dependent_token(&mut state, &headers, &form)
        }
        "authorization_code" => {
            // A code is good for one exchange, right or wrong.
            let Some(consent) = state.codes.remove(param(&form, "code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
            };
            let verifier_hash =
                URL_SAFE_NO_PAD.encode(Sha256::digest(param(&form, "code_verifier")));
            if verifier_hash != consent.challenge
                || param(&form, "client_id") != consent.client_id
                || param(&form, "redirect_uri") != consent.redirect_uri
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "PKCE or client mismatch",
                );
            }
            let grant = Grant {
                client_id: consent.client_id,
                scope: consent.scope,
                sub: USER_SUB.into(),
                policies: consent.policies,
            };
            Json(state.token_response(grant, None)).into_response()
        }
        "refresh_token" => {
            let refresh = param(&form, "refresh_token").to_owned();
            let grant = state.refresh.get(&refresh).filter(|g| g.is_live());
            let Some(grant) = grant.map(Issued::grant) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "refresh token is not active",
                );
            };
            if param(&form, "client_id") != grant.client_id {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "wrong client_id",
                );
            }
            Json(state.token_response(grant, Some(refresh))).into_response()
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant_type {other:?}"),
        ),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let (id, secret) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))?;
    Some((id, secret))
}

/// Counts an introspection as in progress while it waits out a hold and is answered.
async fn introspect(State(app): State<App>, headers: HeaderMap, form: Form<Params>) -> Response {
    {
        let mut state = app.state.lock().unwrap();
        state.in_progress += 1;
        state.peak_in_progress = state.peak_in_progress.max(state.in_progress);
    }
    let mut hold = app.hold.clone();
    let _ = hold.wait_for(|held| !held).await;
    let mut state = app.state.lock().unwrap();
    state.in_progress -= 1;
    answer_introspection(&mut state, &headers, form.0)
}

fn answer_introspection(state: &mut AuthState, headers: &HeaderMap, form: Params) -> Response {
    state.introspections += 1;
    let mut asked = form.clone();
    asked.remove("token");
    state.introspection_params.push(asked);
    if state.outage {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "down for maintenance",
        );
    }
    if !state.is_client(headers) {
        return bad_client();
    }
    let Some(issued) = state.live_access(param(&form, "token")) else {
        return Json(json!({ "active": false })).into_response();
    };
    let mut answer = json!({
        "active": true,
        "scope": issued.scope,
        "client_id": issued.client_id,
        "sub": issued.sub,
        "username": state.username(&issued.sub),
        "exp": issued.exp,
        "token_type": "Bearer",
    });
    if param(&form, "include")
        .split(',')
        .any(|i| i == "identity_set_detail")
    {
        answer["identity_set_detail"] = Value::from(state.identity_set(&issued.sub));
    }
    let asked = param(&form, "authentication_policies").split(',');
    let evaluations: serde_json::Map<String, Value> = asked
        .filter(|id| !id.is_empty())
        .map(|id| {
            let met = issued.policies.iter().any(|p| p == id);
            (id.to_owned(), json!({ "evaluation": met }))
        })
        .collect();
    if !evaluations.is_empty() {
        answer["policy_evaluations"] = Value::Object(evaluations);
    }
    Json(answer).into_response()
}

fn bad_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "bad client credentials",
    )
}

/// Globus's dependent token grant, for the Groups API only: a resource server (HTTP Basic)
/// trades a user's live access token for a Groups API token acting for the same identity.
fn dependent_token(state: &mut AuthState, headers: &HeaderMap, form: &Params) -> Response {
    if !state.is_client(headers) {
        return bad_client();
    }
    let Some(issued) = state.live_access(param(form, "token")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "token is not active",
        );
    };
    let sub = issued.sub.clone();
    let groups_token = random("GT");
    state.groups_tokens.insert(groups_token.clone(), sub);
    state.dependent_grants += 1;
    Json(json!([{
        "access_token": groups_token,
        "token_type": "Bearer",
        "resource_server": GROUPS_RESOURCE_SERVER,
        "scope": "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships",
        "expires_in": 172800,
    }]))
    .into_response()
}

/// The Groups API's `my_groups`: the groups the token's identity is an active member of.
async fn my_groups(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    state.my_groups_calls += 1;
    if state.groups_outage {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "groups are down",
        );
    }
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    let token = bearer
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(sub) = state.groups_tokens.get(token).cloned() else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "not a Groups API token",
        );
    };
    let groups: Vec<Value> = state
        .groups
        .iter()
        .filter(|(_, members)| members.contains(&sub))
        .map(|(id, _)| {
            json!({
                "id": id,
                "name": format!("group {id}"),
                "my_memberships": [{ "identity_id": sub, "role": "member", "status": "active" }],
            })
        })
        .collect();
    Json(groups).into_response()
}

async fn revoke(State(state): State<Shared>, Form(form): Form<Params>) -> Response {
    state.lock().unwrap().revoke(param(&form, "token"));
    Json(json!({ "active": false })).into_response()
}
