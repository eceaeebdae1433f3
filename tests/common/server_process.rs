//! A control server as a child process, started the way an operator starts one: `scistream
//! server` on a loopback address of its own ([`ServerProcess::start`]), or any command line of
//! any program name (the binary, or a symlink such as `s2cs`) in a working directory of its own
//! ([`ServerProcess::run`]). Killed on drop.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::fds::pipe_and_tcp_fds;
use super::oauth::OAuthServer;

/// `--config CONFIG server --no-tls --port 0 --bind IP --listener-ip IP`: the words after the
/// program name that start a plaintext server on `ip`, its control port picked by the kernel.
pub fn server_words(config: &Path, ip: &str) -> Vec<String> {
    let config = config.to_str().expect("a UTF-8 path");
    ["--config", config, "server", "--no-tls", "--port", "0"]
        .into_iter()
        .chain(["--bind", ip, "--listener-ip", ip])
        .map(String::from)
        .collect()
}

pub struct ServerProcess {
    child: Child,
    // Kept open: a server printing to a closed pipe would fail.
    _stdout: BufReader<ChildStdout>,
    /// `ip:port` of the control service.
    pub addr: String,
    /// `ip:port` of `/metrics`, when started with `--metrics`.
    pub metrics: Option<String>,
    /// What it printed on stdout before "Server started on ADDR".
    pub printed: Vec<String>,
    /// Its stderr, a file: nobody reads the log while the server runs, and a full pipe would
    /// stall it.
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// How [`ServerProcess::start`] starts one: on which loopback IP, and with which auth settings.
pub struct ServerSetup<'a> {
    pub ip: &'a str,
    /// `Some((client id, secret))` turns authentication on.
    pub credentials: Option<(&'a str, &'a str)>,
    pub extra_args: &'a [&'a str],
}

impl ServerProcess {
    /// `scistream server --no-tls` on `setup.ip`, any free port, with a config directory of its
    /// own and `auth` as its auth server.
    pub fn start(auth: &OAuthServer, setup: ServerSetup<'_>) -> Self {
        Self::launch(auth, setup, None)
    }

    /// With authentication on: `auth` accepts `client_id` and `secret`, and the server uses
    /// them; on 127.0.0.1.
    pub fn with_auth(
        auth: &OAuthServer,
        (client_id, secret): (&str, &str),
        extra_args: &[&str],
    ) -> Self {
        auth.accept_client(client_id, secret);
        let setup = ServerSetup {
            ip: "127.0.0.1",
            credentials: Some((client_id, secret)),
            extra_args,
        };
        Self::start(auth, setup)
    }

    /// Like [`start`](Self::start), with the process's open-file limit (soft and hard) set to
    /// `fds`.
    pub fn start_with_fd_limit(auth: &OAuthServer, setup: ServerSetup<'_>, fds: u32) -> Self {
        Self::launch(auth, setup, Some(fds))
    }

    /// Runs `program args...` in `dir` (its config file `dir/config.yaml`, `envs` set).
    pub fn run(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(dir)
            .env("SCISTREAM_CONFIG", dir.join("config.yaml"))
            .env_remove("SCISTREAM_CLIENT_SECRET")
            .envs(envs.iter().copied());
        Self::spawn(cmd, dir.join("server.log"), None)
    }

    fn launch(auth: &OAuthServer, setup: ServerSetup<'_>, fd_limit: Option<u32>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let binary = assert_cmd::cargo::cargo_bin("scistream");
        let mut cmd = match fd_limit {
            // prlimit execs the server, so the child's pid stays the server's.
            Some(fds) => {
                let mut prlimit = Command::new("prlimit");
                prlimit.arg(format!("--nofile={fds}")).arg(binary);
                prlimit
            }
            None => Command::new(binary),
        };
        cmd.args(server_words(&dir.path().join("config.yaml"), setup.ip))
            .args(setup.extra_args)
            .env("SCISTREAM_AUTH_URL", auth.base_url())
            .env_remove("SCISTREAM_CLIENT_SECRET")
            .env_remove("SCISTREAM_CONFIG");
        if let Some((client_id, secret)) = setup.credentials {
            cmd.args(["--client-id", client_id])
                .env("SCISTREAM_CLIENT_SECRET", secret);
        }
        let log = dir.path().join("server.log");
        Self::spawn(cmd, log, Some(dir))
    }

    /// Spawns `cmd` and reads its stdout up to its "Server started on ADDR" line, noting the
    /// metrics address printed before it.
    fn spawn(mut cmd: Command, log: PathBuf, dir: Option<tempfile::TempDir>) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut printed = Vec::new();
        let started = stdout
            .by_ref()
            .lines()
            .map_while(Result::ok)
            .find_map(|line| match line.strip_prefix("Server started on ") {
                Some(addr) => Some(addr.to_owned()),
                None => {
                    printed.push(line);
                    None
                }
            });
        let metrics = printed.iter().find_map(|line| {
            let url = line.strip_prefix("Metrics on http://")?;
            url.strip_suffix("/metrics").map(str::to_owned)
        });
        let server = Self {
            child,
            _stdout: stdout,
            addr: started.unwrap_or_default(),
            metrics,
            printed,
            log,
            _dir: dir,
        };
        assert!(
            !server.addr.is_empty(),
            "server did not start; printed {:?}, logged:\n{}",
            server.printed,
            server.log()
        );
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many fds the server process holds now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// The CPU time (user and system) the server process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // The fields after the command name, which is in parentheses and may hold spaces:
        // utime and stime are the 14th and 15th of the line, in clock ticks.
        let (_, fields) = stat.rsplit_once(')').unwrap();
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// How many fds the server holds for connections from `listener` to the port `target`:
    /// the sockets accepted on the listener (not the listener itself), those to the target,
    /// and every pipe (its stdout's among them, which never changes). Control and metrics
    /// connections are left out: they close a moment after each call, at no fixed time.
    pub fn relay_fds(&self, listener: SocketAddr, target: SocketAddr) -> usize {
        pipe_and_tcp_fds(&format!("/proc/{}/fd", self.child.id()), |ports| {
            (ports.local == listener.port() && ports.remote != 0) || ports.remote == target.port()
        })
    }

    /// Stops it with SIGTERM, as systemd does, and waits until it has exited; its log.
    pub fn terminate(mut self) -> String {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "could not signal the server");
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the server exited with {status}:\n{}",
            self.log()
        );
        self.log()
    }

    /// Whether it is still running (it should survive refused calls).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal(libc::SIGINT);
        self.child.wait().unwrap()
    }

    /// Sends `signal` (e.g. `libc::SIGHUP`, systemd's reload).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) with a pid we own has no memory-safety requirements.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
