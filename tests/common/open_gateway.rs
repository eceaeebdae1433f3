//! A gateway started as an operator would (`scistream server`, authentication off, on a
//! loopback address of its own), with the flags under test, and a user's config beside it for
//! the CLI.

use super::net::TEST_LIMIT;
use super::oauth::OAuthServer;
use super::server::private_loopback;
use super::server_process::{ServerProcess, ServerSetup};

pub struct OpenGateway {
    pub server: ServerProcess,
    pub user: tempfile::TempDir,
    auth: OAuthServer,
    ip: String,
    flags: Vec<String>,
}

impl OpenGateway {
    pub fn start(flags: &[&str]) -> OpenGateway {
        let auth = OAuthServer::start();
        let ip = private_loopback().to_string();
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        OpenGateway {
            server: launch(&auth, &ip, &flags),
            user: tempfile::tempdir().unwrap(),
            auth,
            ip,
            flags,
        }
    }

    /// Kills the server (`kill -9`) and starts it again on the same address with the same
    /// flags: with a `--state-dir` among them, it takes its sessions back.
    pub fn restart(self) -> OpenGateway {
        let OpenGateway {
            server,
            user,
            auth,
            ip,
            flags,
        } = self;
        drop(server);
        OpenGateway {
            server: launch(&auth, &ip, &flags),
            user,
            auth,
            ip,
            flags,
        }
    }

    /// `scistream req <action> --s2cs <this> --no-tls <args...>`.
    pub fn req(&self, action: &str, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("scistream").unwrap();
        cmd.env_clear()
            .arg("--config")
            .arg(self.user.path().join("config.yaml"))
            .args(["req", action, "--s2cs", &self.server.addr, "--no-tls"])
            .args(args)
            .timeout(TEST_LIMIT);
        cmd
    }
}

fn launch(auth: &OAuthServer, ip: &str, flags: &[String]) -> ServerProcess {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let setup = ServerSetup {
        ip,
        credentials: None,
        extra_args: &flags,
    };
    ServerProcess::start(auth, setup)
}
