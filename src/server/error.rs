//! Why a control call failed, and the one mapping to gRPC status codes.

use std::net::SocketAddr;

use tonic::{Code, Status};

use super::quotas::Exceeded;
use crate::quote::quote;
use crate::session::Kbps;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("a session with uid {} already exists; pick a new uid or release it first", quote(.0))]
    DuplicateUid(String),
    #[error("no session with uid {} on this server", quote(.0))]
    NotFound(String),
    #[error(
        "session {} belongs to another identity: only the identity that opened it may \
         update, release or query it",
        quote(.0)
    )]
    NotOwner(String),
    #[error("no session with uid {}: a hello arrived but no req for it followed", quote(.0))]
    HelloWithoutReq(String),
    #[error("hello for session {} was already received", quote(.0))]
    HelloAlreadyReceived(String),
    #[error("session {} still awaits its hello: send the hello first, then update", quote(.0))]
    AwaitingHello(String),
    #[error(
        "{0} hellos already wait for their req, the most this server holds; send the req \
         first or retry shortly"
    )]
    EarlyHellosFull(usize),
    #[error(
        "{0} hellos of yours already wait for their req, the most one identity (one client \
         address with authentication off) may have waiting; send the req first or retry shortly"
    )]
    EarlyHellosShareFull(usize),
    #[error(
        "session {} was opened from another address: with authentication off, this server \
         gives a session's hop only to the client address that sent its req; ask from there, \
         or have the operator turn authentication on",
        quote(.0)
    )]
    HopFromElsewhere(String),
    #[error("Hello not received within the timeout period")]
    HelloTimeout,
    #[error("session {} was released before its hello arrived", quote(.0))]
    ReleasedBeforeHello(String),
    #[error(
        "port range {range} exhausted: {wanted} wanted, {free} free ({sessions} in use by \
         sessions, {elsewhere} held by other programs); {}",
        exhaustion_hint(*sessions, *elsewhere)
    )]
    PortsExhausted {
        wanted: usize,
        range: String,
        free: usize,
        /// Ports this server's sessions hold.
        sessions: usize,
        /// Ports of the range the OS found busy: other programs (or listeners still closing).
        elsewhere: usize,
    },
    #[error("session {uid:?} is a {role} session; this call is for {wanted} sessions")]
    WrongRole {
        uid: String,
        role: &'static str,
        wanted: &'static str,
    },
    #[error(
        "the rate asked for, {wanted}, does not fit: {free} free of this gateway's \
         {bandwidth} (--rate-policy reserve); ask for at most what is free (--rate), or retry \
         once sessions are released"
    )]
    BandwidthExhausted {
        wanted: Kbps,
        free: Kbps,
        bandwidth: Kbps,
    },
    #[error("{0}")]
    Quota(#[from] Exceeded),
    #[error("could not set up the encrypted hop: {0}")]
    HopSetup(String),
    /// The change could not be made durable: the server answers UNAVAILABLE, as the call may
    /// succeed once the disk (or the store) is back.
    #[error("{0}; the change was not kept: retry once the server's state directory is writable")]
    Store(#[from] crate::store::StoreError),
    /// The pool's registry (etcd) is out of reach, or a node of the pool did not answer:
    /// UNAVAILABLE, as the call may succeed once it is back.
    #[error("{0}; streams already set up keep relaying: retry shortly")]
    Cluster(String),
    /// The pool has no room for the session.
    #[error("{0}")]
    PoolFull(String),
    /// Changes wait while the sessions change hands; the client retries (and reaches the new
    /// process, which has them).
    #[error("the gateway is handing over to a new process; retry")]
    HandingOver,
    #[error("could not bind data listener {addr}: {source}; check --listener-ip")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What frees ports, given who holds them.
fn exhaustion_hint(sessions: usize, elsewhere: usize) -> &'static str {
    match (sessions, elsewhere) {
        (_, 0) => "release sessions or widen --port-range",
        (0, _) => "stop the programs holding those ports or pick another --port-range",
        _ => "release sessions, stop the other programs holding ports or widen --port-range",
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let code = match &err {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::DuplicateUid(_) => Code::AlreadyExists,
            Error::NotFound(_) | Error::HelloWithoutReq(_) => Code::NotFound,
            Error::NotOwner(_) | Error::HopFromElsewhere(_) => Code::PermissionDenied,
            Error::HelloAlreadyReceived(_) | Error::AwaitingHello(_) | Error::WrongRole { .. } => {
                Code::FailedPrecondition
            }
            Error::HelloTimeout => Code::DeadlineExceeded,
            Error::ReleasedBeforeHello(_) => Code::Aborted,
            Error::PortsExhausted { .. }
            | Error::EarlyHellosFull(_)
            | Error::EarlyHellosShareFull(_)
            | Error::BandwidthExhausted { .. }
            | Error::PoolFull(_)
            | Error::Quota(_) => Code::ResourceExhausted,
            Error::Bind { .. } | Error::HopSetup(_) => Code::Internal,
            Error::Store(_) | Error::Cluster(_) | Error::HandingOver => Code::Unavailable,
        };
        Status::new(code, err.to_string())
    }
}
