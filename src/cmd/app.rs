//! `scistream app hello|send|recv`: the app controller's hello, and a traffic test that checks
//! a session end to end with no other tool.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::TcpListener;

use super::s2cs_args::S2csArgs;
use super::values::{parse_seconds, parse_uid};
use super::GlobalArgs;
use crate::address::{self, HostPort};
use crate::app::{self, send::Amount, Report, RunToken};
use crate::client::{explain_failure, hello};
use crate::pb;
use crate::secret::Secret;

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Send a session's hello: tell a PROD session where the producer application listens
    #[command(
        after_help = "Example (UID as printed by a `req prod` that waits for its hello):
  scistream app hello --s2cs gw1.example.org:5000 UID --prod-listeners 10.0.0.5:5074,10.0.0.5:5075"
    )]
    Hello(HelloArgs),
    /// Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum
    #[command(
        after_help = "Examples: as the producer application, where a PROD session relays to
  scistream app send --listen 10.0.0.5:5074 --bytes 1G --streams 4
or through a CONS session's listener, to `app recv --listen` at the producer's port
  scistream app send --connect 10.20.1.7:5100 --bytes 1G --streams 4"
    )]
    Send(SendArgs),
    /// Receive and verify `app send`'s streams; prints the same checksum as the sender
    #[command(
        after_help = "Examples: as the consumer, through a CONS session's listener, from `app send --listen`
  scistream app recv --connect 10.20.1.7:5100 --streams 4
or where a PROD session relays to, from `app send --connect`
  scistream app recv --listen 10.0.0.5:5074"
    )]
    Recv(RecvArgs),
}

#[derive(Debug, Args)]
struct HelloArgs {
    #[command(flatten)]
    server: S2csArgs,
    /// The session uid
    #[arg(value_parser = parse_uid)]
    uid: String,
    /// The producer application's addresses, comma-separated host:port
    #[arg(long, alias = "prod_listeners", value_delimiter = ',', required = true,
          value_parser = HostPort::parse, value_name = "H:P,...")]
    prod_listeners: Vec<HostPort>,
    /// Role the hello names (the session keeps the role its req gave)
    #[arg(long, default_value = "PROD", value_parser = ["PROD", "CONS"])]
    role: String,
    /// Tries before giving up while the server is unreachable or not ready
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100), value_name = "N")]
    attempts: u32,
    /// Print one JSON object (uid, s2cs, message, listeners) instead of text
    #[arg(long)]
    json: bool,
}

/// Which side of the TCP connections this end takes; either end may take either.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct Link {
    /// Open the connections to HOST:PORT: a session's listener, or the other end's --listen
    #[arg(long, value_parser = HostPort::parse, value_name = "HOST:PORT")]
    connect: Option<HostPort>,
    /// Accept the other end's connections on HOST:PORT (port 0: any free port; the address is
    /// printed on stderr)
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
}

#[derive(Debug, Args)]
struct SendArgs {
    #[command(flatten)]
    link: Link,
    /// Send this many bytes in all, split over the streams (suffix K, M, G or T: binary units)
    #[arg(long, conflicts_with = "seconds", value_parser = parse_size, value_name = "N")]
    bytes: Option<u64>,
    /// Send for this long [default: 10 unless --bytes is given]
    #[arg(long, value_parser = parse_seconds, value_name = "S")]
    seconds: Option<Duration>,
    /// Parallel connections (at most 64); with --listen, the first K accepted (with
    /// --run-token, the first K that prove it)
    #[arg(long, default_value_t = 1, value_parser = streams(), value_name = "K")]
    streams: u32,
    #[command(flatten)]
    run_token: RunTokenArg,
    /// Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text
    #[arg(long)]
    json: bool,
}

/// The token that ties the two ends of one run together.
#[derive(Debug, Args)]
struct RunTokenArg {
    /// A token of this run, given to both ends (`app send` and `app recv`): each then takes
    /// only connections that prove it, so a stranger's connection neither counts as a stream
    /// nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment
    /// variable: arguments show in `ps`
    #[arg(
        long,
        env = "SCISTREAM_RUN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    run_token: Option<Secret>,
}

impl RunTokenArg {
    fn token(&self) -> Option<RunToken> {
        self.run_token.as_ref().map(|t| RunToken::new(t.expose()))
    }
}

