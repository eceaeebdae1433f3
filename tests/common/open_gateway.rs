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
    _auth: OAuthServer,
}

impl OpenGateway {
    pub fn start(flags: &[&str]) -> OpenGateway {
        let auth = OAuthServer::start();
        let ip = private_loopback().to_string();
        let setup = ServerSetup {
            ip: &ip,
            credentials: None,
            extra_args: flags,
        };
        OpenGateway {
            server: ServerProcess::start(&auth, setup),
            user: tempfile::tempdir().unwrap(),
            _auth: auth,
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
