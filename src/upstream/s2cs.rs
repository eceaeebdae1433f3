//! `s2cs`: upstream's server command line, run as `scistream server`.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgAction, Parser};

use crate::scope::DEFAULT_SCOPE;
use crate::secret::Secret;

/// Upstream's data-plane kinds; the built-in relay serves them all.
const TYPES: [&str; 6] = [
    "Haproxy",
    "Nginx",
    "StunnelSubprocess",
    "HaproxySubprocess",
    "Stunnel",
    "Mock",
];

/// SciStream control server (upstream's `s2cs` command line; the native one is `scistream server`)
#[derive(Debug, Parser)]
#[command(name = "s2cs", disable_version_flag = true)]
pub(crate) struct S2csArgs {
    /// Address the data listeners bind to and advertise (0.0.0.0 cannot be advertised: then
    /// 127.0.0.1)
    #[arg(long = "listener_ip", default_value = "0.0.0.0", value_name = "IP")]
    listener_ip: IpAddr,
    /// Control port
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Address the control port binds to (ours; upstream binds all addresses)
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    bind: IpAddr,
    /// Ports the data listeners are taken from, START-END inclusive
    #[arg(
        long = "port_range",
        default_value = "5100-5200",
        value_name = "START-END"
    )]
    port_range: String,
    /// Upstream's data-plane kind: accepted, and served by the built-in relay
    #[arg(long = "type", value_parser = TYPES, ignore_case = true, value_name = "TYPE")]
    kind: Option<String>,
    /// Globus client id of this server: the scope clients must log in to
    #[arg(long = "client_id", default_value = DEFAULT_SCOPE, value_name = "UUID")]
    client_id: String,
    /// Client secret of --client_id; it turns token checking on
    #[arg(long = "client_secret", value_name = "SECRET")]
    client_secret: Option<Secret>,
    /// TLS certificate (PEM)
    #[arg(long = "server_crt", default_value = "server.crt", value_name = "PEM")]
    server_crt: PathBuf,
    /// TLS private key (PEM)
    #[arg(long = "server_key", default_value = "server.key", value_name = "PEM")]
    server_key: PathBuf,
    /// TLS on (True) or plaintext (False)
    #[arg(long, default_value = "True", value_parser = super::python_bool(), action = ArgAction::Set, value_name = "BOOL")]
    ssl: bool,
    /// Verbose log
    #[arg(short, long)]
    verbose: bool,
    /// Print the version
    #[arg(long)]
    version: bool,
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    let args = S2csArgs::parse_from(args);
    if args.version {
        println!("s2cs, version: {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if let Some(kind) = &args.kind {
        eprintln!(
            "s2cs: --type {kind}: the built-in relay serves every type; no {kind} process is started"
        );
    }
    if args.listener_ip.is_unspecified() {
        eprintln!(
            "s2cs: --listener_ip {} cannot be advertised to clients; the data listeners use \
             127.0.0.1 (give --listener_ip with this gateway's reachable address)",
            args.listener_ip
        );
    }
    if args.ssl {
        for (flag, path) in [
            ("--server_crt", &args.server_crt),
            ("--server_key", &args.server_key),
        ] {
            anyhow::ensure!(
                path.exists(),
                "s2cs: no {flag} file {}: make the certificate and key with `openssl req -x509 \
                 -newkey rsa:2048 -nodes -days 365 -subj /CN=HOST -addext subjectAltName=IP:ADDRESS \
                 -keyout server.key -out server.crt`, give --server_crt and --server_key, or serve \
                 plaintext with --ssl=False",
                path.display()
            );
        }
    }
    super::run_native(native_args(args))
}

/// The `scistream [-v] server ...` line these flags mean.
fn native_args(args: S2csArgs) -> Vec<OsString> {
    let listener_ip = match args.listener_ip.is_unspecified() {
        true => Ipv4Addr::LOCALHOST.into(),
        false => args.listener_ip,
    };
    let mut native: Vec<OsString> = Vec::new();
    if args.verbose {
        native.push("-v".into());
    }
    let flags = [
        ("--port", args.port.to_string()),
        ("--bind", args.bind.to_string()),
        ("--listener-ip", listener_ip.to_string()),
        ("--port-range", args.port_range),
        ("--client-id", args.client_id),
    ];
    native.push("server".into());
    for (flag, value) in flags {
        native.extend([flag.into(), value.into()]);
    }
    if args.ssl {
        native.extend(["--tls-cert".into(), args.server_crt.into()]);
        native.extend(["--tls-key".into(), args.server_key.into()]);
    } else {
        native.push("--no-tls".into());
    }
    // Empty (upstream's default) is auth off; else the native environment fallback applies.
    if let Some(secret) = args.client_secret.filter(|s| !s.expose().is_empty()) {
        native.extend(["--client-secret".into(), secret.expose().into()]);
    }
    native
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn native(line: &[&str]) -> Vec<String> {
        let args =
            S2csArgs::try_parse_from(std::iter::once("s2cs").chain(line.iter().copied())).unwrap();
        let native = native_args(args);
        native
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn cli_definition_is_consistent() {
        S2csArgs::command().debug_assert();
    }

    #[test]
    fn upstreams_defaults_become_native_flags() {
        assert_eq!(
            native(&[]).join(" "),
            "server --port 5000 --bind 0.0.0.0 --listener-ip 127.0.0.1 --port-range 5100-5200 \
             --client-id c42c0dac-0a52-408e-a04f-5d31bfe0aef8 --tls-cert server.crt --tls-key \
             server.key"
        );
    }

    #[test]
    fn both_flag_spellings_and_python_booleans_are_accepted() {
        let line = native(&[
            "--listener_ip=10.0.0.7",
            "--port",
            "6000",
            "--port_range=7000-7010",
            "--ssl=False",
            "--type=StunnelSubprocess",
            "--client_secret",
            "s3cret",
            "-v",
        ]);
        assert_eq!(
            line.join(" "),
            "-v server --port 6000 --bind 0.0.0.0 --listener-ip 10.0.0.7 --port-range 7000-7010 \
             --client-id c42c0dac-0a52-408e-a04f-5d31bfe0aef8 --no-tls --client-secret s3cret"
        );
    }

    #[test]
    fn every_upstream_type_is_accepted() {
        for kind in TYPES {
            S2csArgs::try_parse_from(["s2cs", "--type", kind]).unwrap();
        }
        assert!(S2csArgs::try_parse_from(["s2cs", "--type", "Envoy"]).is_err());
    }
}
