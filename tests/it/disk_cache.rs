//! The disk store on a real filesystem: modes, refusals, atomic writes, the identity key and
//! the file lock.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use registry_auth::cache::{CacheKey, DiskStore, StoredToken, TokenStore};
use registry_auth::RegistryCredential;
use secrecy::SecretString;

fn key(identity: &str) -> CacheKey {
    CacheKey::new(identity, "123456789012.dkr.ecr.us-east-1.amazonaws.com")
}

/// `credential` as fetched at `fetched_at`.
fn token(credential: RegistryCredential, fetched_at: SystemTime) -> StoredToken {
    StoredToken::new(credential, fetched_at)
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn credential() -> RegistryCredential {
    RegistryCredential::new(
        "AWS",
        SecretString::from("the-password"),
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        Some(at(1_800_043_200)),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn open_creates_a_0700_directory_and_tightens_a_readable_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/registry-auth");
    let cache = DiskStore::open(&dir).unwrap();
    assert_eq!(cache.dir(), dir);
    assert_eq!(mode(&dir), 0o700);

    set_mode(&dir, 0o755);
    DiskStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn open_refuses_unsafe_directories_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let writable = tmp.path().join("writable");
    std::fs::create_dir(&writable).unwrap();
    set_mode(&writable, 0o770);
    let e = DiskStore::open(&writable).unwrap_err().to_string();
    assert!(
        e.contains("refusing") && e.contains("0770") && e.contains("writable"),
        "{e}"
    );

    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    set_mode(&real, 0o700);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = DiskStore::open(&link).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");

    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(DiskStore::open(&file).is_err());
}

#[test]
fn save_then_load_round_trips_in_a_0600_file_and_debug_never_shows_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    cache
        .save(&k, &token(credential(), at(1_800_000_000)))
        .unwrap();

    let path = cache.path_for(&k);
    assert_eq!(mode(&path), 0o600);
    let stored = cache.load(&k).unwrap();
    assert_eq!(stored.credential.username(), "AWS");
    assert_eq!(stored.credential.expose_password(), "the-password");
    assert_eq!(stored.credential.expires_at(), Some(at(1_800_043_200)));
    assert_eq!(stored.fetched_at, at(1_800_000_000));
    assert!(!format!("{stored:?} {cache:?}").contains("the-password"));

    // The token file and the identity key: the temporary file was renamed, not left behind.
    let mut names: Vec<String> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "identity.key")
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    names.clear();
    assert_eq!(mode(&cache.dir().join("identity.key")), 0o600);

    // Another identity (same registry and region) is another file, and a miss.
    let other = key("instance-role/Worker");
    assert_ne!(cache.path_for(&other), path);
    assert!(cache.load(&other).is_none());

    // Saving again replaces the token.
    let newer = credential().with_expires_at(Some(at(1_900_000_000)));
    cache.save(&k, &token(newer, at(1_899_956_800))).unwrap();
    assert_eq!(
        cache.load(&k).unwrap().credential.expires_at(),
        Some(at(1_900_000_000))
    );
}

#[test]
fn files_that_are_not_ours_or_not_private_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    cache
        .save(&k, &token(credential(), at(1_800_000_000)))
        .unwrap();
    let path = cache.path_for(&k);

    for bad in [0o640, 0o620, 0o604, 0o606] {
        set_mode(&path, bad);
        assert!(cache.load(&k).is_none(), "{bad:o}");
    }
    set_mode(&path, 0o600);
    assert!(cache.load(&k).is_some());

    // Another owner: only root can make one here.
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert!(cache.load(&k).is_none(), "owned by nobody");
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        assert!(cache.load(&k).is_some());
    }

    // A symlink to a good copy.
    let copy = tmp.path().join("copy.json");
    std::fs::copy(&path, &copy).unwrap();
    set_mode(&copy, 0o600);
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&copy, &path).unwrap();
    assert!(cache.load(&k).is_none(), "symlink");
    // Saving replaces the link; the target is untouched.
    let before = std::fs::read(&copy).unwrap();
    cache
        .save(&k, &token(credential(), at(1_800_000_001)))
        .unwrap();
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    assert!(cache.load(&k).is_some());
}

