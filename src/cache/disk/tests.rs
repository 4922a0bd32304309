//! The disk store on a real filesystem: modes, refusals, atomic writes, the identity key and
//! the file lock.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;

use super::*;
use crate::cache::{CacheKey, DiskStore, StoredToken, TokenStore};
use crate::RegistryCredential;

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

/// A store in a fresh directory, holding one token (`credential()` fetched at 1,800,000,000)
/// under an IAM user's key.
fn one_saved_token() -> (tempfile::TempDir, DiskStore, CacheKey) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    cache
        .save(&k, &token(credential(), at(1_800_000_000)))
        .unwrap();
    (tmp, cache, k)
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
    let (_tmp, cache, k) = one_saved_token();

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
    let (tmp, cache, k) = one_saved_token();
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

/// A store in a fresh directory that waits 300 ms for a held lock, and an IAM user's key.
fn store_waiting_300_ms() -> (tempfile::TempDir, DiskStore, CacheKey) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskStore::open(tmp.path().join("c"))
        .unwrap()
        .with_lock_wait(Duration::from_millis(300));
    (tmp, cache, key("iam-user/AKIAEXAMPLE"))
}

#[tokio::test]
async fn the_lock_excludes_others_and_its_wait_is_bounded() {
    let (_tmp, cache, k) = store_waiting_300_ms();

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
    let (_tmp, cache, k) = one_saved_token();
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

// The store's internals.

#[test]
fn file_names_come_from_the_key_and_differ_by_identity() {
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let a = file_stem(&CacheKey::new("iam-user key=AKIAEXAMPLE", registry));
    let b = file_stem(&CacheKey::new("instance-role role=Worker", registry));
    assert!(
        a.starts_with("123456789012.dkr.ecr.us-east-1.amazonaws.com-"),
        "{a}"
    );
    assert_ne!(a, b);
    assert_eq!(
        a,
        file_stem(&CacheKey::new("iam-user key=AKIAEXAMPLE", registry)),
        "stable"
    );
    let port = file_stem(&CacheKey::new("x", "localhost:5000"));
    assert!(port.starts_with("localhost_5000-"), "{port}");
}

#[test]
fn fnv_is_the_published_function() {
    let mut h = Fnv::new();
    h.write(b"a");
    assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
}

/// A uid that owns none of the files a test makes: opened as it, the store sees every file
/// and the directory as another user's, without root and without `chown`.
fn someone_else() -> u32 {
    let me = rustix::process::geteuid().as_raw();
    let other = me.wrapping_add(1);
    assert_ne!(me, other);
    other
}

fn the_key() -> CacheKey {
    key("iam-user key=AKIAEXAMPLE")
}

fn the_token() -> StoredToken {
    token(credential(), at(1_800_000_000))
}

/// A store over a fresh directory, and the same directory as another user would open it
/// if its owner checks passed (so each file's own check is what is tested).
fn mine_and_theirs() -> (tempfile::TempDir, DiskStore, DiskStore) {
    let tmp = tempfile::tempdir().unwrap();
    let mine = DiskStore::open(tmp.path().join("c")).unwrap();
    let theirs = DiskStore {
        uid: someone_else(),
        warned: Arc::default(),
        ..mine.clone()
    };
    (tmp, mine, theirs)
}

#[test]
fn a_directory_owned_by_another_user_is_refused_naming_the_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    DiskStore::open(&dir).unwrap();
    let me = rustix::process::geteuid().as_raw();
    let e = DiskStore::open_as(dir.clone(), someone_else())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&dir.display().to_string())
            && e.contains("refusing")
            && e.contains(&format!("owned by uid {me}, not by this user")),
        "{e}"
    );
    // A new directory is made by us, so it is ours: opened as another user, refused too.
    let e = DiskStore::open_as(tmp.path().join("new"), someone_else())
        .unwrap_err()
        .to_string();
    assert!(e.contains("owned by uid"), "{e}");
}

#[test]
fn a_token_file_owned_by_another_user_is_a_miss() {
    let (_tmp, mine, theirs) = mine_and_theirs();
    mine.save(&the_key(), &the_token()).unwrap();
    assert!(mine.load(&the_key()).is_some(), "the file itself is good");
    assert!(
        theirs.load(&the_key()).is_none(),
        "another user's file is trusted"
    );
    let refused = theirs.warned.lock().unwrap().clone();
    assert_eq!(refused, HashSet::from([mine.path_for(&the_key())]));
}

