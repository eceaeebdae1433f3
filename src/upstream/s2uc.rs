//! `s2uc`: upstream's user client command line, run as `scistream login|logout|check-auth|req`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{ArgAction, Args, Parser, Subcommand};

use crate::exit;
use crate::scope::DEFAULT_SCOPE;

/// The uid `--mock True` requests use, as upstream's.
pub(crate) const MOCK_UID: &str = "4f8583bc-a4d3-11ee-9fd6-034d1fcbd7c3";
/// The certificate upstream trusts unless told otherwise, in the working directory.
const DEFAULT_CERT: &str = "server.crt";

/// SciStream user client (upstream's `s2uc` command line; the native one is `scistream req`)
#[derive(Debug, Parser)]
#[command(
    name = "s2uc",
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub(crate) struct S2ucArgs {
    /// Print the version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<S2ucCommand>,
}

#[derive(Debug, Subcommand)]
enum S2ucCommand {
    /// Log in to a scope with Globus Auth
    Login {
        /// Scope to log in to: the client id of the control servers you will use
        #[arg(long, default_value = DEFAULT_SCOPE, value_name = "UUID")]
        scope: String,
    },
    /// Revoke and forget the stored tokens
    Logout,
    /// Show the access token of a scope, or of the scope a server address maps to
    CheckAuth {
        /// Server address whose scope to show (from the config file's server map)
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
        /// Scope whose token to show
        #[arg(long, default_value = DEFAULT_SCOPE, value_name = "UUID")]
        scope: String,
    },
    /// Open a PROD session and wait for the app controller's hello
    ProdReq(ProdReq),
    /// Open a PROD session, sending the hello with --remote_ip and --receiver_ports
    InboundRequest {
        #[command(flatten)]
        prod: ProdReq,
        #[command(flatten)]
        receivers: Receivers,
    },
    /// Open a CONS session relayed to PROD_LSTN (a PROD session's listeners)
    OutboundRequest {
        #[command(flatten)]
        session: Session,
        /// Accepted as upstream's; the hello carries PROD_LSTN, the targets
        #[command(flatten)]
        receivers: Receivers,
        /// The session uid printed by inbound-request or prod-req
        #[arg(value_parser = crate::cmd::values::parse_uid)]
        uid: String,
        /// The PROD session's listeners, comma-separated host:port
        #[arg(value_name = "PROD_LSTN")]
        prod_lstn: String,
    },
    /// Release a session
    Release {
        /// The session uid to release
        #[arg(value_parser = crate::cmd::values::parse_uid)]
        uid: String,
        /// Control server
        #[arg(long, default_value = "localhost:5000", value_name = "HOST:PORT")]
        s2cs: String,
        #[command(flatten)]
        cert: ServerCert,
    },
}

#[derive(Debug, Args, Clone)]
struct ServerCert {
    /// Server certificate to trust [default: server.crt, if it exists]
    #[arg(long = "server_cert", value_name = "PEM")]
    server_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct Session {
    /// Number of listeners (parallel connections) the session opens
    #[arg(long = "num_conn", default_value_t = 5, value_name = "N")]
    num_conn: i32,
    /// Requested rate, passed to the server as-is
    #[arg(long, default_value_t = 10000)]
    rate: i32,
    /// Control server [default: localhost:5000; outbound-request: localhost:6000]
    #[arg(long, value_name = "HOST:PORT")]
    s2cs: Option<String>,
    #[command(flatten)]
    cert: ServerCert,
    /// Scope whose token to send ("": the one the server map gives --s2cs)
    #[arg(long, default_value = "", value_name = "UUID")]
    scope: String,
}

#[derive(Debug, Args)]
struct ProdReq {
    #[command(flatten)]
    session: Session,
    /// True: use upstream's fixed uid 4f8583bc-a4d3-11ee-9fd6-034d1fcbd7c3
    #[arg(long, default_value = "False", value_parser = super::python_bool(), action = ArgAction::Set, value_name = "BOOL")]
    mock: bool,
}

#[derive(Debug, Args)]
struct Receivers {
    /// Address of the producer application
    #[arg(long = "remote_ip", default_value = "localhost", value_name = "IP")]
    remote_ip: String,
    /// The producer application's ports
    #[arg(
        long = "receiver_ports",
        default_value = "5074,5075,5076,37000,47000",
        value_name = "P1,P2,..."
    )]
    receiver_ports: String,
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    let args = S2ucArgs::parse_from(args);
    if args.version {
        println!("s2uc, version {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let Some(command) = args.command else {
        return Ok(());
    };
    let calls_a_server = !matches!(
        command,
        S2ucCommand::Login { .. } | S2ucCommand::Logout | S2ucCommand::CheckAuth { .. }
    );
    let result = super::run_native(native_args(command, Path::new(DEFAULT_CERT).exists()));
    if let (true, Err(err)) = (calls_a_server, &result) {
        // The lines upstream's scripts look for; the exit code stays ours.
        match exit::code_for(err) == ExitCode::from(exit::AUTH) {
            true => println!("Please obtain new credentials: {err:#}"),
            false => println!("Another GRPC error occurred: {err:#}"),
        }
    }
    result
}

