//! Why a control call failed, and the one mapping to gRPC status codes.

use std::net::SocketAddr;

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("a session with uid {0:?} already exists; pick a new uid or release it first")]
    DuplicateUid(String),
    #[error("no session with uid {0:?} on this server")]
    NotFound(String),
    #[error(
        "session {0:?} belongs to another identity: only the identity that opened it may \
         update, release or query it"
    )]
    NotOwner(String),
    #[error("no session with uid {0:?}: a hello arrived but no req for it followed")]
    HelloWithoutReq(String),
    #[error("hello for session {0:?} was already received")]
    HelloAlreadyReceived(String),
    #[error("Hello not received within the timeout period")]
    HelloTimeout,
    #[error("session {0:?} was released before its hello arrived")]
    ReleasedBeforeHello(String),
    #[error(
        "port range {range} exhausted: {wanted} ports wanted, {in_use} in use by sessions; \
         release sessions or widen --port-range"
    )]
    PortsExhausted {
        wanted: usize,
        range: String,
        in_use: usize,
    },
    #[error("session {uid:?} is a {role} session; this call is for {wanted} sessions")]
    WrongRole {
        uid: String,
        role: &'static str,
        wanted: &'static str,
    },
    #[error("could not set up the encrypted hop: {0}")]
    Hop(String),
    #[error("could not bind data listener {addr}: {source}; check --listener-ip")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let code = match &err {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::DuplicateUid(_) => Code::AlreadyExists,
            Error::NotFound(_) | Error::HelloWithoutReq(_) => Code::NotFound,
            Error::NotOwner(_) => Code::PermissionDenied,
            Error::HelloAlreadyReceived(_) | Error::WrongRole { .. } => Code::FailedPrecondition,
            Error::HelloTimeout => Code::DeadlineExceeded,
            Error::ReleasedBeforeHello(_) => Code::Aborted,
            Error::PortsExhausted { .. } => Code::ResourceExhausted,
            Error::Bind { .. } | Error::Hop(_) => Code::Internal,
        };
        Status::new(code, err.to_string())
    }
}
