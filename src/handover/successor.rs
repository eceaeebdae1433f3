//! Starting the next server process on a reload (`systemctl reload`, SIGHUP): the binary now
//! on disk at the path this one was started from, with the same command line.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Where the next process finds the handover socket: the environment, not the command line,
/// so that a server started under an upstream name (`s2cs`) gets its own command line back.
pub(crate) const TAKE_OVER_ENV: &str = "SCISTREAM_TAKE_OVER";

/// How to start the next process.
#[derive(Clone, Debug)]
pub struct Successor {
    program: PathBuf,
    /// The whole command line, its program name first.
    args: Vec<OsString>,
}

impl Successor {
    /// This process's binary and command line, as they were at its start: after a package
    /// upgrade, /proc/self/exe names the deleted file, but the path names the new binary.
    /// Must be called at start. None if the binary cannot be named.
    pub fn of_this_process() -> Option<Successor> {
        let program = std::env::current_exe().ok()?;
        let args = without_take_over(std::env::args_os().collect());
        Some(Successor { program, args })
    }

    /// Starts the next process, told to take over through `socket`; it logs to our stdout
    /// and stderr (the journal, under systemd).
    pub(crate) fn spawn(&self, socket: &Path) -> io::Result<tokio::process::Child> {
        let mut command = std::process::Command::new(&self.program);
        if let Some((name, args)) = self.args.split_first() {
            command.arg0(name).args(args);
        }
        command.env(TAKE_OVER_ENV, socket).stdin(Stdio::null());
        tokio::process::Command::from(command).spawn()
    }
}

/// `args` without a `--take-over SOCKET` of their own: the next process's socket comes from
/// [`TAKE_OVER_ENV`].
fn without_take_over(args: Vec<OsString>) -> Vec<OsString> {
    let mut kept = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--take-over" {
            args.next();
        } else if !arg.to_string_lossy().starts_with("--take-over=") {
            kept.push(arg);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_process_gets_the_command_line_without_its_take_over() {
        let line = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let args = line(&["scistream", "server", "--take-over", "/s", "--port", "0"]);
        assert_eq!(
            without_take_over(args),
            line(&["scistream", "server", "--port", "0"])
        );
        let args = line(&["s2cs", "--take-over=/s", "--port=5000"]);
        assert_eq!(without_take_over(args), line(&["s2cs", "--port=5000"]));
    }
}
