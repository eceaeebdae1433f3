//! What a failed call means to the user: the error that says what to do next, with the kind
//! that picks the exit code.

use crate::address::HostPort;
use crate::auth::{AuthRequirements, Credentials, AUTH_REQUIREMENTS_METADATA_KEY};
use crate::config::ServerAddr;
use crate::exit::Failure;
use crate::scope::{ScopeId, SCOPE_METADATA_KEY};

use super::NoAnswer;

/// Turns a failed call to `s2cs` into an error that says what to do, with the exit code's kind.
pub(crate) fn explain_failure(
    s2cs: &HostPort,
    credentials: &Credentials,
    status: tonic::Status,
) -> anyhow::Error {
    let message = status.message().to_string();
    let refused = format!("s2cs {s2cs} refused the request: {message}");
    if NoAnswer::of(&status).is_some() {
        return Failure::Unreachable(format!(
            "{message}: the server may be overloaded, or not a scistream server; wait longer \
             with --timeout SECS"
        ))
        .into();
    }
    // A status the server sent has no source; one with a source is the channel breaking:
    // a plaintext client talking to a TLS server, or a server at its connection cap.
    if std::error::Error::source(&status).is_some() {
        return Failure::Unreachable(format!(
            "the connection to s2cs {s2cs} failed: {message} (a TLS server hangs up on a \
             plaintext client, and any server on a client past its limit of control \
             connections); use --no-tls exactly when the server was started with --no-tls (or \
             as s2cs --ssl=False); at the limit, try again later (its operator can raise \
             --max-control-connections and --max-control-connections-per-ip)"
        ))
        .into();
    }
    let wanted: Option<ScopeId> =
        metadata(&status, SCOPE_METADATA_KEY).and_then(|s| s.parse().ok());
    match status.code() {
        tonic::Code::Unauthenticated => {
            let server = ServerAddr::from(s2cs);
            Failure::AuthRequired(credentials.refusal(&server, &message, wanted)).into()
        }
        tonic::Code::NotFound => Failure::NotFound(format!("{message} (s2cs {s2cs})")).into(),
        // The gateway's access policy: a new login that meets what it asks can pass.
        tonic::Code::PermissionDenied if wanted.is_some() => {
            let asked = metadata(&status, AUTH_REQUIREMENTS_METADATA_KEY)
                .and_then(AuthRequirements::from_metadata);
            match asked {
                Some(asked) => {
                    Failure::AuthRequired(credentials.login_again(&message, wanted, &asked))
                }
                None => Failure::NotPermitted(format!(
                    "{refused}; ask the gateway's operator for access"
                )),
            }
            .into()
        }
        tonic::Code::PermissionDenied => Failure::NotPermitted(format!(
            "{refused}; use the login of the identity that opened it, or ask the gateway's \
             operator (an admin identity can release it)"
        ))
        .into(),
        // Sent by the server itself: something it depends on (the auth server) is down.
        tonic::Code::Unavailable => Failure::Unreachable(format!(
            "s2cs {s2cs} cannot serve requests now: {message}; try again later, or tell the \
             gateway's operator"
        ))
        .into(),
        tonic::Code::InvalidArgument => Failure::Usage(refused).into(),
        tonic::Code::DeadlineExceeded => anyhow::anyhow!(
            "{refused}; start the producer's app controller (it sends the hello), or let \
             `req prod` send the hello itself with --remote-ip and --receiver-ports"
        ),
        _ => anyhow::anyhow!(refused),
    }
}

/// A metadata value of `status`, if it is text.
fn metadata<'a>(status: &'a tonic::Status, key: &str) -> Option<&'a str> {
    status.metadata().get(key)?.to_str().ok()
}
