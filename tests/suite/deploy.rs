//! deploy/: the systemd unit starts the server with flags this CLI accepts, and hands it the
//! client secret as a credential, never on the command line.

use std::path::Path;

use clap::Parser;
use scistream::cmd::{Cli, Command};
use scistream::logging::LogFormat;

const CREDENTIALS: &str = "/run/credentials/scistream-server.service";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The unit's ExecStart= command, continuation lines joined.
fn exec_start(unit: &str) -> String {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    line.to_owned()
}

/// A `NAME="value"` assignment of the example environment file.
fn env_value(env: &str, name: &str) -> String {
    let prefix = format!("{name}=");
    let value = env
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in the environment file"));
    value.trim_matches('"').to_owned()
}

#[test]
fn the_unit_runs_a_server_command_this_cli_accepts() {
    let unit = read("deploy/scistream-server.service");
    let args = env_value(
        &read("deploy/scistream-server.env"),
        "SCISTREAM_SERVER_ARGS",
    );
    let command = exec_start(&unit)
        .replace("$SCISTREAM_SERVER_ARGS", &args)
        .replace("%d", CREDENTIALS);
    let argv: Vec<&str> = command.split_whitespace().collect();
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{command}\n{e}"));
    assert!(matches!(cli.command, Command::Server(_)), "{command}");
    assert_eq!(cli.global.log_format, LogFormat::Json);
}

#[test]
fn the_secret_is_a_loaded_credential_and_not_an_argument() {
    let unit = read("deploy/scistream-server.service");
    let command = exec_start(&unit);
    let argv: Vec<&str> = command.split_whitespace().collect();
    assert!(
        argv.windows(2)
            .any(|w| w == ["--client-secret-file", "%d/client-secret"]),
        "{command}"
    );
    assert!(
        !argv
            .iter()
            .any(|a| *a == "--client-secret" || a.starts_with("--client-secret=")),
        "{command}"
    );
    // Every credential the command reads is one systemd loads.
    for word in argv.iter().filter_map(|a| a.strip_prefix("%d/")) {
        let load = format!("LoadCredential={word}:");
        assert!(unit.lines().any(|l| l.starts_with(&load)), "no {load} line");
    }
}
