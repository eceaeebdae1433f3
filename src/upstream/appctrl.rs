//! `appctrl` (the binary invoked under that name): upstream's app controller command line.
//! `mock` sends the session's hello; `create-appctrl` then runs the built-in traffic test
//! where upstream starts iperf3 (the producer sends, as with `iperf3 -R`).

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::ProgressBar;
use tonic::Code;

use crate::address::HostPort;
use crate::app::{self, send::Amount};
use crate::client::{hello, Client};
use crate::exit::Failure;
use crate::logging::{self, LogFormat};
use crate::secret::Secret;
use crate::{pb, tls};

/// Upstream's default producer ports, announced on CONTROLLER_IP.
const PRODUCER_PORTS: [u16; 5] = [5074, 5075, 5076, 37000, 47000];
/// Upstream trusts the certificate in the working directory.
const TRUSTED_CERT: &str = "server.crt";
const ATTEMPTS: u32 = 5;
/// How long the PROD side sends, as upstream's `iperf3 -t 10`.
const SEND_TIME: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(
    name = "appctrl",
    version,
    about = "SciStream app controller (upstream's command line; `scistream app` is the native one)",
    after_help = crate::exit::TABLE
)]
struct Appctrl {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send the session's hello (PROD: CONTROLLER_IP:5074,5075,5076,37000,47000)
    Mock(Session),
    /// As mock, then test the session: PROD sends for 10 s on CONTROLLER_IP:5074 (as `scistream
    /// app send --listen`); CONS receives from the session's first listener (as `scistream app
    /// recv --connect`)
    CreateAppctrl(Session),
}

#[derive(Debug, Args)]
struct Session {
    /// The session uid
    #[arg(value_parser = crate::cmd::values::parse_uid)]
    uid: String,
    /// Control server (S2CS) address, host:port
    #[arg(value_parser = HostPort::parse)]
    s2cs: HostPort,
    /// The access token the hello carries (INVALID_TOKEN when the server has auth off)
    access_token: Secret,
    /// PROD or CONS
    #[arg(value_parser = ["PROD", "CONS"])]
    role: String,
    /// The producer application's address (PROD)
    #[arg(default_value = "127.0.0.1")]
    controller_ip: IpAddr,
}

/// Runs the `appctrl` command line given in `args` (argv, program name first).
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let cli = Appctrl::parse_from(args);
    logging::init(0, false, LogFormat::Text);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Mock(session) => {
                session.announce().await?;
                println!("Created AppCtrl instance");
                Ok(())
            }
            Command::CreateAppctrl(session) => session.traffic_test().await,
        }
    })
}

impl Session {
    async fn connect(&self) -> Result<Client> {
        let tls = tls::client_config(Some(Path::new(TRUSTED_CERT)), Path::new("."))?;
        Client::connect(&self.s2cs, Some(tls), Some(self.access_token.clone())).await
    }

    /// PROD: sends the hello with the producer's ports. CONS: the session's hello came from
    /// its `req cons` (a server takes one per session), so this only looks the session up.
    /// Returns the session's listeners.
    async fn announce(&self) -> Result<Vec<String>> {
        if self.role == "CONS" {
            let client = self.connect().await?;
            let status = client
                .status(&self.uid)
                .await
                .map_err(|s| self.refused(s))?;
            // The session's own role: a mistyped uid may name the PROD session.
            println!(
                "AppCtrl: {} session {} listens on {}",
                status.role,
                self.uid,
                status.listeners.join(",")
            );
            return Ok(status.listeners);
        }
        let hello = pb::Hello {
            uid: self.uid.clone(),
            prod_listeners: PRODUCER_PORTS
                .iter()
                .map(|port| std::net::SocketAddr::new(self.controller_ip, *port).to_string())
                .collect(),
            role: self.role.clone(),
        };
        println!("AppCtrl: SENDING HELLO");
        let warn =
            |failed: &hello::Failed| println!("AppCtrl WARNING: GRPC error occurred: {failed}");
        let response = hello::deliver(|| self.connect(), &hello, ATTEMPTS, warn)
            .await
            .map_err(|failed| match failed {
                hello::Failed::Unreachable(e) => {
                    e.context(format!("AppCtrl: Failed after {ATTEMPTS} attempts"))
                }
                hello::Failed::Refused(status) => self.refused(status),
            })?;
        println!("AppCtrl: Hello sent");
        Ok(response.listeners)
    }

    fn refused(&self, status: tonic::Status) -> anyhow::Error {
        match status.code() {
            Code::Unauthenticated => Failure::AuthRequired(format!(
                "AppCtrl: Authentication error for server scope, please obtain new credentials: {}",
                status.message()
            ))
            .into(),
            Code::NotFound => Failure::NotFound(format!("AppCtrl: {}", status.message())).into(),
            _ => anyhow!("AppCtrl: s2cs {} refused: {}", self.s2cs, status.message()),
        }
    }

    /// The hello, then the producer's sender (PROD) or the consumer's receiver (CONS): data
    /// flows producer -> consumer, as upstream's `iperf3 -s` / `iperf3 -c -R`.
    async fn traffic_test(&self) -> Result<()> {
        let hidden = ProgressBar::hidden();
        if self.role == "PROD" {
            // Listening before the hello, so the session's first connection finds the sender.
            let address = std::net::SocketAddr::new(self.controller_ip, PRODUCER_PORTS[0]);
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("could not listen on {address} for the traffic test"))?;
            self.announce().await?;
            println!(
                "AppCtrl: sending on {address} for {} s",
                SEND_TIME.as_secs()
            );
            let report =
                app::send::accept(listener, Amount::Time(SEND_TIME), 1, None, &hidden).await?;
            println!("{}", report.text("sent"));
        } else {
            let listeners = self.announce().await?;
            let target = listeners
                .first()
                .ok_or_else(|| anyhow!("AppCtrl: session {} has no listeners", self.uid))?;
            println!("AppCtrl: receiving from {target}");
            let target = HostPort::parse(target).map_err(|e| anyhow!("AppCtrl: {e}"))?;
            let report = app::recv::connect(&target, 1, None, &hidden).await?;
            println!("{}", report.text("received"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Appctrl::command().debug_assert();
    }
}
