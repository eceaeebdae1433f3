//! S2UC, the user client: connects to a control server and drives a session's calls.

use std::collections::HashSet;
use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::address::{self, HostPort};
use crate::exit::Failure;
use crate::limits::{MAX_REPLY_BYTES, MAX_REQUEST_BYTES};
use crate::pb;
use crate::pb::control_client::ControlClient;
use crate::scope::AUTH_METADATA_KEY;
use crate::secret::Secret;
use crate::tls::{ClientTls, HandshakeError};

mod failure;
mod gateway;
pub(crate) mod hello;
pub(crate) mod setup;
mod untrusted;

pub(crate) use failure::explain_failure;
pub(crate) use gateway::Gateway;
use untrusted::{escape_status, Untrusted};

/// The most pages of sessions `list` follows: 64 MiB of replies, far more sessions than a
/// server holds, and a bound on what a server that never stops paging can make the client hold.
pub(crate) const MAX_LIST_PAGES: usize = 64;

/// A connection to one control server (`s2cs`), with the token its calls carry.
#[derive(Clone)]
pub struct Client {
    inner: ControlClient<Channel>,
    /// The `authorization` value, marked sensitive so that no log shows it.
    token: Option<MetadataValue<Ascii>>,
    s2cs: HostPort,
    deadlines: Deadlines,
    /// Whether the channel is TLS.
    tls: bool,
    /// Set once a reply said that the server has authentication off.
    auth_off: Arc<AtomicBool>,
}

/// How long the client waits for the server before giving up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Deadlines {
    /// For the connection (TCP, and the TLS handshake).
    pub(crate) connect: Duration,
    /// For a `req`, which the server answers only once the session's hello arrived.
    pub(crate) req: Duration,
    /// For every other call.
    pub(crate) call: Duration,
}

impl Default for Deadlines {
    /// The client cannot know the server's `--hello-timeout`: a `req` waits for the default
    /// one (180 s) plus a margin, so that the server's own answer comes first.
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            req: Duration::from_secs(180 + 30),
            call: Duration::from_secs(30),
        }
    }
}

impl Deadlines {
    /// One deadline for the connection and for each call.
    pub(crate) fn all(limit: Duration) -> Self {
        Deadlines {
            connect: limit,
            req: limit,
            call: limit,
        }
    }
}

/// The server did not answer within a deadline: carried as the source of the call's status.
#[derive(Debug, thiserror::Error)]
#[error("no answer from {s2cs} within {} s", .after.as_secs_f64())]
pub(crate) struct NoAnswer {
    pub(crate) s2cs: HostPort,
    pub(crate) after: Duration,
}

impl NoAnswer {
    /// The deadline a failed call ran out of, if that is why it failed.
    pub(crate) fn of(status: &Status) -> Option<&NoAnswer> {
        status.source()?.downcast_ref()
    }
}

/// A session's listeners and where they relay to, as its update left them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Routed {
    pub(crate) listeners: Vec<HostPort>,
    pub(crate) targets: Vec<HostPort>,
}

/// The addresses of a reply's `field`, parsed: a server that sends something else is refused
/// as one that does not speak the protocol.
pub fn reply_addresses(field: &str, values: &[String]) -> Result<Vec<HostPort>, Status> {
    let parse = |value: &String| {
        HostPort::parse(value)
            .map_err(|e| Status::internal(format!("the server's reply is malformed: {field}: {e}")))
    };
    values.iter().map(parse).collect()
}

impl Client {
    /// Connects (TCP, and TLS unless `tls` is None) to `s2cs`, with the default deadlines.
    pub async fn connect(
        s2cs: &HostPort,
        tls: Option<ClientTls>,
        token: Option<Secret>,
    ) -> Result<Client> {
        Self::connect_with(s2cs, tls, token, Deadlines::default()).await
    }

