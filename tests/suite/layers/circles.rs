//! The import circles between the files of each module of a source tree, found from the text
//! of its files: what they name from `crate::`, `super::` and `self::`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::rust_files;

/// A module's path from the crate root: `["relay", "hop"]` for src/relay/hop/mod.rs.
type ModPath = Vec<String>;

/// The import circles between the files of each module under `src`: for every directory, the
/// graph whose nodes are its files and sub-directories, with an arrow where one names another
/// (`super::x`, `crate::a::x`, or an item of `x` that the directory's mod.rs re-exports), and in
/// it every set of two or more nodes that reach each other. Each circle is its nodes' paths
/// (from src's parent, a directory with a trailing `/`), sorted.
pub(super) fn circles(src: &Path) -> Vec<Vec<String>> {
    let mut arrows: BTreeMap<(ModPath, String), BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let module = module_of(src, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        for named in named_paths(&module, &text) {
            if let Some((dir, from, to)) = arrow(src, &module, &named) {
                arrows.entry((dir, from)).or_default().insert(to);
            }
        }
    }
    let mut found = BTreeSet::new();
    for (dir, from) in arrows.keys() {
        let circle: Vec<String> = reach(&arrows, dir, from)
            .into_iter()
            .filter(|to| reach(&arrows, dir, to).contains(from))
            .chain([from.clone()])
            .map(|node| node_path(src, dir, &node))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if circle.len() > 1 {
            found.insert(circle);
        }
    }
    found.into_iter().collect()
}

/// The module a file of `src` holds.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut module: ModPath = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        module.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        module.pop();
    }
    module
}

/// Every path that `text` (the file of `module`) names from `crate::`, `super::` or `self::`,
/// made absolute. Code after `mod tests {` is in the file's inline test module, one level down.
fn named_paths(module: &ModPath, text: &str) -> Vec<ModPath> {
    let (code, tests) = text.split_once("\nmod tests {").unwrap_or((text, ""));
    let test_module = [&module[..], &["tests".to_owned()]].concat();
    let mut found = Vec::new();
    for (part, base) in [(code, module), (tests, &test_module)] {
        for at in path_starts(part) {
            let relative = use_tree(&mut tokens(&part[at..]).peekable(), Vec::new());
            found.extend(relative.into_iter().filter_map(|p| absolute(base, p)));
        }
    }
    found
}

/// Where `crate::`, `super::` and `self::` start a path in `text`.
fn path_starts(text: &str) -> Vec<usize> {
    let mut starts: Vec<usize> = ["crate::", "super::", "self::"]
        .iter()
        .flat_map(|word| text.match_indices(word).map(|(at, _)| at))
        .filter(|&at| {
            let before = text[..at].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .collect();
    starts.sort();
    starts
}

/// The words and punctuation of a path or `use` tree, up to the first thing that is neither.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = rest.trim_start();
        let word = rest
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let len = match rest.chars().next()? {
            _ if word > 0 => word,
            ':' if rest.starts_with("::") => 2,
            '{' | '}' | ',' | '*' => 1,
            _ => return None,
        };
        let (token, after) = rest.split_at(len);
        rest = after;
        Some(token.to_owned())
    })
}

/// The paths a `use` tree (or a plain path) names, each after `prefix`: `a::{b, c::d}` names
/// `a::b` and `a::c::d`; `a::{self}` and `a::*` name `a`.
fn use_tree(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = String>>,
    prefix: ModPath,
) -> Vec<ModPath> {
    let mut path = prefix;
    loop {
        match tokens.next().as_deref() {
            Some("{") => {
                let mut found = Vec::new();
                while tokens.peek().is_some_and(|t| t != "}") {
                    found.extend(use_tree(tokens, path.clone()));
                    if tokens.peek().is_some_and(|t| t == ",") {
                        tokens.next();
                    }
                }
                tokens.next();
                return found;
            }
            Some("self") if !path.is_empty() => {}
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                path.push(word.to_owned())
            }
            _ => return vec![path],
        }
        if tokens.peek().is_none_or(|t| t != "::") {
            // `as ALIAS` names nothing more.
            if tokens.peek().is_some_and(|t| t == "as") {
                tokens.next();
                tokens.next();
            }
            return vec![path];
        }
        tokens.next();
    }
}

/// `path` (starting with `crate`, `super` or `self`) as seen from `module`, from the root.
fn absolute(module: &ModPath, path: ModPath) -> Option<ModPath> {
    let mut words = path.into_iter().peekable();
    let mut base = match words.next()?.as_str() {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => {
            let mut base = module.clone();
            base.pop()?;
            while words.next_if(|w| w == "super").is_some() {
                base.pop()?;
            }
            base
        }
        _ => return None,
    };
    base.extend(words);
    Some(base)
}

/// The arrow that `module` naming `named` draws inside their closest common directory, if both
/// are below it and in different nodes of it: (directory, from, to).
fn arrow(src: &Path, module: &ModPath, named: &ModPath) -> Option<(ModPath, String, String)> {
    let common = module.iter().zip(named).take_while(|(a, b)| a == b).count();
    let (from, to) = (module.get(common)?, named.get(common)?);
    let dir = module[..common].to_vec();
    let nodes = nodes_of(src, &dir);
    if !nodes.contains(from) {
        return None;
    }
    let to = match nodes.contains(to) {
        true => to.clone(),
        false => re_exports(src, &dir, &nodes).remove(to)?,
    };
    (*from != to).then_some((dir, from.clone(), to))
}

