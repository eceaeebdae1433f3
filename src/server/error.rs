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
    #[error("no session with uid {0:?}: a hello arrived but no req for it followed")]
    HelloWithoutReq(String),
    #[error("hello for session {0:?} was already received")]
    HelloAlreadyReceived(String),
    #[error("Hello not received within the timeout period")]
    HelloTimeout,
    #[error("session {0:?} was released before its hello arrived")]
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
            Error::HelloAlreadyReceived(_) => Code::FailedPrecondition,
            Error::HelloTimeout => Code::DeadlineExceeded,
            Error::ReleasedBeforeHello(_) => Code::Aborted,
            Error::PortsExhausted { .. } => Code::ResourceExhausted,
            Error::Bind { .. } => Code::Internal,
        };
        Status::new(code, err.to_string())
    }
}