#[derive(Debug, Args)]
struct RecvArgs {
    #[command(flatten)]
    link: Link,
    /// With --connect: connections to open, the sender's --streams (with --listen, the
    /// sender's headers tell)
    #[arg(long, conflicts_with = "listen", default_value_t = 1, value_parser = streams(), value_name = "K")]
    streams: u32,
    #[command(flatten)]
    run_token: RunTokenArg,
    /// Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text
    #[arg(long)]
    json: bool,
}

fn streams() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=app::MAX_STREAMS as i64)
}

impl Link {
    /// The address to connect to, or the bound listener (announced on stderr, so that a
    /// script given port 0 can connect).
    async fn prepare(self) -> Result<Ready> {
        let Some(address) = self.listen else {
            return Ok(Ready::Connect(
                self.connect.expect("clap requires --connect or --listen"),
            ));
        };
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("could not listen on {address}"))?;
        eprintln!("Listening on {}", listener.local_addr()?);
        Ok(Ready::Listen(listener))
    }
}

/// A link ready to move data: an address to connect to, or a bound listener.
enum Ready {
    Connect(HostPort),
    Listen(TcpListener),
}

pub(crate) async fn run(global: &GlobalArgs, args: AppArgs) -> Result<()> {
    match args.action {
        Action::Hello(a) => send_hello(global, a).await,
        Action::Send(a) => {
            let amount = match (a.bytes, a.seconds) {
                (Some(bytes), _) => Amount::Bytes(bytes),
                (None, seconds) => Amount::Time(seconds.unwrap_or(Duration::from_secs(10))),
            };
            let ready = a.link.prepare().await?;
            let progress = progress(global, a.json, a.bytes);
            let token = a.run_token.token();
            let report = match ready {
                Ready::Connect(target) => {
                    app::send::connect(&target, amount, a.streams, token, &progress).await
                }
                Ready::Listen(listener) => {
                    app::send::accept(listener, amount, a.streams, token, &progress).await
                }
            };
            progress.finish_and_clear();
            print_report(a.json, "sent", &report?)
        }
        Action::Recv(a) => {
            let ready = a.link.prepare().await?;
            let progress = progress(global, a.json, None);
            let token = a.run_token.token();
            let report = match ready {
                Ready::Connect(target) => {
                    app::recv::connect(&target, a.streams, token.as_ref(), &progress).await
                }
                Ready::Listen(listener) => {
                    app::recv::accept(listener, token.as_ref(), &progress).await
                }
            };
            progress.finish_and_clear();
            print_report(a.json, "received", &report?)
        }
    }
}

async fn send_hello(global: &GlobalArgs, args: HelloArgs) -> Result<()> {
    let server = &args.server;
    let credentials = server.credentials(global).await?;
    let message = pb::Hello {
        uid: args.uid.clone(),
        prod_listeners: address::to_strings(&args.prod_listeners),
        role: args.role,
    };
    let connect = || server.dial(global, &credentials);
    let retrying =
        |failed: &hello::Failed| eprintln!("warning: hello failed, trying again: {failed}");
    let response = hello::deliver(connect, &message, args.attempts, retrying)
        .await
        .map_err(|failed| match failed {
            hello::Failed::Unreachable(e) => e,
            hello::Failed::Refused(status) => explain_failure(&server.s2cs, &credentials, status),
        })?;
    if args.json {
        let value = serde_json::json!({
            "uid": args.uid, "s2cs": server.s2cs,
            "message": response.message, "listeners": response.listeners,
        });
        println!("{value}");
    } else {
        println!("{}", response.message);
        println!("Listeners: {}", response.listeners.join(","));
    }
    Ok(())
}

/// A progress line on stderr, only on a terminal: a bar when the total is known.
fn progress(global: &GlobalArgs, json: bool, total: Option<u64>) -> ProgressBar {
    if json || global.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} [{elapsed}]",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {binary_bytes} {binary_bytes_per_sec} [{elapsed}]",
        ),
    };
    let style = ProgressStyle::with_template(template).expect("the progress template is valid");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Prints an end's report; both call it for the same checksum line. A closed stdout is an
/// error, not a panic (`app send | head -1`).
fn print_report(json: bool, verb: &str, report: &Report) -> Result<()> {
    let text = match json {
        true => serde_json::to_string(report)?,
        false => report.text(verb),
    };
    writeln!(std::io::stdout().lock(), "{text}").context("could not print the report")
}

/// `N`, `NK`, `NM`, `NG` or `NT` (binary units, any case).
fn parse_size(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "{value:?}: give a number with an optional K, M, G or T"
            ))
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?}: give a number with an optional K, M, G or T"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{value:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        for bad in ["", "M", "1.5G", "1MB", "-1", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
