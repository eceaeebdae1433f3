//! The control plane under load, for `bench/control.sh`: starts `scistream server` processes on
//! loopback and drives them with the library's client (and the CLI), printing one line per figure.
//!
//! ```sh
//! cargo run --release --example control_load -- --scistream target/release/scistream
//! ```

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use scistream::client::{reply_addresses, Client};
use scistream::pb;
use scistream::secret::Secret;

#[derive(Parser)]
struct Args {
    /// The `scistream` binary under test
    #[arg(long)]
    scistream: PathBuf,
    /// Sessions created and released one after another over gRPC
    #[arg(long, default_value_t = 5000)]
    sequential: usize,
    /// Sessions created and released one after another with the CLI (one process per call)
    #[arg(long, default_value_t = 100)]
    cli: usize,
    /// Concurrent runs, SESSIONSxLISTENERS each
    #[arg(long, value_delimiter = ',', default_value = "10000x1,3000x5")]
    concurrent: Vec<String>,
    /// gRPC connections the concurrent sessions are spread over
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls made with one rejected token against an auth-on server
    #[arg(long, default_value_t = 200)]
    rejected: usize,
}

/// Where the session listeners go: an address of their own, away from the clients' ports.
const LISTENER_IP: &str = "127.0.0.2";
const PORT_RANGE: &str = "20000-39999";
/// The producer port every session's hello names (nothing needs to listen there).
const PRODUCER: &str = "127.0.0.1:7001";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    println!("{:<44} {:>14}", "figure", "value");
    sequential_grpc(&args).await?;
    sequential_cli(&args)?;
    for run in &args.concurrent {
        let (sessions, listeners) = run
            .split_once('x')
            .and_then(|(s, l)| Some((s.parse().ok()?, l.parse().ok()?)))
            .with_context(|| format!("--concurrent {run}: expected SESSIONSxLISTENERS"))?;
        concurrent(&args, sessions, listeners).await?;
    }
    rejected_token(&args).await
}

fn row(figure: &str, value: String) {
    println!("{figure:<44} {value:>14}");
}

/// A `scistream server --no-tls` on loopback, killed on drop.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(binary: &PathBuf, extra: &[&str], env: &[(&str, &str)]) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .args(["server", "--no-tls", "--port", "0", "--bind", "127.0.0.1"])
            .args(["--listener-ip", LISTENER_IP, "--port-range", PORT_RANGE])
            .args(["--max-conn", "5"])
            // No connection is relayed here, and the wide port range would leave the default
            // fd budget nothing for them.
            .args(["--max-connections", "64"])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("could not start the server")?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let addr = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("Server started on ").map(str::to_owned));
        let Some(addr) = addr else {
            bail!("the server did not start")
        };
        Ok(Server {
            child,
            addr,
            _dir: dir,
        })
    }

    async fn client(&self, token: Option<&str>) -> Result<Client> {
        let addr = self.addr.parse().map_err(anyhow::Error::msg)?;
        Client::connect(&addr, None, token.map(Secret::new)).await
    }

    /// Resident and peak resident memory (VmRSS, VmHWM) in MiB.
    fn memory(&self) -> Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = |key: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        };
        match (kib("VmRSS:"), kib("VmHWM:")) {
            (Some(rss), Some(hwm)) => Ok((rss / 1024.0, hwm / 1024.0)),
            _ => bail!("no VmRSS/VmHWM in /proc/{}/status", self.child.id()),
        }
    }

    /// CPU time (user + system) the server has used so far.
    fn cpu(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: Vec<u64> = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse().ok())
            .collect();
        // SAFETY: sysconf only reads a system constant.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok(Duration::from_secs_f64(
            ticks.iter().sum::<u64>() as f64 / per_second,
        ))
    }

    fn fds(&self) -> Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))?.count())
    }
}

