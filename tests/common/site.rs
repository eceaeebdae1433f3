//! A gateway started again and again as the same gateway (restarts, live upgrades): its
//! address, port range and state directory last across its processes; and the JSON that
//! `req ... --json` prints about its sessions.

use std::path::PathBuf;

use super::net::TEST_LIMIT;
use super::oauth::OAuthServer;
use super::server::private_loopback;
use super::server_process::{ServerProcess, ServerSetup};
use super::user::User;

/// One gateway's lasting settings.
pub struct Site {
    pub ip: String,
    pub ports: String,
    pub state: tempfile::TempDir,
}

impl Site {
    /// On a loopback address of its own, with ten data ports from `first_port`.
    pub fn new(first_port: u16) -> Site {
        Site {
            ip: private_loopback().to_string(),
            ports: format!("{first_port}-{}", first_port + 9),
            state: tempfile::tempdir().unwrap(),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state.path().join("state")
    }

    /// `scistream server` flags: its port range and state directory, then `more`.
    pub fn args(&self, more: &[&str]) -> Vec<String> {
        let state = self.state_dir().to_str().unwrap().to_string();
        let mut args = vec!["--port-range".to_string(), self.ports.clone()];
        args.extend(["--state-dir".to_string(), state]);
        args.extend(more.iter().map(|a| a.to_string()));
        args
    }

    pub fn start(&self, auth: &OAuthServer, more: &[&str]) -> ServerProcess {
        let args = self.args(more);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let setup = ServerSetup {
            ip: &self.ip,
            credentials: None,
            extra_args: &args,
        };
        ServerProcess::start(auth, setup)
    }
}

pub fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).expect("one JSON object")
}

pub fn strings(value: &serde_json::Value) -> Vec<String> {
    let list = value.as_array().expect("a list");
    list.iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// `req status UID --json` from the server at `server`.
pub fn status(user: &User, server: &str, uid: &str) -> serde_json::Value {
    let args = ["req", "status", "--no-tls", "--s2cs", server, uid, "--json"];
    json(&user.cmd(&args).timeout(TEST_LIMIT).assert().success())
}
