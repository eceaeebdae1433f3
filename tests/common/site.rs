//! A gateway started again and again as the same gateway (restarts, live upgrades): its
//! address, port range and state directory last across its processes; and the JSON that
//! `req ... --json` prints about its sessions.

use std::path::PathBuf;

use super::net::TEST_LIMIT;
use super::oauth::OAuthServer;
use super::req::prod_flags;
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
        ServerProcess::start(auth, self.setup(&args))
    }

    /// An open gateway on this site's address with `args` (as [`Site::args`] gives them).
    pub fn setup<'a>(&'a self, args: &'a [&'a str]) -> ServerSetup<'a> {
        ServerSetup {
            ip: &self.ip,
            credentials: None,
            extra_args: args,
        }
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

/// `req stream` of `num_conn` connections through the PROD gateway at `prod` and the CONS one
/// at `cons` to a producer on 127.0.0.1 at port `receiver`, over the encrypted hop (checked):
/// its uid and CONS listeners.
pub fn open_stream(
    user: &User,
    (prod, cons): (&str, &str),
    num_conn: &str,
    receiver: u16,
) -> (String, Vec<String>) {
    let port = receiver.to_string();
    let gateways = ["--prod-s2cs", prod, "--cons-s2cs", cons];
    let flags = prod_flags(num_conn, &port);
    let args = [
        &["req", "stream", "--no-tls", "--json"][..],
        &gateways,
        &flags,
    ]
    .concat();
    let opened = json(&user.cmd(&args).timeout(TEST_LIMIT).assert().success());
    assert_eq!(opened["hop"], "encrypted", "{opened}");
    let uid = opened["uid"].as_str().unwrap().to_string();
    (uid, strings(&opened["listeners"]))
}

/// `req status UID --json` from the server at `server`.
pub fn status(user: &User, server: &str, uid: &str) -> serde_json::Value {
    let args = ["req", "status", "--no-tls", "--s2cs", server, uid, "--json"];
    json(&user.cmd(&args).timeout(TEST_LIMIT).assert().success())
}
