//! What a failed call means to the user: the error that says what to do next, with the kind
//! that picks the exit code.

use crate::auth::Credentials;
use crate::exit::Failure;
use crate::scope::SCOPE_METADATA_KEY;

use super::NoAnswer;

/// Turns a failed call to `s2cs` into an error that says what to do, with the exit code's kind.
pub(crate) fn explain_failure(
    s2cs: &str,
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
    match status.code() {
        tonic::Code::Unauthenticated => {
            let wanted = status.metadata().get(SCOPE_METADATA_KEY);
            let wanted = wanted.and_then(|scope| scope.to_str().ok()?.parse().ok());
            Failure::AuthRequired(credentials.refusal(s2cs, &message, wanted)).into()
        }
        tonic::Code::NotFound => Failure::NotFound(format!("{message} (s2cs {s2cs})")).into(),
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
