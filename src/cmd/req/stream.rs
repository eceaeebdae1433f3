//! `req stream`: a whole stream in one command: the PROD session on one gateway (with its
//! hello), then the CONS session on the other, relaying to the PROD listeners over the
//! encrypted hop. If the CONS half fails, the PROD half is released: nothing stays bound.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::hop::{this_command, FallbackArgs, HopArgs};
use super::start::{print_header, producer, SessionArgs};
use super::GlobalArgs;
use crate::address::{self, Host, HostPort};
use crate::client::setup::{Opened, Setup};
use crate::cmd::s2cs_args::S2csArgs;
use crate::scope::ScopeId;

#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    /// Seconds to wait for each server: to connect, and for each call [default: as `req prod`]
    #[arg(long, value_parser = crate::cmd::values::parse_seconds, value_name = "SECS")]
    timeout: Option<Duration>,
    /// The producer-side control server (S2CS)
    #[arg(long, value_parser = HostPort::parse, value_name = "HOST:PORT")]
    prod_s2cs: HostPort,
    /// The consumer-side control server (S2CS)
    #[arg(long, value_parser = HostPort::parse, value_name = "HOST:PORT")]
    cons_s2cs: HostPort,
    /// Trust this certificate (PEM) for both servers [default: the one a local server
    /// generated, else the system roots]
    #[arg(long, value_name = "PEM", conflicts_with = "no_tls")]
    server_cert: Option<PathBuf>,
    /// Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]
    #[arg(long, value_name = "PEM", conflicts_with = "no_tls")]
    prod_server_cert: Option<PathBuf>,
    /// Trust this certificate (PEM) for --cons-s2cs [default: as --server-cert]
    #[arg(long, value_name = "PEM", conflicts_with = "no_tls")]
    cons_server_cert: Option<PathBuf>,
    /// Talk plaintext gRPC to both servers (started with --no-tls)
    #[arg(long)]
    no_tls: bool,
    /// Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]
    #[arg(long, value_name = "UUID")]
    prod_scope: Option<ScopeId>,
    /// Scope whose token to send to --cons-s2cs [default: the one the config file maps it to]
    #[arg(long, value_name = "UUID")]
    cons_scope: Option<ScopeId>,
    #[command(flatten)]
    session: SessionArgs,
    /// Only these networks may connect to the PROD session's listeners: the CONS gateway's
    /// (--allow-from restricts the CONS listeners, which consumers use)
    #[arg(long, value_delimiter = ',', value_parser = address::parse_network, value_name = "CIDR")]
    prod_allow_from: Vec<ipnet::IpNet>,
    /// Address of the producer application (sent in the PROD session's hello)
    #[arg(long, alias = "remote_ip", value_parser = Host::parse, value_name = "IP")]
    remote_ip: Host,
    /// The producer application's ports
    #[arg(
        long,
        alias = "receiver_ports",
        value_delimiter = ',',
        required = true,
        value_name = "P1,P2,..."
    )]
    receiver_ports: Vec<u16>,
    #[command(flatten)]
    hop: HopArgs,
    #[command(flatten)]
    fallback: FallbackArgs,
}

impl StreamArgs {
    fn server(&self, s2cs: &HostPort, cert: &Option<PathBuf>, scope: &Option<ScopeId>) -> S2csArgs {
        S2csArgs {
            s2cs: s2cs.clone(),
            server_cert: cert.clone().or_else(|| self.server_cert.clone()),
            no_tls: self.no_tls,
            scope: scope.clone(),
            timeout: self.timeout,
        }
    }
}

pub(crate) async fn run(global: &GlobalArgs, args: StreamArgs) -> Result<()> {
    let prod_server = args.server(&args.prod_s2cs, &args.prod_server_cert, &args.prod_scope);
    let cons_server = args.server(&args.cons_s2cs, &args.cons_server_cert, &args.cons_scope);
    // Both connected before anything is started: an unreachable CONS server leaves no trace.
    let prod = prod_server.connect(global).await?;
    let cons = cons_server.connect(global).await?;
    let uid = uuid::Uuid::new_v4().to_string();
    if !args.session.json {
        let servers = [(&prod, "PROD"), (&cons, "CONS")];
        print_header(&uid, &servers, args.session.show_token)?;
    }
    let producer = producer(&args.remote_ip, &args.receiver_ports);
    let warn = |warning: &str| {
        if !global.quiet {
            eprintln!("warning: {warning}");
        }
    };
    let command = this_command();
    let policy = args.hop.policy(Some(&args.fallback));
    let setup = Setup {
        prod_allow_from: &args.prod_allow_from,
        ..args.session.setup(&uid, policy, &command, &warn)
    };
    let (prod_half, cons_half) = setup.stream(&prod, &cons, producer).await?;
    print_stream(&args, &uid, &prod_half, &cons_half);
    Ok(())
}

fn print_stream(args: &StreamArgs, uid: &str, prod: &Opened, cons: &Opened) {
    let cons_listeners = &cons.routed.listeners;
    if args.session.json {
        let value = serde_json::json!({
            "uid": uid,
            "listeners": cons_listeners,
            "prod_s2cs": args.prod_s2cs,
            "cons_s2cs": args.cons_s2cs,
            "prod_listeners": prod.routed.listeners,
            "producer": prod.routed.targets,
            "hop": cons.hop_encryption().as_str(),
        });
        println!("{value}");
    } else {
        println!("Listeners: {}", address::joined(cons_listeners));
    }
}
