//! S2UC, the user client: connects to a control server and drives a session's calls.

use std::error::Error as _;
use std::future::Future;

use anyhow::Result;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use crate::exit::Failure;
use crate::pb;
use crate::pb::control_client::ControlClient;
use crate::secret::Secret;

/// A connection to one control server (`s2cs`), with the token its calls carry.
#[derive(Clone)]
pub struct Client {
    inner: ControlClient<Channel>,
    token: Option<Secret>,
}

/// What a session's setup returned.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenedSession {
    pub listeners: Vec<String>,
    pub targets: Vec<String>,
}

impl Client {
    /// Connects (TCP, and TLS unless `tls` is None) to `s2cs` (`host:port`).
    pub async fn connect(
        s2cs: &str,
        tls: Option<ClientTlsConfig>,
        token: Option<Secret>,
    ) -> Result<Client> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{s2cs}"))
            .map_err(|e| anyhow::anyhow!("--s2cs {s2cs:?} is not a valid host:port ({e})"))?;
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(s2cs, &e))?;
        Ok(Client {
            inner: ControlClient::new(channel),
            token,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = self
            .token
            .as_ref()
            .and_then(|t| MetadataValue::try_from(t.expose()).ok())
        {
            request.metadata_mut().insert("authorization", token);
        }
        request
    }

    /// Starts a session: `req` and, when `hello` is given, the session's hello concurrently (as
    /// the Python client does). Returns the req's answer, whose `prod_listeners` are the hello's.
    pub async fn start(
        &self,
        req: pb::Request,
        hello: Option<pb::Hello>,
    ) -> Result<pb::Response, Status> {
        match hello {
            Some(hello) => Ok(tokio::try_join!(self.req(req), self.hello(hello))?.0),
            None => self.req(req).await,
        }
    }

    /// Gives a started session its targets: `update`, or with a hop `credential`, `update_hop`.
    pub async fn update(
        &self,
        uid: &str,
        role: &str,
        targets: Vec<String>,
        credential: Option<pb::HopCredential>,
    ) -> Result<OpenedSession, Status> {
        let updated = match credential {
            None => {
                let update = pb::UpdateTargets {
                    uid: uid.to_string(),
                    remote_listeners: targets,
                    role: role.to_string(),
                };
                self.call(update, |mut c, r| async move { c.update(r).await })
                    .await?
            }
            Some(credential) => {
                let update = pb::HopUpdate {
                    uid: uid.to_string(),
                    remote_listeners: targets,
                    role: role.to_string(),
                    credential: Some(credential),
                };
                self.call(update, |mut c, r| async move { c.update_hop(r).await })
                    .await?
            }
        };
        Ok(OpenedSession {
            listeners: updated.listeners,
            targets: updated.prod_listeners,
        })
    }

    /// A PROD session's hop credential (encrypting its hop), or with `plaintext`, a plain hop.
    pub async fn hop(&self, uid: &str, plaintext: bool) -> Result<pb::HopCredential, Status> {
        let request = pb::HopRequest {
            uid: uid.to_string(),
            plaintext,
        };
        self.call(request, |mut c, r| async move { c.hop(r).await })
            .await
    }

    async fn req(&self, req: pb::Request) -> Result<pb::Response, Status> {
        self.call(req, |mut c, r| async move { c.req(r).await })
            .await
    }

    async fn hello(&self, hello: pb::Hello) -> Result<pb::AppResponse, Status> {
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

    /// The sessions the server holds, oldest first.
    pub async fn list(&self) -> Result<Vec<pb::SessionInfo>, Status> {
        let list = self.call(
            pb::ListRequest {},
            |mut c, r| async move { c.list(r).await },
        );
        Ok(list.await?.sessions)
    }

    pub async fn status(&self, uid: &str) -> Result<pb::SessionInfo, Status> {
        let query = pb::StatusRequest {
            uid: uid.to_string(),
        };
        self.call(query, |mut c, r| async move { c.status(r).await })
            .await
    }

    /// Makes one call with this client's token, on its own handle to the shared channel.
    async fn call<T, R, Fut>(
        &self,
        message: T,
        rpc: impl FnOnce(ControlClient<Channel>, Request<T>) -> Fut,
    ) -> Result<R, Status>
    where
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        Ok(rpc(self.inner.clone(), self.request(message))
            .await?
            .into_inner())
    }
}

/// A connection failure, with its causes (which say whether it was TLS) and what to check.
fn unreachable(s2cs: &str, err: &tonic::transport::Error) -> anyhow::Error {
    let mut causes = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
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
    let hint = if detail.contains("certificate") || detail.contains("Certificate") {
        "the server's TLS certificate is not trusted: pass it with --server-cert PEM \
         (the server prints its path at start)"
    } else {
        "is `scistream server` running there, and is the address right? \
         (a plaintext server needs --no-tls)"
    };
    Failure::Unreachable(format!(
        "could not connect to s2cs {s2cs}: {detail}; {hint}"
    ))
    .into()
}
