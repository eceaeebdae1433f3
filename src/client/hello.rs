//! The hello, with the retries an app controller needs when it starts before its server.

use std::future::Future;
use std::time::Duration;

use tonic::{Code, Status};

use super::Client;
use crate::pb;

const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Why a hello did not arrive.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failed {
    #[error("{0:#}")]
    Unreachable(anyhow::Error),
    #[error("{}", .0.message())]
    Refused(Status),
}

impl Failed {
    /// Whether trying again may help: not for a refused token or a hello the server rejects,
    /// nor for an unknown uid (the server already waited a while for its req).
    fn may_pass(&self) -> bool {
        match self {
            Failed::Unreachable(_) => true,
            Failed::Refused(status) => !matches!(
                status.code(),
                Code::Unauthenticated
                    | Code::PermissionDenied
                    | Code::InvalidArgument
                    | Code::FailedPrecondition
                    | Code::AlreadyExists
                    | Code::NotFound
            ),
        }
    }
}

/// Connects with `connect` and sends `hello`, up to `attempts` times while the failure may
/// pass; `retrying` hears about each failure that is retried.
pub(crate) async fn deliver<F, Fut>(
    connect: F,
    hello: &pb::Hello,
    attempts: u32,
    mut retrying: impl FnMut(&Failed),
) -> Result<pb::AppResponse, Failed>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Client>>,
{
    let mut attempt = 1;
    loop {
        let result = match connect().await {
            Ok(client) => client.hello(hello.clone()).await.map_err(Failed::Refused),
            Err(e) => Err(Failed::Unreachable(e)),
        };
        match result {
            Err(failed) if attempt < attempts && failed.may_pass() => {
                retrying(&failed);
                tokio::time::sleep(RETRY_PAUSE).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}