    /// [`Client::connect`] with the given deadlines: past them, the connection or a call fails
    /// with "no answer from <s2cs> within N s" (exit code 4).
    pub(crate) async fn connect_with(
        s2cs: &HostPort,
        tls: Option<ClientTls>,
        token: Option<Secret>,
        deadlines: Deadlines,
    ) -> Result<Client> {
        let token = token.map(|t| authorization(&t, s2cs)).transpose()?;
        let over_tls = tls.is_some();
        // Always an http URI: TLS, when on, is ours (tls::ClientTls), below tonic.
        let endpoint = Endpoint::from_shared(format!("http://{s2cs}"))
            .map_err(|e| anyhow::anyhow!("--s2cs \"{s2cs}\" is not a valid host:port ({e})"))?;
        let connected = async {
            match tls {
                Some(tls) => {
                    let connector = tls.connector(s2cs.clone());
                    endpoint.connect_with_connector(connector).await
                }
                None => endpoint.connect().await,
            }
        };
        let channel = tokio::time::timeout(deadlines.connect, connected)
            .await
            .map_err(|_| silent(s2cs, deadlines.connect))?
            .map_err(|e| unreachable(s2cs, &e))?;
        let inner = ControlClient::new(channel)
            .max_encoding_message_size(MAX_REQUEST_BYTES)
            .max_decoding_message_size(MAX_REPLY_BYTES);
        Ok(Client {
            inner,
            token,
            s2cs: s2cs.clone(),
            deadlines,
            tls: over_tls,
            auth_off: Arc::default(),
        })
    }

    /// Whether what crosses this channel crosses a network in clear: plaintext gRPC to a
    /// server that is not on this host.
    pub(crate) fn in_clear(&self) -> bool {
        !self.tls && !self.s2cs.host.is_loopback()
    }

    /// Whether a reply so far said that the server has authentication off (the
    /// `scistream-auth: off` metadata); a server that does not say is not taken to have it off.
    pub(crate) fn auth_off(&self) -> bool {
        self.auth_off.load(Ordering::Relaxed)
    }

    fn hear(&self, metadata: &tonic::metadata::MetadataMap) {
        if metadata.get(AUTH_METADATA_KEY).is_some_and(|v| v == "off") {
            self.auth_off.store(true, Ordering::Relaxed);
        }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        request
    }

    /// Starts a session: `req` and, when `hello` is given, the session's hello concurrently (as
    /// the Python client does). Returns the req's answer, whose `prod_listeners` are the hello's.
    /// Releasing a session that started but failed is the caller's (see [`Refused::opened`]).
    pub async fn start(
        &self,
        req: pb::Request,
        hello: Option<pb::Hello>,
    ) -> Result<pb::Response, Refused> {
        match hello {
            Some(hello) => self.req_with_hello(req, hello).await,
            None => self.req(req).await.map_err(Refused::before),
        }
    }

    /// Gives a started session its targets: `update`, or with a hop `credential`, `update_hop`.
    pub async fn update(
        &self,
        uid: &str,
        role: &str,
        targets: &[HostPort],
        credential: Option<pb::HopCredential>,
    ) -> Result<Routed, Status> {
        let targets = address::to_strings(targets);
        let updated = match credential {
            None => {
                let update = pb::UpdateTargets {
                    uid: uid.to_string(),
                    remote_listeners: targets,
                    role: role.to_string(),
                };
                self.call(update, |mut c, r| async move { c.update(r).await })
                    .await
            }
            Some(credential) => {
                let update = pb::HopUpdate {
                    uid: uid.to_string(),
                    remote_listeners: targets,
                    role: role.to_string(),
                    credential: Some(credential),
                };
                self.call(update, |mut c, r| async move { c.update_hop(r).await })
                    .await
            }
        }?;
        Ok(Routed {
            listeners: reply_addresses("listeners", &updated.listeners)?,
            targets: reply_addresses("prod_listeners", &updated.prod_listeners)?,
        })
    }

