use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::record::tests::record;
use super::state_dir::STORE_FILE;
use super::*;

fn open(dir: &Path) -> (Store, Vec<SessionRecord>) {
    Store::open(dir, false).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn what_was_committed_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, found) = open(dir.path());
        assert!(found.is_empty());
        let (a, b) = (record("a", 2), record("b", 1));
        store.submit(Change::Put(Box::new(a))).await.unwrap();
        store
            .submit(Change::Put(Box::new(b.clone())))
            .await
            .unwrap();
        store
            .submit(Change::Put(Box::new(record("c", 3))))
            .await
            .unwrap();
        store.submit(Change::Remove("c".into())).await.unwrap();
        let mut changed = record("a", 2);
        changed.targets = vec!["10.0.0.6:1".parse().unwrap()];
        store.submit(Change::Put(Box::new(changed))).await.unwrap();
        store.close();
        let refused = store.submit(Change::Remove("a".into())).await;
        assert!(refused.is_err(), "a closed store takes no more changes");
    }
    let found = open(dir.path()).1;
    let uids: Vec<&str> = found.iter().map(|r| r.uid.as_str()).collect();
    assert_eq!(uids, ["b", "a"], "oldest first");
    assert_eq!(found[1].targets[0].to_string(), "10.0.0.6:1");
}

#[tokio::test]
async fn concurrent_changes_all_become_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        let pending: Vec<Durable> = (0..200)
            .map(|i| store.submit(Change::Put(Box::new(record(&format!("u{i}"), i)))))
            .collect();
        for durable in pending {
            durable.await.unwrap();
        }
        store.close();
    }
    assert_eq!(open(dir.path()).1.len(), 200);
}

#[tokio::test]
async fn forget_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store
        .submit(Change::Put(Box::new(record("a", 1))))
        .await
        .unwrap();
    store.close();
    let (store, found) = Store::open(dir.path(), true).unwrap();
    assert!(found.is_empty());
    store.close();
    assert!(open(dir.path()).1.is_empty(), "forgotten for good");
}

#[test]
fn the_directory_and_the_file_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (store, _) = open(&state);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join(STORE_FILE)), 0o600);
    drop(store);
}

#[test]
fn a_store_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let file = dir.path().join(STORE_FILE);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let error = Store::open(dir.path(), false).err().unwrap().to_string();
    assert!(
        error.contains(&format!("chmod 600 {}", file.display())),
        "{error}"
    );
}

#[test]
fn a_directory_others_can_write_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let error = Store::open(dir.path(), false).err().unwrap().to_string();
    assert!(
        error.contains(&format!("chmod 700 {}", dir.path().display())),
        "{error}"
    );
}

#[test]
fn a_damaged_store_stops_with_the_path_and_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(STORE_FILE);
    fs::write(&file, vec![0x5a; 64 * 1024]).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let error = Store::open(dir.path(), false).err().unwrap();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    let error = error.to_string();
    assert!(error.contains(&file.display().to_string()), "{error}");
    assert!(error.contains("--forget-sessions"), "{error}");
}

#[test]
fn an_unreadable_record_is_damage_not_a_silent_drop() {
    let dir = tempfile::tempdir().unwrap();
    {
        let path = state_dir::prepare(dir.path()).unwrap();
        let store = embedded::Embedded::open(&path).unwrap();
        store
            .commit(&[Change::Put(Box::new(record("a", 1)))])
            .unwrap();
        store.put_raw("b", b"{not json");
    }
    let error = Store::open(dir.path(), false).err().unwrap().to_string();
    assert!(
        error.contains("\"b\"") && error.contains("damaged"),
        "{error}"
    );
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let path = state_dir::prepare(dir.path()).unwrap();
        let store = embedded::Embedded::open(&path).unwrap();
        store.set_schema(embedded::SCHEMA + 1);
    }
    let error = Store::open(dir.path(), false).err().unwrap();
    assert!(matches!(error, StoreError::Newer { found, .. } if found == embedded::SCHEMA + 1));
    assert!(error.to_string().contains("newer scistream"), "{error}");
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_first, _) = open(dir.path());
    let error = Store::open(dir.path(), false).err().unwrap();
    assert!(matches!(error, StoreError::InUse { .. }), "{error:?}");
}

#[test]
fn forget_sets_a_damaged_store_aside_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(STORE_FILE);
    fs::write(&file, vec![0x5a; 64 * 1024]).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let (store, found) = Store::open(dir.path(), true).unwrap();
    assert!(found.is_empty());
    store.close();
    let kept = fs::read_dir(dir.path()).unwrap().filter_map(Result::ok);
    let names: Vec<String> = kept
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("sessions.redb.unreadable-")),
        "{names:?}"
    );
}
