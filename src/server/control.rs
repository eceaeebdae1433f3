//! The gRPC `Control` service: validates each call, hands it to the session table, and logs
//! one line per session event (with the uid and the caller's address) and counts it.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tonic::codegen::http::Extensions;
use tonic::{Code, Request, Response, Status};

use super::error::Error;
use super::metrics::Metrics;
use super::peer::peer_of;
use super::rpc::Rpc;
use super::sessions::{Caller, NewSession, Sessions};
use crate::endpoint;
use crate::limits::{check_uid, quote, LIST_PAGE_BYTES};
use crate::pb;
use crate::policy::Decision;
use crate::relay::{HopCredential, HopPin, TargetPolicy, CREDENTIAL_LEN};
use crate::session::Role;

/// The longest `update` waits for its targets' names to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Control {
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) max_conn: usize,
    pub(crate) metrics: Arc<Metrics>,
    /// Where sessions may relay.
    pub(crate) policy: Arc<TargetPolicy>,
}

/// The pin of a credential as a client sent it, once both parts have the right length.
fn hop_pin(credential: &pb::HopCredential) -> Result<Arc<HopPin>, Error> {
    let parsed = HopCredential::from_parts(&credential.certificate_sha256, &credential.secret)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the hop credential is malformed: certificate_sha256 and secret must be \
                 {CREDENTIAL_LEN} bytes each, as the PROD gateway's hop call returns them"
            ))
        })?;
    HopPin::new(parsed).map_err(|e| Error::Hop(e.to_string()))
}

fn require_uid(uid: &str) -> Result<(), Error> {
    check_uid(uid).map_err(Error::InvalidArgument)
}

/// Logs a failed call as one warning line (its event is the RPC's name) and turns the error
/// into its status. A req whose hello never came is its own event: the session was dropped.
fn refused(rpc: Rpc, uid: &str, peer: &str, err: Error) -> Status {
    let event = match err {
        Error::HelloTimeout => "timeout",
        _ => rpc.as_str(),
    };
    tracing::warn!(event, uid = %quote(uid), peer, error = %err, "{event} failed");
    Status::from(err)
}

impl Control {
    /// Who sent a call: the decision the authorize filter put in its extensions, if any.
    fn caller(&self, extensions: &Extensions) -> Caller {
        let decision = extensions.get::<Decision>();
        Caller {
            sub: decision.map(|d| d.identity.sub.clone()),
            admin: decision.is_some_and(|d| d.admin),
        }
    }

