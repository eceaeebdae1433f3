//! The modules of the library form layers: each imports only modules below it, so the arrows
//! of the dependency graph run one way (config below auth below server and cmd, for one).
//! Inside a module, its files (and sub-directories) import each other without circles too.

mod circles;

use std::path::{Path, PathBuf};

use circles::circles;

/// Bottom first. A module may use `crate::X` only for an X listed before it.
const LAYERS: &[&str] = &[
    "pb", "exit", "quote", "limits", "address", "logging", "paths", "secret", "scope", "tls",
    "etcd", "program", "relay", "session", "config", "auth", "policy", "client", "app", "store",
    "handover", "cluster", "server", "cmd", "upstream",
];

/// Import circles between the files of one module that are known, and tolerated until their fix
/// lands: each is the files of one circle, sorted. None today; a listed circle that no longer
/// exists fails the test too, so that the list cannot rot.
const KNOWN_CIRCLES: &[&[&str]] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = src();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let layer = LAYERS
            .iter()
            .position(|l| *l == name)
            .unwrap_or_else(|| panic!("src/{name} is in no layer: add it to LAYERS"));
        for (file, used) in imports(&path) {
            let below = LAYERS[..layer].contains(&used.as_str());
            if used != name && !below {
                wrong.push(format!("{} imports crate::{used}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers {LAYERS:?}:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_files_of_a_module_import_each_other_without_circles() {
    let found = circles(&src());
    let known: Vec<Vec<String>> = KNOWN_CIRCLES
        .iter()
        .map(|circle| circle.iter().map(|file| file.to_string()).collect())
        .collect();
    let new: Vec<&Vec<String>> = found.iter().filter(|c| !known.contains(c)).collect();
    assert!(
        new.is_empty(),
        "these files import each other, round in a circle: {new:?}. Move what they share into \
         one of them, or into a file both import"
    );
    let gone: Vec<&Vec<String>> = known.iter().filter(|c| !found.contains(c)).collect();
    assert!(
        gone.is_empty(),
        "these circles are gone: delete them from KNOWN_CIRCLES in {}: {gone:?}",
        file!()
    );
}

/// The top-level modules each file of `path` (a file or a module directory) names as
/// `crate::X` or inside `crate::{X, ...}`.
fn imports(path: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    for file in rust_files(path) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or("").to_owned())
                    .collect(),
                None => vec![rest
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap()
                    .to_owned()],
            };
            found.extend(
                names
                    .into_iter()
                    .filter(|n| !n.is_empty() && n != "self")
                    .map(|n| (file.clone(), n)),
            );
        }
    }
    found
}

fn rust_files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let entries = std::fs::read_dir(path).unwrap();
    entries
        .flat_map(|entry| rust_files(&entry.unwrap().path()))
        .collect()
}
