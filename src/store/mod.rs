//! Sessions that outlive the process: every change to a session is written to a store and made
//! durable before its reply goes out, and a starting server reads them back.
//!
//! [`Store`] is the handle the session table uses: [`Store::submit`] queues a [`Change`] (cheap,
//! callable under the table's lock, so the store sees changes in the table's order) and returns
//! a [`Durable`] to await outside the lock. One committer thread writes whatever is queued in one
//! transaction, so concurrent calls share an fsync. The [`Backend`] is the embedded file
//! ([`embedded`]) on one machine.

mod committer;
mod embedded;
mod record;
mod state_dir;

use std::path::Path;

pub(crate) use committer::Durable;
#[cfg(test)]
pub(crate) use record::tests::record as test_record;
pub(crate) use record::{Bytes, HopRecord, IdentityRecord, Private, SessionRecord};

/// One change to the stored sessions.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    /// The session as it is now (created, or changed).
    Put(Box<SessionRecord>),
    /// The session is gone (released, expired).
    Remove(String),
}

/// Where sessions are kept. Calls block: the committer thread makes them.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Applies the changes in order, atomically and durably.
    fn commit(&self, batch: &[Change]) -> Result<(), StoreError>;
    /// Every stored session, oldest first.
    fn load(&self) -> Result<Vec<SessionRecord>, StoreError>;
}

/// Why the store cannot be used; each says what the operator can do.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error(
        "the session store {path} is damaged ({detail}); its sessions cannot be restored. \
         Start with --forget-sessions to set it aside (renamed, for inspection) and begin with \
         no sessions"
    )]
    Corrupt { path: String, detail: String },
    #[error(
        "the session store {path} was written by a newer scistream (schema {found}; this one \
         reads {}): run that version, or start with --forget-sessions to set it aside and \
         begin with no sessions",
        embedded::SCHEMA
    )]
    Newer { path: String, found: u64 },
    #[error("{0}")]
    Exposed(String),
    #[error(
        "the session store {path} is in use by another process: is another `scistream server` \
         running with this --state-dir? Stop it, or give this one a --state-dir of its own"
    )]
    InUse { path: String },
    #[error("could not write the session store {path}: {detail}")]
    Io { path: String, detail: String },
}

impl StoreError {
    fn corrupt(path: &str, detail: &dyn std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: path.to_string(),
            detail: detail.to_string(),
        }
    }

    fn io(path: &str, detail: &dyn std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: path.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// The session store of one server.
#[derive(Clone)]
pub(crate) struct Store {
    committer: committer::Committer,
}

impl Store {
    /// Opens (creating if need be) the embedded store in `state_dir`, after checking that
    /// nobody else may read it, and returns it with the sessions it holds, oldest first. With
    /// `forget`, the stored sessions are dropped instead.
    pub(crate) fn open(
        state_dir: &Path,
        forget: bool,
    ) -> Result<(Store, Vec<SessionRecord>), StoreError> {
        let path = state_dir::prepare(state_dir)?;
        let opened = embedded::Embedded::open(&path).and_then(|b| Ok((b.load()?, b)));
        let (mut records, backend) = match opened {
            Err(e @ (StoreError::Corrupt { .. } | StoreError::Newer { .. })) if forget => {
                let aside = set_aside(&path)?;
                tracing::warn!(store = %path.display(), kept = %aside.display(),
                    "--forget-sessions: the store could not be read ({e}); moved aside, \
                     starting with a new one");
                (Vec::new(), embedded::Embedded::open(&path)?)
            }
            opened => opened?,
        };
        if forget {
            let gone: Vec<Change> = records.drain(..).map(|r| Change::Remove(r.uid)).collect();
            backend.commit(&gone)?;
        }
        let store = Store {
            committer: committer::Committer::start(Box::new(backend)),
        };
        Ok((store, records))
    }

    /// Queues `change` behind every change submitted before it; await the result before
    /// answering the call that made it.
    pub(crate) fn submit(&self, change: Change) -> Durable {
        self.committer.submit(change)
    }

    /// A store in memory, for unit tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Store {
        Store {
            committer: committer::Committer::start(Box::new(embedded::Embedded::in_memory())),
        }
    }

    /// Writes what is queued and closes the store, so that another process may open it.
    pub(crate) fn close(&self) {
        self.committer.close();
    }

    /// Opens the store in `state_dir` again if it was closed (a handover that failed after
    /// the store was closed for the new process): every clone of this handle writes to it.
    pub(crate) fn reopen(&self, state_dir: &Path) -> Result<(), StoreError> {
        if self.committer.is_closed() {
            let path = state_dir::prepare(state_dir)?;
            let backend = embedded::Embedded::open(&path)?;
            self.committer.restart(Box::new(backend));
        }
        Ok(())
    }
}

/// Renames a store that cannot be read to `<name>.unreadable-<seconds since the epoch>`, to
/// keep it for inspection; returns its new path.
fn set_aside(path: &Path) -> Result<std::path::PathBuf, StoreError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let suffix = format!("unreadable-{}", now.map_or(0, |d| d.as_secs()));
    let aside = path.with_extension(format!("redb.{suffix}"));
    std::fs::rename(path, &aside).map_err(|e| StoreError::io(&path.display().to_string(), &e))?;
    Ok(aside)
}

#[cfg(test)]
mod tests;
