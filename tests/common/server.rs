//! An in-process control server on port 0, on a loopback address of its own, stopped on drop.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::net::RELAY_LIMITS;
use super::req::prod_flags;
use scistream::relay::Shares;
use scistream::server::{serve, ConnectionLimits, Quotas, ServerOptions};
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;

/// A loopback address no other test uses (per process and per test within it), so that port
/// ranges never collide between tests running in parallel.
pub fn private_loopback() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    // 127.0.0.0/8 has 2^24 addresses: the pid picks a block of 256, and a process that needs
    // more runs on into the next pid's block rather than wrapping around to its own.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let [_, a, b, c] = (std::process::id() << 8).wrapping_add(n).to_be_bytes();
    Ipv4Addr::new(127, a, b, c).into()
}

pub struct Options {
    pub tls: bool,
    pub hello_timeout: Duration,
    pub port_range: std::ops::RangeInclusive<u16>,
    pub max_conn: usize,
    /// Serve `/metrics` on a port of its own.
    pub metrics: bool,
    pub allow_targets: Vec<ipnet::IpNet>,
    pub connections: ConnectionLimits,
    /// What one client address may hold (the server's defaults unless a test needs more).
    pub quotas: Quotas,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: false,
            hello_timeout: Duration::from_secs(30),
            port_range: 20000..=20200,
            max_conn: 32,
            metrics: false,
            allow_targets: Vec::new(),
            connections: ConnectionLimits::default(),
            quotas: Quotas::default(),
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub listener_ip: IpAddr,
    pub dir: tempfile::TempDir,
    pub tls: bool,
    /// Where `/metrics` is served, with [`Options::metrics`].
    pub metrics: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub fn start(options: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let listener_ip = private_loopback();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = options.tls.then(|| {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            scistream::tls::generated_identity(dir.path(), &names)
                .unwrap()
                .0
        });
        let metrics_listener = options.metrics.then(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            listener
        });
        let metrics = metrics_listener.as_ref().map(|l| l.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let state_dir = dir.path().join("state");
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let server_options = ServerOptions {
                    listener_ip,
                    port_range: options.port_range,
                    hello_timeout: options.hello_timeout,
                    max_conn: options.max_conn,
                    tls,
                    auth: None,
                    metrics: metrics_listener
                        .map(tokio::net::TcpListener::from_std)
                        .transpose()?,
                    allow_targets: options.allow_targets,
                    relay_limits: RELAY_LIMITS,
                    relay_shares: Shares::default(),
                    connections: options.connections,
                    rates: Default::default(),
                    listener_allow_from: Vec::new(),
                    quotas: options.quotas,
                    lifetimes: Default::default(),
                    state_dir,
                    forget_sessions: false,
                    cluster: None,
                };
                serve(listener, server_options, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        TestServer {
            addr,
            listener_ip,
            dir,
            tls: options.tls,
            metrics,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn s2cs(&self) -> String {
        self.addr.to_string()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// The binary, pointed at this server's config dir (so it trusts the generated certificate).
    pub fn cli(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd.arg("--config").arg(self.config());
        cmd
    }

    /// `scistream req <action> --s2cs <this> [--no-tls] <rest...>`.
    pub fn req(&self, action: &str, rest: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.cli();
        cmd.args(["req", action, "--s2cs", &self.s2cs()]);
        if !self.tls {
            cmd.arg("--no-tls");
        }
        cmd.args(rest);
        cmd.timeout(Duration::from_secs(60));
        cmd
    }

    /// The stdout of a `req <action> <args>` that must succeed.
    pub fn stdout_of(&self, action: &str, args: &[&str]) -> Vec<u8> {
        self.req(action, args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    }

    /// The stdout of a successful `req prod` with `num_conn` listeners relayed to the producer
    /// ports `ports` ("P1,P2") on 127.0.0.1, plus `extra` flags.
    pub fn prod(&self, num_conn: &str, ports: &str, extra: &[&str]) -> Vec<u8> {
        self.stdout_of("prod", &[&prod_flags(num_conn, ports)[..], extra].concat())
    }

    /// A gRPC client for calls the CLI does not make (bad input, races).
    pub async fn grpc(
        &self,
    ) -> scistream::pb::control_client::ControlClient<tonic::transport::Channel> {
        assert!(!self.tls, "grpc() fixture speaks plaintext");
        scistream::pb::control_client::ControlClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let result = thread.join().expect("server thread panicked");
            if !std::thread::panicking() {
                result.expect("server failed");
            }
        }
    }
}

/// A plaintext gRPC client of the control server at `addr` (`ip:port`) whose connections come
/// from the address `source` (None: any), so a test can call as several clients.
pub async fn grpc_from(
    addr: &str,
    source: Option<IpAddr>,
) -> scistream::pb::control_client::ControlClient<tonic::transport::Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    let channel = endpoint.local_address(source).connect().await.unwrap();
    scistream::pb::control_client::ControlClient::new(channel)
}

/// Whether `addr` is bound right now (by the server under test).
pub fn is_bound(addr: &str) -> bool {
    matches!(TcpListener::bind(addr), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

/// Runs `serve`, a gRPC server standing in for a control server (a fake, or a proxy in front of
/// a real one) on the incoming connections it is given, on a thread and runtime of its own;
/// returns the address it listens on: 127.0.0.1, any free port.
pub fn stand_in<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListenerStream) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), tonic::transport::Error>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            serve(TcpListenerStream::new(listener)).await
        })
    });
    addr
}
