//! `scripts/demo.sh`, README's first command: it streams through two gateways with matching
//! checksums, and leaves no process and no scratch directory behind, whether it succeeds, fails
//! or is interrupted.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::common::server::private_loopback;

const MARK: &str = "SCISTREAM_DEMO_RUN";

/// One run of the demo: its own loopback addresses, TMPDIR, and an environment mark that
/// every process it starts inherits.
struct Demo {
    tmp: tempfile::TempDir,
    /// The script's stdout and stderr: files, so that a process it leaves behind holding them
    /// cannot stall the test.
    logs: tempfile::TempDir,
    mark: String,
}

impl Demo {
    fn new() -> Demo {
        Demo {
            tmp: tempfile::tempdir().unwrap(),
            logs: tempfile::tempdir().unwrap(),
            mark: format!("{}-{}", std::process::id(), private_loopback()),
        }
    }

    fn spawn(&self, bin: &Path, mib: &str) -> Child {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh");
        Command::new(script)
            .env("SCISTREAM_BIN", bin)
            .env("MIB", mib)
            .env("DEMO_PROD_IP", private_loopback().to_string())
            .env("DEMO_CONS_IP", private_loopback().to_string())
            .env("TMPDIR", self.tmp.path())
            .env(MARK, &self.mark)
            .env_remove("SCISTREAM_CONFIG")
            .stdout(File::create(self.log("stdout")).unwrap())
            .stderr(File::create(self.log("stderr")).unwrap())
            .spawn()
            .unwrap()
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.path().join(name)
    }

    fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.log(name)).unwrap()
    }

    /// Waits for the script to exit, bounded; returns its status, stdout and stderr.
    fn finish(&self, mut child: Child) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "the demo did not end within 120 s:\n{}",
                    self.output("stdout")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.output("stdout"), self.output("stderr"))
    }

    /// The processes still running with this run's mark in their environment: pid, command.
    fn survivors(&self) -> Vec<(i32, String)> {
        let needle = format!("{MARK}={}", self.mark);
        let entries = std::fs::read_dir("/proc").unwrap().filter_map(Result::ok);
        let pids = entries.filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok());
        pids.filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
        })
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect()
    }

    /// Checks that nothing the demo started runs any more and its scratch dir is gone.
    fn assert_clean(&self) {
        let survivors = self.survivors();
        for (pid, _) in &survivors {
            // SAFETY: kill(2) on a process this test's demo started; a failed test leaks nothing.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        assert!(survivors.is_empty(), "still running: {survivors:?}");
        let left: Vec<_> = std::fs::read_dir(self.tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "scratch left behind: {left:?}");
    }
}

fn line_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
        .trim()
}

#[test]
fn demo_streams_with_matching_checksums_and_stops_everything_it_started() {
    let demo = Demo::new();
    let (status, stdout, stderr) =
        demo.finish(demo.spawn(Path::new(env!("CARGO_BIN_EXE_scistream")), "2"));
    assert!(status.success(), "{stdout}\n{stderr}");
    // Nothing on stderr: no error-looking noise for a run that worked.
    assert_eq!(stderr, "", "{stdout}");
    let sent = line_after(&stdout, "sender checksum:");
    assert_eq!(sent.len(), 64, "{stdout}");
    assert_eq!(sent, line_after(&stdout, "receiver checksum:"));
    assert!(stdout.contains("sent 2097152 bytes"), "{stdout}");
    assert_eq!(stdout.matches("Release completed").count(), 2, "{stdout}");
    demo.assert_clean();
}

#[test]
fn a_failing_step_still_stops_everything() {
    let demo = Demo::new();
    // The real binary, except that `req cons` fails.
    let bin_dir = tempfile::tempdir().unwrap();
    let wrapper = bin_dir.path().join("scistream");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" req cons \"*) echo injected failure >&2; exit 7;; esac\n\
         exec {} \"$@\"\n",
        env!("CARGO_BIN_EXE_scistream")
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (status, stdout, stderr) = demo.finish(demo.spawn(&wrapper, "2"));
    assert_eq!(status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(stderr.contains("injected failure"), "{stderr}");
    demo.assert_clean();
}

#[test]
fn interrupting_the_demo_stops_everything() {
    let demo = Demo::new();
    // Far more than it can send before the interrupt.
    let mut child = demo.spawn(Path::new(env!("CARGO_BIN_EXE_scistream")), "1000000");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !demo.output("stdout").contains("$ scistream app recv") {
        assert!(child.try_wait().unwrap().is_none(), "the demo ended early");
        assert!(Instant::now() < deadline, "the demo never started sending");
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = demo.survivors();
    assert!(
        running.len() >= 3,
        "gateways and app send should run: {running:?}"
    );
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let (status, _, stderr) = demo.finish(child);
    assert_eq!(status.code(), Some(130), "{stderr}");
    demo.assert_clean();
}
