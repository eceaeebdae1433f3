//! The test suite's own shape: few test binaries (each links the whole crate again), and no
//! test file that no binary compiles (a module file nobody declares is silently skipped).

use std::path::{Path, PathBuf};

/// The test binaries, each with why it is one: every other test is a module of `suite`.
const BINARIES: &[(&str, &str)] = &[
    ("suite/main.rs", "the tests, one module per topic"),
    (
        "fd_counts.rs",
        "counts its own process's fds, which other tests open and close",
    ),
];

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

#[test]
fn every_test_binary_is_one_that_must_be() {
    let tests = tests_dir();
    let mut binaries = Vec::new();
    for entry in std::fs::read_dir(&tests).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Cargo's rule: tests/NAME.rs and tests/NAME/main.rs are test binaries.
        if path.extension().is_some_and(|ext| ext == "rs") {
            binaries.push(name);
        } else if path.join("main.rs").is_file() {
            binaries.push(format!("{name}/main.rs"));
        }
    }
    binaries.sort();
    let mut expected: Vec<String> = BINARIES.iter().map(|(b, _)| b.to_string()).collect();
    expected.sort();
    assert_eq!(
        binaries,
        expected,
        "tests/ holds other test binaries than BINARIES in {}: move a new test into \
         tests/suite/ as a module (README, Working on the code), or, if it needs a process to \
         itself, list it in BINARIES with why",
        file!()
    );
}

#[test]
fn every_test_file_is_a_declared_module() {
    let tests = tests_dir();
    let mut undeclared = undeclared_modules(&tests.join("suite"), &tests.join("suite/main.rs"));
    undeclared.extend(undeclared_modules(
        &tests.join("common"),
        &tests.join("common/mod.rs"),
    ));
    assert!(
        undeclared.is_empty(),
        "no `mod` declares these files, so no test in them runs: {undeclared:?}"
    );
}

/// The .rs files and module directories under `dir` (recursively) that `root`, the file of the
/// module `dir` holds (its main.rs or mod.rs, or the DIR.rs beside it), does not declare with
/// `mod NAME;`.
fn undeclared_modules(dir: &Path, root: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(root).unwrap_or_default();
    let declared = |name: &str| {
        text.lines()
            .map(|line| line.trim_start_matches("pub ").trim())
            .any(|line| line == format!("mod {name};"))
    };
    let mut undeclared = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let own = path.join("mod.rs");
            // A directory beside NAME.rs holds that file's modules, and NAME.rs is checked as a
            // file of its own.
            let (sub_root, declared_here) = match own.is_file() {
                true => (own, declared(&name)),
                false => (dir.join(format!("{name}.rs")), true),
            };
            if !declared_here {
                undeclared.push(path.clone());
            }
            undeclared.extend(undeclared_modules(&path, &sub_root));
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && path != root
            && !declared(&name)
        {
            undeclared.push(path);
        }
    }
    undeclared
}