#[test]
fn garbage_and_foreign_files_are_misses() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    let path = cache.path_for(&k);
    for text in [
        "",
        "not json",
        "{}",
        r#"{"version":2}"#,
        &"x".repeat(200_000),
    ] {
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
        assert!(cache.load(&k).is_none());
    }
    // A valid file for another key, copied under this key's name.
    let other = key("iam-user/AKIAOTHER");
    cache
        .save(&other, &token(credential(), at(1_800_000_000)))
        .unwrap();
    std::fs::copy(cache.path_for(&other), &path).unwrap();
    set_mode(&path, 0o600);
    assert!(cache.load(&k).is_none());
}

#[tokio::test]
async fn the_lock_excludes_others_and_its_wait_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c"))
        .unwrap()
        .with_lock_wait(Duration::from_millis(300));
    let k = key("iam-user/AKIAEXAMPLE");

    let first = cache.lock(&k).await;
    assert!(first.is_held());
    assert_eq!(
        mode(&cache.dir().join(format!(
            "{}.lock",
            cache.path_for(&k).file_stem().unwrap().to_string_lossy()
        ))),
        0o600
    );

    // A second holder (a separate open file, as another process has) gives up after the wait
    // and goes on without the lock.
    let second = cache.lock(&k).await;
    assert!(!second.is_held());

    // Another key is not blocked.
    assert!(cache.lock(&key("iam-user/AKIAOTHER")).await.is_held());

    // Released on drop: a waiter gets it once the holder lets go, and not before.
    let waiter = {
        let cache = cache.clone().with_lock_wait(Duration::from_secs(30));
        let k = k.clone();
        tokio::spawn(async move { cache.lock(&k).await.is_held() })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter got in while the lock was held"
    );
    drop(first);
    assert!(
        waiter.await.unwrap(),
        "the waiter got the lock after the holder let go"
    );
}

#[test]
fn files_with_times_no_clock_can_hold_are_misses_and_get_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    cache
        .save(&k, &token(credential(), at(1_800_000_000)))
        .unwrap();
    let path = cache.path_for(&k);
    let text = std::fs::read_to_string(&path).unwrap();
    for huge in [format!("{}", u64::MAX), format!("{}", i64::MAX as u64 + 1)] {
        let bad = text.replace("1800043200", &huge);
        assert_ne!(bad, text);
        std::fs::write(&path, bad).unwrap();
        assert!(cache.load(&k).is_none(), "{huge}");
    }
    cache
        .save(&k, &token(credential(), at(1_800_000_000)))
        .unwrap();
    assert!(cache.load(&k).is_some());
}

#[cfg(unix)]
#[test]
fn a_fifo_or_an_oversized_file_never_hangs_or_is_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    let path = cache.path_for(&k);
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    assert!(
        cache.load(&k).is_none(),
        "a FIFO is refused without blocking"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, vec![b' '; 65 * 1024]).unwrap();
    set_mode(&path, 0o600);
    assert!(cache.load(&k).is_none(), "over 64 KiB");
}

#[test]
fn the_identity_key_is_kept_private_and_shared_by_every_opening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let a = DiskStore::open(&dir).unwrap();
    let b = DiskStore::open(&dir).unwrap();
    assert_eq!(a.identity_key().to_bytes(), b.identity_key().to_bytes());
    let key_file = dir.join("identity.key");
    assert_eq!(mode(&key_file), 0o600);

    // Readable by others: refused, naming the file.
    set_mode(&key_file, 0o644);
    let e = DiskStore::open(&dir).unwrap_err().to_string();
    assert!(e.contains("identity.key") && e.contains("0644"), "{e}");

    // Ours but holding no key: replaced by a new one.
    set_mode(&key_file, 0o600);
    std::fs::write(&key_file, "not a key").unwrap();
    let c = DiskStore::open(&dir).unwrap();
    assert_ne!(c.identity_key().to_bytes(), a.identity_key().to_bytes());
    assert_eq!(mode(&key_file), 0o600);
}
