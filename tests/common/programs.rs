//! The binary under other program names, as sites install it (`s2cs`, `s2uc`, `appctrl`).

use std::path::{Path, PathBuf};

/// `dir/name`, a symlink to the binary: how sites install the upstream program names.
pub fn link(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scistream"), &path).unwrap();
    path
}