#[tokio::test]
async fn a_lock_file_owned_by_another_user_is_not_used() {
    let (_tmp, mine, theirs) = mine_and_theirs();
    assert!(
        mine.lock(&the_key()).await.is_held(),
        "the lock file is good"
    );
    assert!(
        !theirs.lock(&the_key()).await.is_held(),
        "another user's lock file was used"
    );
}

#[test]
fn an_identity_key_owned_by_another_user_is_refused_and_left_alone() {
    let (tmp, _mine, theirs) = mine_and_theirs();
    let path = tmp.path().join("c").join(KEY_FILE);
    let before = fs::read(&path).unwrap();
    let e = theirs.read_or_make_key().unwrap_err().to_string();
    let me = rustix::process::geteuid().as_raw();
    assert!(
        e.contains(KEY_FILE) && e.contains(&format!("owned by uid {me}")),
        "{e}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn the_default_directory_is_under_an_absolute_xdg_cache_home_else_home() {
    // The only test that sets XDG_CACHE_HOME; it puts back what was there.
    let saved = std::env::var_os("XDG_CACHE_HOME");
    std::env::set_var("XDG_CACHE_HOME", "/var/cache/someone");
    let absolute = DiskStore::default_dir();
    std::env::set_var("XDG_CACHE_HOME", "relative/cache");
    let relative = DiskStore::default_dir();
    match saved {
        Some(value) => std::env::set_var("XDG_CACHE_HOME", value),
        None => std::env::remove_var("XDG_CACHE_HOME"),
    }
    assert_eq!(
        absolute,
        Some(PathBuf::from("/var/cache/someone/registry-auth"))
    );
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    assert_eq!(relative, home.map(|h| h.join(".cache/registry-auth")));
}

#[test]
fn debug_shows_the_directory_and_the_lock_wait_only() {
    let (tmp, mine, _) = mine_and_theirs();
    let text = format!("{:?}", mine.with_lock_wait(Duration::from_secs(7)));
    assert_eq!(
        text,
        format!(
            "DiskStore {{ dir: {:?}, lock_wait: 7s, .. }}",
            tmp.path().join("c")
        )
    );
}

#[test]
fn a_token_file_may_be_64_kib_and_not_a_byte_more() {
    let (_tmp, mine, _) = mine_and_theirs();
    // An ECR token is about 2 KB of base64: a 4 KiB one round-trips.
    let at = |secs| std::time::UNIX_EPOCH + Duration::from_secs(secs);
    let big = StoredToken::new(
        RegistryCredential::new(
            "AWS",
            SecretString::from("x".repeat(4096)),
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            Some(at(1_800_043_200)),
        ),
        at(1_800_000_000),
    );
    mine.save(&the_key(), &big).unwrap();
    let loaded = mine.load(&the_key()).unwrap();
    assert_eq!(loaded.credential.expose_password().len(), 4096);
    // The same JSON after enough spaces to reach the limit still loads (read whole, or its
    // end would be missing); a byte more does not.
    let path = mine.path_for(&the_key());
    let json = fs::read(&path).unwrap();
    let limit = usize::try_from(MAX_FILE_LEN).unwrap();
    let mut text = vec![b' '; limit - json.len()];
    text.extend_from_slice(&json);
    fs::write(&path, &text).unwrap();
    assert!(mine.load(&the_key()).is_some(), "exactly 64 KiB");
    text.insert(0, b' ');
    fs::write(&path, &text).unwrap();
    assert!(mine.load(&the_key()).is_none(), "64 KiB and a byte");
}

#[test]
fn processes_opening_a_new_directory_at_once_agree_on_one_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let start = Arc::new(std::sync::Barrier::new(8));
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let (dir, start) = (dir.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                DiskStore::open(dir).map(|store| store.identity_key().to_bytes())
            })
        })
        .collect();
    let keys: Vec<[u8; 32]> = openers
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "the openers disagree");
    let on_disk = fs::read_to_string(dir.join(KEY_FILE)).unwrap();
    assert_eq!(parse_key(&on_disk).unwrap().to_bytes(), keys[0]);
}

