//! The server's state directory, which holds the session store (and with it, the hop keys of its
//! PROD sessions): private to the server's user.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The store's file name inside the state directory.
pub(crate) const STORE_FILE: &str = "sessions.redb";

/// Creates `dir` (0700) if need be, refuses a directory others may write or a store file others
/// may read, and returns the store file's path.
pub(super) fn prepare(dir: &Path) -> Result<PathBuf, StoreError> {
    let shown = dir.display();
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::io(&shown.to_string(), &e))?;
    if mode(dir)? & 0o022 != 0 {
        return Err(StoreError::Exposed(format!(
            "the state directory {shown} can be written by other users, who could replace the \
             session store: run `chmod 700 {shown}`"
        )));
    }
    let file = dir.join(STORE_FILE);
    if file.exists() && mode(&file)? & 0o077 != 0 {
        let file = file.display();
        return Err(StoreError::Exposed(format!(
            "the session store {file} can be read by other users, and it holds the hop keys of \
             PROD sessions: run `chmod 600 {file}` (and consider their sessions' keys exposed: \
             release them and open them again)"
        )));
    }
    Ok(file)
}

fn mode(path: &Path) -> Result<u32, StoreError> {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(|e| StoreError::io(&path.display().to_string(), &e))
}