    /// Arms a PROD session's hop (the `hop` call): returns the credential that the CONS
    /// gateway must prove, the hop encrypted from now on; with `plaintext`, a plain hop.
    pub(crate) async fn arm_hop(
        &self,
        uid: &str,
        plaintext: bool,
    ) -> Result<pb::HopCredential, Status> {
        let request = pb::HopRequest {
            uid: uid.to_string(),
            plaintext,
        };
        self.call(request, |mut c, r| async move { c.hop(r).await })
            .await
    }

    /// `req` and its hello concurrently. A hello refused because the session already has one
    /// waits for the req's answer, which comes at once and says more (its uid is taken); any
    /// other failure drops the other call (the server then drops what it holds for it).
    async fn req_with_hello(
        &self,
        req: pb::Request,
        hello: pb::Hello,
    ) -> Result<pb::Response, Refused> {
        let req = self.req(req);
        let hello = self.hello_when_room(hello);
        tokio::pin!(req, hello);
        let (response, hello) = tokio::select! {
            hello_done = &mut hello => match hello_done {
                Err(refused) if refused.code() != tonic::Code::FailedPrecondition => {
                    return Err(Refused::before(refused))
                }
                hello_done => (req.await.map_err(Refused::before)?, hello_done),
            },
            // Answered once a hello arrived: ours is answered at once, too.
            response = &mut req => (response.map_err(Refused::before)?, hello.await),
        };
        // Another hello than ours reached the session first: not the targets asked for.
        hello.map_err(Refused::after)?;
        Ok(response)
    }

    /// The hello, sent again while the server has no room for hellos that arrive before their
    /// req (RESOURCE_EXHAUSTED): the req sent alongside is registered soon, and a hello for a
    /// registered session needs no room there. The req's answer ends the tries (the caller
    /// stops polling this then), and so does the req's deadline.
    async fn hello_when_room(&self, hello: pb::Hello) -> Result<pb::AppResponse, Status> {
        let give_up = tokio::time::Instant::now() + self.deadlines.req;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.hello(hello.clone()).await {
                Err(full)
                    if full.code() == tonic::Code::ResourceExhausted
                        && tokio::time::Instant::now() + pause < give_up =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                done => return done,
            }
        }
    }

    async fn req(&self, req: pb::Request) -> Result<pb::Response, Status> {
        let limit = self.deadlines.req;
        self.call_within(limit, req, |mut c, r| async move { c.req(r).await })
            .await
    }

    pub async fn hello(&self, hello: pb::Hello) -> Result<pb::AppResponse, Status> {
        self.call(hello, |mut c, r| async move { c.hello(r).await })
            .await
    }

    pub async fn release(&self, uid: &str) -> Result<pb::Response, Status> {
        let release = pb::Release {
            uid: uid.to_string(),
        };
        self.call(release, |mut c, r| async move { c.release(r).await })
            .await
    }

    /// The sessions the server holds, oldest first, page after page: at most
    /// [`MAX_LIST_PAGES`] of them, and never a page token twice (a server that sends one
    /// again would be followed in a circle).
    pub async fn list(&self) -> Result<Vec<pb::SessionInfo>, ListFailed> {
        let mut sessions = Vec::new();
        let mut page_token = String::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_LIST_PAGES {
            let request = pb::ListRequest {
                page_token: page_token.clone(),
            };
            let page = self
                .call(request, |mut c, r| async move { c.list(r).await })
                .await?;
            sessions.extend(page.sessions);
            if page.next_page_token.is_empty() {
                return Ok(sessions);
            }
            if !seen.insert(page.next_page_token.clone()) {
                return Err(ListFailed::Circle);
            }
            page_token = page.next_page_token;
        }
        Err(ListFailed::TooManyPages)
    }

    pub(crate) async fn status(&self, uid: &str) -> Result<pb::SessionInfo, Status> {
        let query = pb::StatusRequest {
            uid: uid.to_string(),
        };
        self.call(query, |mut c, r| async move { c.status(r).await })
            .await
    }

    /// Makes one call with this client's token, on its own handle to the shared channel, within
    /// the call deadline.
    async fn call<T, R, Fut>(
        &self,
        message: T,
        rpc: impl FnOnce(ControlClient<Channel>, Request<T>) -> Fut,
    ) -> Result<R, Status>
    where
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
        R: Untrusted,
    {
        self.call_within(self.deadlines.call, message, rpc).await
    }

    /// [`Client::call`] with its own deadline.
    async fn call_within<T, R, Fut>(
        &self,
        limit: Duration,
        message: T,
        rpc: impl FnOnce(ControlClient<Channel>, Request<T>) -> Fut,
    ) -> Result<R, Status>
    where
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
        R: Untrusted,
    {
        let call = rpc(self.inner.clone(), self.request(message));
        match self.within(limit, call).await {
            Ok(reply) => {
                self.hear(reply.metadata());
                Ok(reply.into_inner().escape())
            }
            Err(refused) => {
                self.hear(refused.metadata());
                Err(escape_status(refused))
            }
        }
    }

    /// `call`'s outcome, or a [`NoAnswer`] status once `limit` has passed.
    async fn within<R>(
        &self,
        limit: Duration,
        call: impl Future<Output = Result<R, Status>>,
    ) -> Result<R, Status> {
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            let silent = NoAnswer {
                s2cs: self.s2cs.clone(),
                after: limit,
            };
            let mut status = Status::deadline_exceeded(silent.to_string());
            status.set_source(Arc::new(silent));
            Err(status)
        })
    }
}