#[test]
fn symlinks_are_refused_as_symlinks() {
    let (tmp, mine, _) = mine_and_theirs();
    // A token file: a miss, and the one warning says so.
    mine.save(&the_key(), &the_token()).unwrap();
    let path = mine.path_for(&the_key());
    let copy = tmp.path().join("copy.json");
    fs::rename(&path, &copy).unwrap();
    std::os::unix::fs::symlink(&copy, &path).unwrap();
    assert!(mine.load(&the_key()).is_none());
    assert!(mine.warned.lock().unwrap().contains(&path));
    // The key file: opening the directory fails, naming the reason.
    let key_file = tmp.path().join("c").join(KEY_FILE);
    let real = tmp.path().join("real.key");
    fs::rename(&key_file, &real).unwrap();
    std::os::unix::fs::symlink(&real, &key_file).unwrap();
    let e = DiskStore::open(tmp.path().join("c"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(KEY_FILE) && e.contains("it is a symbolic link"),
        "{e}"
    );
}

#[test]
fn tokens_without_a_future_expiry_are_never_written() {
    let (_tmp, mine, _) = mine_and_theirs();
    let fetched = the_token().fetched_at;
    for expires_at in [None, Some(fetched), Some(fetched - Duration::from_secs(1))] {
        let credential = the_token().credential.with_expires_at(expires_at);
        mine.save(&the_key(), &StoredToken::new(credential, fetched))
            .unwrap();
        assert!(!mine.path_for(&the_key()).exists(), "{expires_at:?}");
    }
    mine.save(&the_key(), &the_token()).unwrap();
    assert!(mine.path_for(&the_key()).exists());
}

#[test]
fn a_key_file_is_read_up_to_128_bytes_and_replaced_when_longer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let path = dir.join(KEY_FILE);
    DiskStore::open(&dir).unwrap();
    let hex = "5a".repeat(32);
    // 128 bytes: a key and whitespace, read whole and kept.
    fs::write(&path, format!("{hex}{}\n", " ".repeat(63))).unwrap();
    let kept = DiskStore::open(&dir).unwrap().identity_key().to_bytes();
    assert_eq!(kept, [0x5a; 32]);
    // 129 bytes: not a key file; a new key replaces it.
    fs::write(&path, format!("{hex}{}\n", " ".repeat(64))).unwrap();
    let replaced = DiskStore::open(&dir).unwrap().identity_key().to_bytes();
    assert_ne!(replaced, [0x5a; 32]);
    let on_disk = fs::read_to_string(&path).unwrap();
    assert_eq!(parse_key(&on_disk).unwrap().to_bytes(), replaced);
}

#[test]
fn keys_parse_only_from_64_hex_digits() {
    assert!(parse_key(&"ab".repeat(32)).is_some());
    assert!(parse_key(&format!("{}\n", "0f".repeat(32))).is_some());
    assert!(parse_key(&"ab".repeat(31)).is_none());
    assert!(parse_key(&"zz".repeat(32)).is_none());
    assert!(parse_key("").is_none());
}

#[test]
fn a_file_that_cannot_be_opened_is_an_io_error_not_called_a_symlink() {
    // Opening a socket fails (ENXIO) without it being a symlink: the error says why.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("identity.key")).unwrap();
    let e = DiskStore::open(&dir).unwrap_err().to_string();
    assert!(e.contains("identity.key"), "{e}");
    assert!(e.contains("No such device or address"), "{e}");
    assert!(!e.contains("symbolic link"), "{e}");
}

#[test]
fn a_private_directory_is_opened_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    DiskStore::open(&dir).unwrap();
    let (logs, _guard) = crate::cache::tests::Captured::install(tracing::Level::DEBUG);
    DiskStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert!(!logs.text().contains("tightened"), "{}", logs.text());
    // Only a directory readable by others is tightened, and says so.
    set_mode(&dir, 0o750);
    DiskStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert!(logs.text().contains("tightened"), "{}", logs.text());
}

#[tokio::test(start_paused = true)]
async fn a_held_lock_is_waited_for_exactly_the_lock_wait() {
    let (_tmp, cache, k) = store_waiting_300_ms();
    let _held = cache.lock(&k).await;
    let started = tokio::time::Instant::now();
    assert!(!cache.lock(&k).await.is_held());
    // On the paused test clock, which only the waiter's sleeps move: polls after 5, 10, 20, 40,
    // 80 and 100 ms, then the 45 ms left of the wait, and no more.
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}
