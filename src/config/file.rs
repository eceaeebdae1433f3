//! Reading and writing the config file: mode 0600 in a 0700 directory, atomic replacement,
//! and a lock so that concurrent read-modify-write cycles (two `login`s) lose nothing. A file
//! or directory that someone else could have changed is refused ([`super::trusted`]).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::trusted::{check_directories, read_trusted};
use super::Config;

/// How errors name the file.
const WHAT: &str = "config file";

/// Reads the file, if only this user (or root) could have written it; a missing file is an
/// empty config. Never writes.
pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    let Some(text) = read_trusted(path, WHAT)? else {
        return Ok(Config::default());
    };
    Config::from_str(&text).map_err(|err| {
        let place = if err.location().is_some() { " " } else { ": " };
        anyhow::anyhow!(
            "config file {} is not valid{place}{err}; fix that line or move the file away \
             (scistream left it unchanged)",
            path.display()
        )
    })
}

/// The config file held under its lock: read it, change it, [`LockedConfig::save`] it.
/// The lock is released when this is dropped.
pub(crate) struct LockedConfig {
    path: PathBuf,
    pub(crate) config: Config,
    // Held for its flock; the lock lives on a sidecar file because the config file itself is
    // replaced by rename, and a lock on the replaced inode would protect nothing.
    _lock: File,
}

impl LockedConfig {
    /// Waits for the lock (on a blocking thread, since flock blocks), then reads the file.
    pub(crate) async fn acquire(path: &Path) -> anyhow::Result<Self> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::acquire_blocking(path))
            .await
            .context("the config lock task failed")?
    }

    fn acquire_blocking(path: PathBuf) -> anyhow::Result<Self> {
        let path = real_path(path)?;
        // Tokens are about to be written there: not into a directory others could change.
        check_directories(WHAT, &path)?;
        let lock_path = sidecar(&path, ".lock");
        let lock = create_private_dir(&path)
            .and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .mode(0o600)
                    .open(&lock_path)
            })
            .and_then(|file| file.lock().map(|()| file))
            .with_context(|| format!("could not lock config file {}", lock_path.display()))?;
        let config = load(&path)?;
        Ok(Self {
            path,
            config,
            _lock: lock,
        })
    }

    /// Replaces the file atomically with the current contents.
    pub(crate) fn save(&self) -> anyhow::Result<()> {
        write_atomically(&self.path, self.config.to_yaml().as_bytes())
            .with_context(|| format!("could not write config file {}", self.path.display()))
    }
}

/// The file to write: `path` itself, or the file it links to. Replacing a symlink by rename
/// would leave the real file behind, tokens and all, at its old mode.
fn real_path(path: PathBuf) -> anyhow::Result<PathBuf> {
    let linked = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    if !linked {
        return Ok(path);
    }
    fs::canonicalize(&path).map_err(|err| {
        let target = fs::read_link(&path).unwrap_or_default();
        anyhow::anyhow!(
            "config file {} is a symlink to {}, which cannot be opened ({err}): create that \
             file, or give --config the path of a real file",
            path.display(),
            target.display()
        )
    })
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)
        }
        _ => Ok(()),
    }
}

/// Temp file in the same directory (so rename stays on one filesystem), fsync, rename, then
/// fsync the directory so the rename itself survives a crash.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = sidecar(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn save_creates_a_private_file_in_a_private_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("new").join("config.yaml");
        let mut locked = LockedConfig::acquire(&path).await.unwrap();
        locked.config.native_client_id = Some("x".into());
        locked.save().unwrap();
        drop(locked);

        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(load(&path).unwrap().native_client_id.as_deref(), Some("x"));
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn nothing_is_written_into_a_directory_others_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let path = tmp.path().join("config.yaml");
        let error = LockedConfig::acquire(&path)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("chmod go-w"), "{error}");
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "something was written"
        );
    }

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            load(&tmp.path().join("none.yaml")).unwrap(),
            Config::default()
        );
    }
}
