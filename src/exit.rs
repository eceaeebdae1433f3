//! Documented exit codes, and the one place that maps an error to its code.

use std::process::ExitCode;

/// What went wrong, when a script may want to branch on it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    AuthRequired(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    NotFound(String),
}

pub const GENERAL: u8 = 1;
pub const USAGE: u8 = 2;
pub const AUTH: u8 = 3;
pub const UNREACHABLE: u8 = 4;
pub const NOT_FOUND: u8 = 5;

/// The exit-code table shown in `--help`.
pub const TABLE: &str = "Exit codes:
  0  success
  1  failure (the message says what happened)
  2  usage error (bad flags or arguments)
  3  authentication required or refused (run the printed `scistream login` command)
  4  server unreachable (address, TLS certificate or network)
  5  not found (unknown session uid)";

pub fn code_for(err: &anyhow::Error) -> ExitCode {
    let code = err
        .chain()
        .find_map(|cause| {
            if let Some(f) = cause.downcast_ref::<Failure>() {
                return Some(match f {
                    Failure::AuthRequired(_) => AUTH,
                    Failure::Unreachable(_) => UNREACHABLE,
                    Failure::NotFound(_) => NOT_FOUND,
                });
            }
            cause
                .downcast_ref::<tonic::Status>()
                .map(|s| match s.code() {
                    tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => AUTH,
                    tonic::Code::Unavailable => UNREACHABLE,
                    tonic::Code::NotFound => NOT_FOUND,
                    tonic::Code::InvalidArgument => USAGE,
                    _ => GENERAL,
                })
        })
        .unwrap_or(GENERAL);
    ExitCode::from(code)
}
