//! A user of the `scistream` binary: their own config file, pointed at a test auth server.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use super::oauth::OAuthServer;

pub struct User {
    auth_url: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

/// A `scistream login` waiting for its code, with the URL it asked the user to open.
pub struct LoginInProgress {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// What it printed up to and including the URL line.
    pub printed: String,
    pub url: String,
}

impl User {
    pub fn new(auth: &OAuthServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            auth_url: auth.base_url(),
            config: dir.path().join("scistream").join("config.yaml"),
            _dir: dir,
        }
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap_or_default()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config.parent().unwrap()).unwrap();
        std::fs::write(&self.config, text).unwrap();
    }

    /// `scistream ARGS` with their config file and the auth server set through the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("scistream"));
        cmd.args(args)
            .env("SCISTREAM_AUTH_URL", &self.auth_url)
            .env("SCISTREAM_CONFIG", &self.config)
            .env_remove("SCISTREAM_CLIENT_SECRET");
        cmd
    }

    /// [`User::command`] with assert_cmd's assertions.
    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command(args))
    }

    /// Starts `scistream login ARGS` and reads its output up to the URL line.
    /// Panics if it exits first; use [`User::cmd`] for logins that should not prompt.
    pub fn start_login(&self, args: &[&str]) -> LoginInProgress {
        let mut child = self
            .command(&[&["login"], args].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        match read_to_url(&mut stdout, &self.auth_url) {
            Ok((printed, url)) => LoginInProgress {
                child,
                stdout,
                printed,
                url,
            },
            Err(printed) => {
                let output = child.wait_with_output().unwrap();
                panic!(
                    "login exited before printing a URL:\n{printed}{}",
                    stderr(&output)
                );
            }
        }
    }

    /// A whole interactive login: open the URL in the "browser", paste the code back.
    pub fn login(&self, auth: &OAuthServer, args: &[&str]) -> Output {
        let login = self.start_login(args);
        let code = auth.open_in_browser(&login.url);
        login.finish(&code)
    }
}

/// Everything printed up to and including the line with the URL, and the URL; or, when the
/// output ends first, everything printed.
fn read_to_url(stdout: &mut impl BufRead, base_url: &str) -> Result<(String, String), String> {
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            return Err(printed);
        }
        printed.push_str(&line);
        if line.starts_with(base_url) {
            return Ok((printed, line.trim().to_owned()));
        }
    }
}

impl LoginInProgress {
    /// Types the code (and closes stdin), then waits for the exit.
    pub fn finish(mut self, code: &str) -> Output {
        self.type_code(code);
        self.wait()
    }

    /// Types the code and closes stdin; the login goes on without waiting for it.
    pub fn type_code(&mut self, code: &str) {
        let mut stdin = self.child.stdin.take().unwrap();
        writeln!(stdin, "{code}").unwrap();
    }

    /// Waits for the exit; `stdout` holds everything printed.
    pub fn wait(mut self) -> Output {
        self.stdout.read_to_string(&mut self.printed).unwrap();
        let mut output = self.child.wait_with_output().unwrap();
        output.stdout = self.printed.into_bytes();
        output
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
