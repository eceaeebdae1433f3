//! The default store: one redb file in the server's state directory.
//!
//! redb because it is an embedded ACID store in pure Rust (no C library to build, one file, a
//! checksummed copy-on-write B-tree that survives `kill -9` and power loss with one fsync per
//! commit), it detects a damaged file instead of reading garbage, and its file lock keeps a
//! second server off a state directory that one already uses.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Backend, Change, SessionRecord, StoreError};

/// uid -> the session's record as JSON.
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// Facts about the store itself: its schema version.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SCHEMA_KEY: &str = "schema";
/// The layout of records this build writes and reads; a newer one is refused, never guessed at.
pub(crate) const SCHEMA: u64 = 1;

pub(crate) struct Embedded {
    db: Database,
    path: PathBuf,
}

impl Embedded {
    /// Opens the store at `path`, creating it (0600) if it does not exist.
    pub(crate) fn open(path: &Path) -> Result<Embedded, StoreError> {
        let display = path.display().to_string();
        // Created with its final mode, so that no key is ever in a file others may read.
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| StoreError::io(&display, &e))?;
        let db = Database::create(path).map_err(|e| opening_failed(&display, e))?;
        let store = Embedded {
            db,
            path: path.to_path_buf(),
        };
        store.check_schema()?;
        Ok(store)
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// Writes our schema into a new store; refuses one written by a newer version.
    fn check_schema(&self) -> Result<(), StoreError> {
        let path = self.shown();
        let fail = |e: &dyn std::fmt::Display| StoreError::corrupt(&path, e);
        let txn = self.db.begin_write().map_err(|e| fail(&e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| fail(&e))?;
            let found = meta
                .get(SCHEMA_KEY)
                .map_err(|e| fail(&e))?
                .map(|v| v.value());
            match found {
                Some(found) if found > SCHEMA => {
                    return Err(StoreError::Newer { path, found });
                }
                Some(_) => {}
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA).map_err(|e| fail(&e))?;
                }
            }
            txn.open_table(SESSIONS).map_err(|e| fail(&e))?;
        }
        txn.commit().map_err(|e| StoreError::io(&path, &e))
    }
}

impl Backend for Embedded {
    fn commit(&self, batch: &[Change]) -> Result<(), StoreError> {
        let path = self.shown();
        let fail = |e: &dyn std::fmt::Display| StoreError::io(&path, e);
        let txn = self.db.begin_write().map_err(|e| fail(&e))?;
        {
            let mut sessions = txn.open_table(SESSIONS).map_err(|e| fail(&e))?;
            for change in batch {
                match change {
                    Change::Put(record) => {
                        let value = serde_json::to_vec(record).map_err(|e| fail(&e))?;
                        sessions
                            .insert(record.uid.as_str(), value.as_slice())
                            .map_err(|e| fail(&e))?;
                    }
                    Change::Remove(uid) => {
                        sessions.remove(uid.as_str()).map_err(|e| fail(&e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| fail(&e))
    }

    fn load(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let path = self.shown();
        let fail = |e: &dyn std::fmt::Display| StoreError::corrupt(&path, e);
        let txn = self.db.begin_read().map_err(|e| fail(&e))?;
        let sessions = txn.open_table(SESSIONS).map_err(|e| fail(&e))?;
        let mut records = Vec::new();
        for entry in sessions.iter().map_err(|e| fail(&e))? {
            let (uid, value) = entry.map_err(|e| fail(&e))?;
            let record: SessionRecord = serde_json::from_slice(value.value()).map_err(|e| {
                let detail = format!("the record of session {:?} is unreadable: {e}", uid.value());
                StoreError::corrupt(&path, &detail)
            })?;
            records.push(record);
        }
        records.sort_by_key(|r| r.generation);
        Ok(records)
    }
}

fn opening_failed(path: &str, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse {
                path: path.to_string(),
            }
        }
        // redb says "not a redb database" as an I/O error of this kind.
        DatabaseError::Storage(redb::StorageError::Io(e))
            if e.kind() != std::io::ErrorKind::InvalidData =>
        {
            StoreError::io(path, &e)
        }
        other => StoreError::corrupt(path, &other),
    }
}

#[cfg(test)]
impl Embedded {
    /// A store that lives in memory only, for the unit tests of its users.
    pub(crate) fn in_memory() -> Embedded {
        let backend = redb::backends::InMemoryBackend::new();
        let db = Database::builder().create_with_backend(backend).unwrap();
        let store = Embedded {
            db,
            path: PathBuf::from("<memory>"),
        };
        store.check_schema().unwrap();
        store
    }

    /// Stores `value` as the record of `uid`, readable or not.
    pub(crate) fn put_raw(&self, uid: &str, value: &[u8]) {
        let txn = self.db.begin_write().unwrap();
        txn.open_table(SESSIONS)
            .unwrap()
            .insert(uid, value)
            .unwrap();
        txn.commit().unwrap();
    }

    pub(crate) fn set_schema(&self, schema: u64) {
        let txn = self.db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_KEY, schema)
            .unwrap();
        txn.commit().unwrap();
    }
}
