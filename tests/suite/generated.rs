//! Files generated from the CLI definition and committed: shell completions (completions/), man
//! pages (man/) and the `--help` of every command (tests/help/), so that a changed flag is a
//! reviewed diff. When the CLI changes, regenerate them with:
//!     SCISTREAM_BLESS=1 cargo test --test suite generated::

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use clap::{CommandFactory, ValueEnum};
use clap_complete::{Generator, Shell};
use scistream::cmd::Cli;

use crate::common::programs::link;

const REGENERATE: &str = "SCISTREAM_BLESS=1 cargo test --test suite generated::";

type Files = BTreeMap<String, Vec<u8>>;

fn read_dir(dir: &Path) -> Files {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Files::new();
    };
    entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Fails unless the committed directory holds exactly `generated`; with SCISTREAM_BLESS=1,
/// rewrites it instead.
fn check_committed(dir: &str, generated: Files) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    if std::env::var("SCISTREAM_BLESS").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in &generated {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        return;
    }
    let committed = read_dir(&dir);
    let names = committed.keys().chain(generated.keys());
    let mut stale: Vec<&String> = names
        .filter(|name| committed.get(*name) != generated.get(*name))
        .collect();
    stale.dedup();
    assert!(
        stale.is_empty(),
        "{} is out of date with the CLI definition ({stale:?} differ or are missing); \
         regenerate with: {REGENERATE}",
        dir.display()
    );
}

#[test]
fn committed_completions_match_what_the_binary_prints() {
    let mut generated = Files::new();
    for shell in Shell::value_variants() {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_scistream"))
            .args(["completions", &shell.to_string()])
            .output()
            .unwrap();
        assert!(output.status.success(), "completions {shell} failed");
        assert!(
            !output.stdout.is_empty(),
            "completions {shell} printed nothing"
        );
        generated.insert(shell.file_name("scistream"), output.stdout);
    }
    check_committed("completions", generated);
}

#[test]
fn committed_man_pages_match_the_cli_definition() {
    let dir = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(Cli::command(), dir.path()).unwrap();
    let generated = read_dir(dir.path());
    assert!(
        generated.contains_key("scistream-req-list.1"),
        "{:?}",
        generated.keys()
    );
    check_committed("man", generated);
}

#[test]
fn committed_help_matches_what_the_binary_prints() {
    let links = tempfile::tempdir().unwrap();
    let mut generated = Files::new();
    // Every program the binary can be, by the name it is called as.
    for program in std::iter::once("scistream").chain(scistream::program::UPSTREAM) {
        let path = link(links.path(), program);
        collect_help(&path, &mut vec![program.to_owned()], &mut generated);
    }
    assert!(
        generated.contains_key("scistream-req-prod.txt")
            && generated.contains_key("s2uc-login.txt"),
        "{:?}",
        generated.keys()
    );
    check_committed("tests/help", generated);
}

/// Adds the `--help` of the command `words` names (program first) and of its subcommands.
fn collect_help(program: &Path, words: &mut Vec<String>, into: &mut Files) {
    let mut command = Command::new(program);
    command.args(&words[1..]).arg("--help");
    // A set SCISTREAM_* variable would show in the help as `[env: NAME=value]`.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SCISTREAM_") {
            command.env_remove(name);
        }
    }
    let output = command.output().unwrap();
    let line = words.join(" ");
    assert!(output.status.success(), "`{line} --help` failed");
    let help = String::from_utf8(output.stdout).unwrap();
    for subcommand in subcommands(&help) {
        words.push(subcommand);
        collect_help(program, words, into);
        words.pop();
    }
    into.insert(format!("{}.txt", words.join("-")), help.into_bytes());
}

/// The names a help text lists under "Commands:", except `help` itself.
fn subcommands(help: &str) -> Vec<String> {
    let section = help.lines().skip_while(|line| *line != "Commands:").skip(1);
    section
        .take_while(|line| line.starts_with("  "))
        // A name starts at the indent; a wrapped description further right.
        .filter_map(|line| {
            line.strip_prefix("  ")
                .filter(|rest| !rest.starts_with(' '))
        })
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}