impl Drop for Server {
    /// SIGTERM, as an operator stops it: the server releases its sessions and exits.
    fn drop(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or_default();
        // SAFETY: kill(2) only sends a signal to our own child.
        if pid == 0 || unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn session(uid: String, num_conn: i32) -> (pb::Request, pb::Hello) {
    let req = pb::Request {
        uid: uid.clone(),
        role: "PROD".into(),
        num_conn,
        rate: 0,
        ..Default::default()
    };
    let hello = pb::Hello {
        uid,
        prod_listeners: vec![PRODUCER.into()],
        role: "PROD".into(),
    };
    (req, hello)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn latency_rows(what: &str, mut setups: Vec<Duration>, total: Duration) {
    setups.sort();
    let n = setups.len();
    row(
        &format!("{what}: create+release per second"),
        format!("{:.0}", n as f64 / total.as_secs_f64()),
    );
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        row(
            &format!("{what}: setup latency {name} (ms)"),
            format!("{:.3}", percentile(&setups, p).as_secs_f64() * 1e3),
        );
    }
}

/// req + hello + update, then release, one session after another on one connection.
/// A PROD session's whole setup as `req prod --plaintext-hop` does it: req and hello together,
/// then update with the hello's listeners.
async fn open(client: &Client, req: pb::Request, hello: pb::Hello) -> Result<(), tonic::Status> {
    let (uid, role) = (req.uid.clone(), req.role.clone());
    let started = client.start(req, Some(hello)).await?;
    let targets = reply_addresses("prod_listeners", &started.prod_listeners)?;
    client.update(&uid, &role, &targets, None).await?;
    Ok(())
}

async fn sequential_grpc(args: &Args) -> Result<()> {
    if args.sequential == 0 {
        return Ok(());
    }
    let server = Server::start(&args.scistream, &[], &[])?;
    let client = server.client(None).await?;
    let mut setups = Vec::with_capacity(args.sequential);
    let cpu_before = server.cpu()?;
    let start = Instant::now();
    for i in 0..args.sequential {
        let (req, hello) = session(format!("seq-{i}"), 1);
        let opened = Instant::now();
        open(&client, req, hello).await?;
        setups.push(opened.elapsed());
        client.release(&format!("seq-{i}")).await?;
    }
    let took = start.elapsed();
    let what = format!("gRPC, {} sequential", args.sequential);
    let cpu = server.cpu()? - cpu_before;
    row(
        &format!("{what}: server CPU per create+release (us)"),
        format!("{:.0}", cpu.as_secs_f64() * 1e6 / args.sequential as f64),
    );
    latency_rows(&what, setups, took);
    Ok(())
}

/// `scistream req prod` then `scistream req release`, one process each, one after another.
fn sequential_cli(args: &Args) -> Result<()> {
    if args.cli == 0 {
        return Ok(());
    }
    let server = Server::start(&args.scistream, &[], &[])?;
    let dir = tempfile::tempdir()?;
    let cli = |rest: &[&str]| -> Result<String> {
        let output = Command::new(&args.scistream)
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .args(["req", rest[0], "--no-tls", "--s2cs", &server.addr])
            .args(&rest[1..])
            .stderr(Stdio::null())
            .output()?;
        if !output.status.success() {
            bail!("scistream req {} failed", rest[0]);
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let mut setups = Vec::with_capacity(args.cli);
    let start = Instant::now();
    for _ in 0..args.cli {
        let opened = Instant::now();
        let printed = cli(&[
            "prod",
            "--json",
            "--num-conn",
            "1",
            "--remote-ip",
            "127.0.0.1",
            "--receiver-ports",
            "7001",
        ])?;
        setups.push(opened.elapsed());
        let uid = serde_json::from_str::<serde_json::Value>(&printed)?["uid"]
            .as_str()
            .context("no uid in req prod --json")?
            .to_owned();
        cli(&["release", &uid])?;
    }
    latency_rows(
        &format!("CLI, {} sequential", args.cli),
        setups,
        start.elapsed(),
    );
    Ok(())
}

/// Opens `sessions` sessions of `listeners` listeners all at once, holds them, releases them.
async fn concurrent(args: &Args, sessions: usize, listeners: i32) -> Result<()> {
    // One client opens them all: lift its quotas (100 sessions, 1000 listeners by default).
    let quota = (sessions * listeners.unsigned_abs() as usize).to_string();
    let lifted = ["--quota-sessions", &quota, "--quota-listeners", &quota];
    let server = Server::start(&args.scistream, &lifted, &[])?;
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        clients.push(server.client(None).await?);
    }
    // One call first, so that "before" counts the connections and a warmed-up runtime.
    clients[0].list().await?;
    let (rss_before, _) = server.memory()?;
    let fds_before = server.fds()?;
    let label = format!("{sessions} x {listeners} concurrent");

    let start = Instant::now();
    let opened = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..sessions {
        let client = clients[i % clients.len()].clone();
        let opened = opened.clone();
        tasks.spawn(async move {
            let (req, hello) = session(format!("c-{i}"), listeners);
            match open(&client, req, hello).await {
                Ok(()) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => eprintln!("session c-{i} failed: {:?} {}", e.code(), e.message()),
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            eprintln!("DEBUG join {e}");
        }
    }
    let took = start.elapsed();
    let (rss_open, rss_peak) = server.memory()?;
    let fds_open = server.fds()?;

    let mut releases = tokio::task::JoinSet::new();
    for i in 0..sessions {
        let client = clients[i % clients.len()].clone();
        releases.spawn(async move {
            let _ = client.release(&format!("c-{i}")).await;
        });
    }
    while releases.join_next().await.is_some() {}
    let left = clients[0].list().await?.len();
    let (rss_after, _) = server.memory()?;
    let fds_after = server.fds()?;

    let opened = opened.load(Ordering::Relaxed);
    row(&format!("{label}: opened"), format!("{opened}/{sessions}"));
    row(
        &format!("{label}: time to open all (s)"),
        format!("{:.3}", took.as_secs_f64()),
    );
    row(
        &format!("{label}: RSS before/open/peak/after (MiB)"),
        format!("{rss_before:.1}/{rss_open:.1}/{rss_peak:.1}/{rss_after:.1}"),
    );
    row(
        &format!("{label}: bytes per session at peak"),
        format!(
            "{:.0}",
            (rss_peak - rss_before) * 1024.0 * 1024.0 / opened.max(1) as f64
        ),
    );
    row(
        &format!("{label}: fds before/open/after"),
        format!("{fds_before}/{fds_open}/{fds_after}"),
    );
    row(&format!("{label}: sessions left"), left.to_string());
    Ok(())
}

/// An auth-on server whose introspection endpoint (RFC 7662, served here) counts its calls;
/// `--rejected` calls with one token it calls inactive.
async fn rejected_token(args: &Args) -> Result<()> {
    if args.rejected == 0 {
        return Ok(());
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let auth = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let auth_url = format!("http://{}", auth.local_addr()?);
    let counted = calls.clone();
    let introspect = axum::routing::post(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        std::future::ready(axum::Json(serde_json::json!({ "active": false })))
    });
    let app = axum::Router::new().route("/v2/oauth2/token/introspect", introspect);
    tokio::spawn(async move { axum::serve(auth, app).await });

    let env = [
        ("SCISTREAM_AUTH_URL", auth_url.as_str()),
        ("SCISTREAM_CLIENT_SECRET", "bench-secret"),
    ];
    let server = Server::start(&args.scistream, &[], &env)?;
    let client = server.client(Some("rejected-token")).await?;
    let before = calls.load(Ordering::Relaxed);
    let mut refused = 0;
    for _ in 0..args.rejected {
        if client.list().await.is_err() {
            refused += 1;
        }
    }
    let made = calls.load(Ordering::Relaxed) - before;
    let label = format!("{} calls with one rejected token", args.rejected);
    row(&format!("{label}: refused"), refused.to_string());
    row(&format!("{label}: introspections"), made.to_string());
    Ok(())
}