/// A session start that failed.
#[derive(Debug)]
pub struct Refused {
    pub status: Status,
    /// Whether its req went through: the session then holds its ports on the server until
    /// it is released.
    pub opened: bool,
}

impl Refused {
    fn before(status: Status) -> Refused {
        Refused {
            status,
            opened: false,
        }
    }

    fn after(status: Status) -> Refused {
        Refused {
            status,
            opened: true,
        }
    }
}

impl From<Refused> for Status {
    fn from(refused: Refused) -> Status {
        refused.status
    }
}

/// Why `list` gave up.
#[derive(Debug, thiserror::Error)]
pub enum ListFailed {
    #[error("{}", .0.message())]
    Refused(#[from] Status),
    #[error("the server sent a page token it had sent before: its pages go in a circle")]
    Circle,
    #[error("the server sent more than {MAX_LIST_PAGES} pages of sessions")]
    TooManyPages,
}

/// The token as the `authorization` header carries it. A token a header cannot carry (control
/// characters: a damaged config file) is refused here rather than silently left out.
fn authorization(token: &Secret, s2cs: &HostPort) -> Result<MetadataValue<Ascii>> {
    let mut value = MetadataValue::try_from(token.expose()).map_err(|_| {
        Failure::AuthRequired(format!(
            "the access token for s2cs {s2cs} holds characters a request header cannot carry \
             (a damaged config file?); log in again with `scistream login --scope SCOPE --force`"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A server that accepted the connection (or not even that) but never answered.
fn silent(s2cs: &HostPort, after: Duration) -> anyhow::Error {
    let silent = NoAnswer {
        s2cs: s2cs.clone(),
        after,
    };
    Failure::Unreachable(format!(
        "{silent}: is `scistream server` running there, and is the address right? \
         (wait longer with --timeout SECS)"
    ))
    .into()
}

/// A connection failure, with its causes (which say whether it was TLS) and what to check.
fn unreachable(s2cs: &HostPort, err: &tonic::transport::Error) -> anyhow::Error {
    let mut causes = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        // A failed handshake says all there is to say, fix included.
        if let Some(handshake) = cause.downcast_ref::<HandshakeError>() {
            return Failure::Unreachable(format!("could not connect to s2cs {s2cs}: {handshake}"))
                .into();
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    // Layers often repeat their inner error's message ("tcp connect error: tcp connect error").
    causes.dedup();
    let detail = if causes.is_empty() {
        err.to_string()
    } else {
        causes.join(": ")
    };
    Failure::Unreachable(format!(
        "could not connect to s2cs {s2cs}: {detail}; is `scistream server` running there, and \
         is the address right? (a plaintext server needs --no-tls)"
    ))
    .into()
}