/// The native command line the upstream one means; `default_cert` is whether ./server.crt
/// exists (without it, the native default trust applies).
fn native_args(command: S2ucCommand, default_cert: bool) -> Vec<OsString> {
    let mut native = Native(Vec::new());
    match command {
        S2ucCommand::Login { scope } => native.push(["login", "--scope", &scope]),
        S2ucCommand::Logout => native.push(["logout"]),
        S2ucCommand::CheckAuth { ip: Some(ip), .. } => native.push(["check-auth", "--s2cs", &ip]),
        S2ucCommand::CheckAuth { ip: None, scope } => {
            native.push(["check-auth", "--scope", &scope])
        }
        S2ucCommand::ProdReq(prod) => native.prod(&prod, default_cert),
        S2ucCommand::InboundRequest { prod, receivers } => {
            native.prod(&prod, default_cert);
            native.push(["--remote-ip", &receivers.remote_ip]);
            native.push(["--receiver-ports", &receivers.receiver_ports]);
        }
        S2ucCommand::OutboundRequest {
            session,
            uid,
            prod_lstn,
            ..
        } => {
            native.push(["req", "cons"]);
            native.session(&session, "localhost:6000", default_cert);
            native.push(["--", &uid, &prod_lstn]);
        }
        S2ucCommand::Release { uid, s2cs, cert } => {
            native.push(["req", "release", "--s2cs", &s2cs]);
            native.cert(cert, default_cert);
            native.push(["--", &uid]);
        }
    }
    native.0
}

/// A native command line being built.
struct Native(Vec<OsString>);

impl Native {
    fn push<const N: usize>(&mut self, args: [&str; N]) {
        self.0.extend(args.map(OsString::from));
    }

    fn prod(&mut self, prod: &ProdReq, default_cert: bool) {
        self.push(["req", "prod"]);
        self.session(&prod.session, "localhost:5000", default_cert);
        if prod.mock {
            self.push(["--uid", MOCK_UID]);
        }
    }

    /// Upstream prints the whole token in the header: so does this (--show-token). Upstream's
    /// command lines have no way to carry the hop's credential from the PROD to the CONS
    /// gateway, and its gateways relay the hop in clear: so the hop stays plain
    /// (--plaintext-hop), as in SciStream 1.2.
    fn session(&mut self, session: &Session, default_s2cs: &str, default_cert: bool) {
        let s2cs = session.s2cs.as_deref().unwrap_or(default_s2cs);
        self.push(["--num-conn", &session.num_conn.to_string()]);
        self.push(["--rate", &session.rate.to_string()]);
        self.push(["--s2cs", s2cs, "--show-token", "--plaintext-hop"]);
        if !session.scope.is_empty() {
            self.push(["--scope", &session.scope]);
        }
        self.cert(session.cert.clone(), default_cert);
    }

    fn cert(&mut self, cert: ServerCert, default_cert: bool) {
        match cert.server_cert {
            Some(path) => self.0.extend(["--server-cert".into(), path.into()]),
            None if default_cert => self.push(["--server-cert", DEFAULT_CERT]),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn native(line: &[&str], default_cert: bool) -> String {
        let args =
            S2ucArgs::try_parse_from(std::iter::once("s2uc").chain(line.iter().copied())).unwrap();
        let native = native_args(args.command.unwrap(), default_cert);
        let argv = std::iter::once("scistream".into()).chain(native.clone());
        crate::cmd::Cli::try_parse_from::<_, OsString>(argv).expect("a native command line");
        let words: Vec<_> = native.iter().map(|a| a.to_string_lossy()).collect();
        words.join(" ")
    }

    #[test]
    fn cli_definition_is_consistent() {
        S2ucArgs::command().debug_assert();
    }

    #[test]
    fn session_commands_translate_with_upstreams_defaults() {
        assert_eq!(
            native(&["prod-req", "--mock", "True"], true),
            format!(
                "req prod --num-conn 5 --rate 10000 --s2cs localhost:5000 --show-token \
                 --plaintext-hop --server-cert server.crt --uid {MOCK_UID}"
            )
        );
        assert_eq!(
            native(
                &[
                    "inbound-request",
                    "--num_conn=2",
                    "--receiver_ports",
                    "7001"
                ],
                false
            ),
            "req prod --num-conn 2 --rate 10000 --s2cs localhost:5000 --show-token \
             --plaintext-hop --remote-ip localhost --receiver-ports 7001"
        );
        assert_eq!(
            native(
                &[
                    "outbound-request",
                    "--server_cert",
                    "gw.crt",
                    "u-1",
                    "a:1,b:2"
                ],
                true
            ),
            "req cons --num-conn 5 --rate 10000 --s2cs localhost:6000 --show-token \
             --plaintext-hop --server-cert gw.crt -- u-1 a:1,b:2"
        );
        assert_eq!(
            native(&["release", "u-1", "--s2cs", "gw:5000"], false),
            "req release --s2cs gw:5000 -- u-1"
        );
    }

    #[test]
    fn auth_commands_translate() {
        assert_eq!(
            native(&["check-auth", "--ip", "10.0.0.1"], false),
            "check-auth --s2cs 10.0.0.1"
        );
        assert_eq!(
            native(&["check-auth"], false),
            format!("check-auth --scope {DEFAULT_SCOPE}")
        );
        assert_eq!(native(&["logout"], false), "logout");
        assert_eq!(
            native(
                &["login", "--scope=5b5f6e43-6a8e-4d5e-9d6a-2a7f0b1c9e11"],
                false
            ),
            "login --scope 5b5f6e43-6a8e-4d5e-9d6a-2a7f0b1c9e11"
        );
    }

    #[test]
    fn mock_false_keeps_a_fresh_uid() {
        assert!(!native(&["prod-req", "--mock=False"], false).contains("--uid"));
    }
}
