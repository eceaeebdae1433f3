//! A gateway's control server as a child process started the way an operator would: any
//! program name (the binary, or a symlink such as `s2cs`), in a working directory of its own,
//! with openssl-made certificates. Stopped on drop.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

pub struct Gateway {
    child: Child,
    // Kept open: a server printing to a closed pipe would fail.
    _stdout: BufReader<ChildStdout>,
    /// `ip:port` of the control service.
    pub addr: String,
    /// The server's stderr so far.
    log: PathBuf,
}

impl Gateway {
    /// Runs `program args...` in `dir` (with `envs` set) and waits for its "Server started on
    /// ADDR" line.
    pub fn start(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) -> Gateway {
        let log = dir.join("server.log");
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("SCISTREAM_CONFIG", dir.join("config.yaml"))
            .env_remove("SCISTREAM_CLIENT_SECRET")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = stdout
            .by_ref()
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("Server started on ").map(str::to_owned));
        let gateway = Gateway {
            child,
            _stdout: stdout,
            addr: addr.unwrap_or_default(),
            log,
        };
        assert!(
            !gateway.addr.is_empty(),
            "server did not start:\n{}",
            gateway.log()
        );
        gateway
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dir/name`, a symlink to the binary: how sites install the upstream program names.
pub fn link(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scistream"), &path).unwrap();
    path
}

/// upstream's quick recipe: a self-signed certificate that OpenSSL 3 marks CA:TRUE, written as
/// `dir/NAME.crt` and `dir/NAME.key`.
pub fn openssl_self_signed(dir: &Path, name: &str, cn: &str, san: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "365",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName={san}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// A CA (`dir/ca.crt`) and a server certificate it signed (`dir/NAME.crt`, `dir/NAME.key`).
pub fn openssl_ca_signed(dir: &Path, name: &str, san: &str) {
    openssl_self_signed(dir, "ca", "test CA", "DNS:ca.invalid");
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=server",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(dir.join("san.ext"), format!("subjectAltName={san}\n")).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "san.ext",
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
