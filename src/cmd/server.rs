//! `scistream server`: run the S2CS control server and its data plane.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::net::TcpListener;

use super::GlobalArgs;
use crate::server::{self, ServerOptions};
use crate::{paths, tls};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  scistream server --listener-ip 10.16.42.61 --port-range 5100-5200
  scistream server --no-tls --port 0        # plaintext, any free port (tests)")]
pub struct ServerArgs {
    /// Control port clients connect to (0: any free port, printed at start)
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Address the control port binds to
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    bind: IpAddr,
    /// Address the data listeners bind to and advertise to clients: the gateway's address
    /// that the other side can reach (0.0.0.0 cannot be advertised)
    #[arg(
        long,
        alias = "listener_ip",
        default_value = "127.0.0.1",
        value_name = "IP"
    )]
    listener_ip: IpAddr,
    /// Ports the data listeners are taken from, START-END inclusive
    #[arg(long, alias = "port_range", default_value = "5100-5200", value_parser = parse_port_range, value_name = "START-END")]
    port_range: RangeInclusive<u16>,
    /// Seconds a req waits for its hello before its ports are freed
    #[arg(long, default_value = "180", value_parser = parse_seconds, value_name = "SECS")]
    hello_timeout: Duration,
    /// The most listeners (num_conn) one request may ask for
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    max_conn: u16,
    /// TLS certificate (PEM) [default: a self-signed one generated once in the config directory]
    #[arg(long, alias = "server_crt", requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert
    #[arg(long, alias = "server_key", requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Serve plaintext gRPC: tokens would cross the network in the clear
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    no_tls: bool,
}

fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (start, end) = s
        .split_once('-')
        .ok_or("expected START-END, e.g. 5100-5200")?;
    let start: u16 = start
        .trim()
        .parse()
        .map_err(|_| format!("{start:?} is not a port"))?;
    let end: u16 = end
        .trim()
        .parse()
        .map_err(|_| format!("{end:?} is not a port"))?;
    if start == 0 || start > end {
        return Err(format!("{s}: START must be 1 or more and not above END"));
    }
    Ok(start..=end)
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}

pub async fn run(global: &GlobalArgs, args: ServerArgs) -> Result<()> {
    crate::logging::init(global.verbose, global.quiet);
    if args.listener_ip.is_unspecified() {
        bail!(
            "--listener-ip {} cannot be advertised to clients: give this gateway's address \
             that the other side can reach, e.g. --listener-ip 10.16.42.61",
            args.listener_ip
        );
    }
    let tls = server_tls(global, &args)?;
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}: pick another --port or --bind"))?;
    let options = ServerOptions {
        listener_ip: args.listener_ip,
        port_range: args.port_range,
        hello_timeout: args.hello_timeout,
        max_conn: usize::from(args.max_conn),
        tls,
    };
    println!("Server started on {}", listener.local_addr()?);
    server::serve(listener, options, shutdown_signal()).await
}

fn server_tls(
    global: &GlobalArgs,
    args: &ServerArgs,
) -> Result<Option<tonic::transport::ServerTlsConfig>> {
    if args.no_tls {
        tracing::warn!(
            "TLS is OFF (--no-tls): tokens and session data cross the network in plaintext"
        );
        return Ok(None);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return tls::load_identity(cert, key).map(Some);
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    names.push(args.listener_ip.to_string());
    if !args.bind.is_unspecified() {
        names.push(args.bind.to_string());
    }
    names.dedup();
    let (config, cert) =
        tls::generated_identity(&paths::config_dir(global.config.as_deref()), &names)?;
    println!(
        "TLS certificate: {} (clients: --server-cert {})",
        cert.display(),
        cert.display()
    );
    Ok(Some(config))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received: releasing sessions and stopping");
}