/// The files (`x.rs`) and sub-directories (`x/mod.rs`) of the directory of module `dir`.
fn nodes_of(src: &Path, dir: &ModPath) -> BTreeSet<String> {
    let path = dir
        .iter()
        .fold(src.to_owned(), |path, word| path.join(word));
    let Ok(entries) = std::fs::read_dir(path) else {
        return BTreeSet::new();
    };
    entries
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| match path.extension() {
            Some(ext) if ext == "rs" => Some(path.file_stem()?.to_string_lossy().into_owned()),
            None if path.join("mod.rs").is_file() => {
                Some(path.file_name()?.to_string_lossy().into_owned())
            }
            _ => None,
        })
        .filter(|name| !["mod", "lib", "main"].contains(&name.as_str()))
        .collect()
}

/// The items that the directory's mod.rs (lib.rs at the root) imports from its nodes, by the
/// name its other files use them by (`use x::Item;` makes `super::Item` a use of x).
fn re_exports(src: &Path, dir: &ModPath, nodes: &BTreeSet<String>) -> BTreeMap<String, String> {
    let path = dir
        .iter()
        .fold(src.to_owned(), |path, word| path.join(word));
    let root = if dir.is_empty() { "lib.rs" } else { "mod.rs" };
    let text = std::fs::read_to_string(path.join(root)).unwrap_or_default();
    let mut found = BTreeMap::new();
    for line in text.lines() {
        let Some((_, tree)) = line.split_once("use ") else {
            continue;
        };
        for named in use_tree(&mut tokens(tree).peekable(), Vec::new()) {
            if let (Some(node), Some(item)) = (named.first(), named.last()) {
                if named.len() > 1 && nodes.contains(node) {
                    found.insert(item.clone(), node.clone());
                }
            }
        }
    }
    found
}

/// The nodes of `dir` that `from` reaches by its arrows.
fn reach(
    arrows: &BTreeMap<(ModPath, String), BTreeSet<String>>,
    dir: &ModPath,
    from: &str,
) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut next = vec![from.to_owned()];
    while let Some(node) = next.pop() {
        for to in arrows.get(&(dir.clone(), node)).into_iter().flatten() {
            if reached.insert(to.clone()) {
                next.push(to.clone());
            }
        }
    }
    reached
}

/// `src/a/b.rs` for a file node, `src/a/b/` for a directory.
fn node_path(src: &Path, dir: &ModPath, node: &str) -> String {
    let relative: PathBuf = dir.iter().map(String::as_str).chain([node]).collect();
    match src.join(&relative).is_dir() {
        true => format!("src/{}/", relative.display()),
        false => format!("src/{}.rs", relative.display()),
    }
}

/// A tree of source files for the circle check: (path under src, text).
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn the_circle_check_finds_sibling_files_that_import_each_other() {
    let src = tree(&[
        ("lib.rs", "mod cmd;"),
        ("cmd/mod.rs", "mod a;\nmod b;\nmod c;\npub struct Global;"),
        ("cmd/a.rs", "use super::b::{self, B};\nuse super::Global;"),
        ("cmd/b.rs", "use super::{c::C, Global};"),
        ("cmd/c.rs", "fn f() { super::a::run() }"),
    ]);
    let expected = ["src/cmd/a.rs", "src/cmd/b.rs", "src/cmd/c.rs"];
    assert_eq!(circles(src.path()), [expected.map(String::from).to_vec()]);
}

#[test]
fn the_circle_check_follows_re_exports_full_paths_and_sub_directories() {
    let src = tree(&[
        ("lib.rs", "mod relay;"),
        (
            "relay/mod.rs",
            "mod copy;\nmod hop;\npub(crate) use hop::{Hop, HopPin};",
        ),
        ("relay/copy.rs", "use super::HopPin;"),
        ("relay/hop/mod.rs", "mod stream;"),
        ("relay/hop/stream.rs", "use crate::relay::copy;"),
    ]);
    let expected = ["src/relay/copy.rs", "src/relay/hop/"];
    assert_eq!(circles(src.path()), [expected.map(String::from).to_vec()]);
}

#[test]
fn the_circle_check_passes_a_parent_and_its_files_and_their_test_modules() {
    let src = tree(&[
        ("lib.rs", "mod server;\nmod relay;"),
        ("relay/mod.rs", "mod pipe;\nuse pipe::Pipe;"),
        (
            "relay/pipe.rs",
            "use super::Limits;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}",
        ),
        (
            "server/mod.rs",
            "mod ports;\nmod sessions;\nuse crate::relay::Pipe;",
        ),
        ("server/ports.rs", "use crate::relay;\n"),
        (
            "server/sessions.rs",
            "use super::ports::Pool;\nmod tests {\n    use super::super::ports;\n}",
        ),
    ]);
    assert_eq!(circles(src.path()), Vec::<Vec<String>>::new());
}
