//! Documented exit codes, and the one place that maps an error to its code.

use std::process::ExitCode;

/// What went wrong, when a script may want to branch on it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{0}")]
    AuthRequired(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    NotFound(String),
    /// The session belongs to another identity (PERMISSION_DENIED).
    #[error("{0}")]
    NotPermitted(String),
    /// An argument the server refused as invalid (INVALID_ARGUMENT).
    #[error("{0}")]
    Usage(String),
}

pub(crate) const GENERAL: u8 = 1;
pub(crate) const USAGE: u8 = 2;
pub(crate) const AUTH: u8 = 3;
pub(crate) const UNREACHABLE: u8 = 4;
pub(crate) const NOT_FOUND: u8 = 5;
pub(crate) const NOT_PERMITTED: u8 = 6;

/// The exit-code table shown in `--help`.
pub const TABLE: &str = "Exit codes:
  0  success
  1  failure (the message says what happened)
  2  usage error (bad flags or arguments)
  3  authentication required or refused (run the printed `scistream login` command)
  4  server unreachable (address, TLS certificate or network)
  5  not found (unknown session uid)
  6  not permitted (another identity's session, or the gateway's access policy refuses you)";

pub fn code_for(err: &anyhow::Error) -> ExitCode {
    let code = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
        .map_or(GENERAL, |failure| match failure {
            Failure::AuthRequired(_) => AUTH,
            Failure::Unreachable(_) => UNREACHABLE,
            Failure::NotFound(_) => NOT_FOUND,
            Failure::NotPermitted(_) => NOT_PERMITTED,
            Failure::Usage(_) => USAGE,
        });
    ExitCode::from(code)
}