    fn validate(
        &self,
        r: &pb::Request,
        owner: Option<String>,
        owner_name: Option<String>,
    ) -> Result<NewSession, Error> {
        require_uid(&r.uid)?;
        let role = Role::parse(&r.role).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "role {} is unknown: use PROD or CONS",
                quote(&r.role)
            ))
        })?;
        let num_conn = usize::try_from(r.num_conn)
            .ok()
            .filter(|n| (1..=self.max_conn).contains(n))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "num_conn {} is out of range: use 1 to {} (server --max-conn)",
                    r.num_conn, self.max_conn
                ))
            })?;
        if r.rate < 0 {
            return Err(Error::InvalidArgument(format!(
                "rate {} is negative",
                r.rate
            )));
        }
        Ok(NewSession {
            uid: r.uid.clone(),
            role,
            num_conn,
            rate: r.rate,
            owner,
            owner_name,
        })
    }

    /// Counts the call under `rpc` with the status it ended with.
    fn counted<T>(&self, rpc: Rpc, result: Result<T, Status>) -> Result<T, Status> {
        let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
        self.metrics.record_call(Some(rpc), code);
        result
    }

    async fn create(
        &self,
        request: Request<pb::Request>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let username =
            (request.extensions().get::<Decision>()).and_then(|d| d.identity.username.clone());
        let caller = self.caller(request.extensions());
        let r = request.into_inner();
        let opened = async {
            let new = self.validate(&r, caller.sub.clone(), username.clone())?;
            tracing::info!(event = Rpc::Req.as_str(), uid = %r.uid, role = new.role.as_str(),
                num_conn = r.num_conn, rate = r.rate, owner = caller.sub.as_deref(),
                username = username.as_deref(), %peer, "req received, waiting for its hello");
            self.sessions.create(new).await
        };
        let (listeners, prod_listeners) = opened
            .await
            .map_err(|e| refused(Rpc::Req, &r.uid, &peer, e))?;
        tracing::debug!(uid = %r.uid, listeners = %listeners.join(","),
            prod_listeners = %prod_listeners.join(","), %peer, "req answered");
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners,
        }))
    }

    async fn deliver_hello(
        &self,
        request: Request<pb::Hello>,
    ) -> Result<Response<pb::AppResponse>, Status> {
        let peer = peer_of(request.extensions());
        let h = request.into_inner();
        let delivered = async {
            require_uid(&h.uid)?;
            let prod_listeners =
                endpoint::parse_list("prod_listeners", &h.prod_listeners, self.max_conn)
                    .map_err(Error::InvalidArgument)?;
            // The parsed entries, trimmed: the raw ones may carry a newline.
            let shown = prod_listeners.join(",");
            Ok((self.sessions.hello(&h.uid, prod_listeners).await?, shown))
        };
        let (listeners, prod_listeners) = delivered
            .await
            .map_err(|e| refused(Rpc::Hello, &h.uid, &peer, e))?;
        tracing::info!(event = Rpc::Hello.as_str(), uid = %h.uid, role = %quote(&h.role),
            %prod_listeners, %peer, "hello delivered");
        Ok(Response::new(pb::AppResponse {
            message: "Hello message sent successfully".into(),
            listeners,
        }))
    }

    async fn set_targets(
        &self,
        request: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let u = request.into_inner();
        self.retarget(&peer, &caller, &u.uid, &u.remote_listeners, None)
            .await
    }

    async fn set_hop_targets(
        &self,
        request: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let u = request.into_inner();
        let credential = u.credential.unwrap_or_default();
        self.retarget(
            &peer,
            &caller,
            &u.uid,
            &u.remote_listeners,
            Some(&credential),
        )
        .await
    }

    /// An update; with a `credential`, one whose targets are reached over the encrypted hop.
    async fn retarget(
        &self,
        peer: &str,
        caller: &Caller,
        uid: &str,
        remote_listeners: &[String],
        credential: Option<&pb::HopCredential>,
    ) -> Result<Response<pb::Response>, Status> {
        let rpc = match credential {
            Some(_) => Rpc::UpdateHop,
            None => Rpc::Update,
        };
        let updated = async {
            require_uid(uid)?;
            let targets = endpoint::parse_list("remote_listeners", remote_listeners, self.max_conn)
                .map_err(Error::InvalidArgument)?;
            let pin = credential.map(hop_pin).transpose()?;
            self.sessions.check_update(uid, caller)?;
            self.check_targets(&targets).await?;
            self.sessions.update(uid, targets, pin, caller)
        };
        let (listeners, targets) = updated.await.map_err(|e| refused(rpc, uid, peer, e))?;
        tracing::info!(event = rpc.as_str(), uid, listeners = %listeners.join(","),
            targets = %targets.join(","), encrypted_hop = credential.is_some(), peer,
            "relaying");
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners: targets,
        }))
    }

    /// Refuses targets that are the server itself or outside `--allow-targets` (the relay
    /// checks again at each connect, in case a name re-resolves elsewhere).
    async fn check_targets(&self, targets: &[String]) -> Result<(), Error> {
        let checked = async {
            for target in targets {
                self.policy.resolve(target).await.map_err(|refused| {
                    Error::InvalidArgument(format!("remote_listeners: {} {refused}", quote(target)))
                })?;
            }
            Ok(())
        };
        tokio::time::timeout(RESOLVE_TIMEOUT, checked)
            .await
            .unwrap_or_else(|_| {
                Err(Error::InvalidArgument(format!(
                    "remote_listeners: could not resolve them within {RESOLVE_TIMEOUT:?}: \
                     check the names, or give addresses"
                )))
            })
    }

    /// One page of sessions after the `page_token` cursor, at most [`LIST_PAGE_BYTES`] (or one
    /// session, if a single one is larger), with the cursor of the next page if more remain.
    fn list_page(&self, request: Request<pb::ListRequest>) -> Result<pb::SessionList, Status> {
        let caller = self.caller(request.extensions());
        let token = request.into_inner().page_token;
        let after = match token.as_str() {
            "" => 0,
            token => token.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "page_token {} is not one this server gave: start again without it",
                    quote(token)
                ))
            })?,
        };
        let mut page = pb::SessionList::default();
        let (mut bytes, mut last) = (0, after);
        for (number, view) in self.sessions.list_after(after, &caller) {
            let info = pb::SessionInfo::from(view);
            bytes += info.encoded_len();
            if bytes > LIST_PAGE_BYTES && !page.sessions.is_empty() {
                page.next_page_token = last.to_string();
                break;
            }
            page.sessions.push(info);
            last = number;
        }
        Ok(page)
    }

    fn arm_hop(&self, request: Request<pb::HopRequest>) -> Result<pb::HopCredential, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let r = request.into_inner();
        let armed = || {
            require_uid(&r.uid)?;
            self.sessions.hop(&r.uid, r.plaintext, &caller)
        };
        let credential = armed().map_err(|e| refused(Rpc::Hop, &r.uid, &peer, e))?;
        tracing::info!(event = Rpc::Hop.as_str(), uid = %r.uid,
            encrypted = credential.is_some(), %peer, "hop set");
        Ok(
            credential.map_or_else(Default::default, |c| pb::HopCredential {
                certificate_sha256: c.certificate_sha256.to_vec(),
                secret: c.secret.expose().to_vec(),
            }),
        )
    }

    async fn close(&self, request: Request<pb::Release>) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let uid = request.into_inner().uid;
        let released = async {
            require_uid(&uid)?;
            self.sessions.release(&uid, &caller).await
        };
        let released = released
            .await
            .map_err(|e| refused(Rpc::Release, &uid, &peer, e))?;
        let s = released.stats;
        tracing::info!(event = Rpc::Release.as_str(), %uid, %peer,
            bytes_to_target = s.bytes_to_target, bytes_from_target = s.bytes_from_target,
            connections = s.connections_total, "released");
        Ok(Response::new(pb::Response {
            listeners: released.listeners,
            prod_listeners: released.targets,
        }))
    }

    fn describe(&self, request: Request<pb::StatusRequest>) -> Result<pb::SessionInfo, Status> {
        let caller = self.caller(request.extensions());
        let uid = request.into_inner().uid;
        require_uid(&uid)?;
        Ok(self.sessions.view(&uid, &caller)?.into())
    }
}

#[tonic::async_trait]
impl pb::control_server::Control for Control {
    async fn req(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        self.counted(Rpc::Req, self.create(request).await)
    }

    async fn hello(
        &self,
        request: Request<pb::Hello>,
    ) -> Result<Response<pb::AppResponse>, Status> {
        self.counted(Rpc::Hello, self.deliver_hello(request).await)
    }

    async fn update(
        &self,
        request: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        self.counted(Rpc::Update, self.set_targets(request).await)
    }

    async fn release(
        &self,
        request: Request<pb::Release>,
    ) -> Result<Response<pb::Response>, Status> {
        self.counted(Rpc::Release, self.close(request).await)
    }

    async fn hop(
        &self,
        request: Request<pb::HopRequest>,
    ) -> Result<Response<pb::HopCredential>, Status> {
        self.counted(Rpc::Hop, self.arm_hop(request).map(Response::new))
    }

    async fn update_hop(
        &self,
        request: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        self.counted(Rpc::UpdateHop, self.set_hop_targets(request).await)
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::SessionList>, Status> {
        self.counted(Rpc::List, self.list_page(request).map(Response::new))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        self.counted(Rpc::Status, self.describe(request).map(Response::new))
    }
}
