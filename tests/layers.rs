//! The modules of the library form layers: each imports only modules below it, so the arrows
//! of the dependency graph run one way (config below auth below server and cmd, for one).

use std::path::Path;

/// Bottom first. A module may use `crate::X` only for an X listed before it.
const LAYERS: &[&str] = &[
    "pb", "exit", "limits", "logging", "paths", "secret", "scope", "tls", "program", "endpoint",
    "relay", "session", "config", "auth", "policy", "client", "app", "store", "handover", "server",
    "cmd", "upstream",
];

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
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
