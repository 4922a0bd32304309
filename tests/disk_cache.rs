//! The disk token cache on a real filesystem: modes, refusals, atomic writes and the file lock.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use registry_auth::disk_cache::DiskCache;
use registry_auth::provider::EcrTarget;
use registry_auth::reference::ImageReference;
use registry_auth::resolver::CacheKey;
use registry_auth::RegistryCredential;
use secrecy::{ExposeSecret, SecretString};

fn key(identity: &str) -> CacheKey {
    let image =
        ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1").unwrap();
    CacheKey {
        identity: identity.to_owned(),
        target: EcrTarget::for_image(&image, "us-east-1"),
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn credential() -> RegistryCredential {
    RegistryCredential::new(
        "AWS",
        SecretString::from("the-password"),
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        at(1_800_043_200),
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
    let cache = DiskCache::open(&dir).unwrap();
    assert_eq!(cache.dir(), dir);
    assert_eq!(mode(&dir), 0o700);

    set_mode(&dir, 0o755);
    DiskCache::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn open_refuses_unsafe_directories_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let writable = tmp.path().join("writable");
    std::fs::create_dir(&writable).unwrap();
    set_mode(&writable, 0o770);
    let e = DiskCache::open(&writable).unwrap_err().to_string();
    assert!(
        e.contains("refusing") && e.contains("0770") && e.contains("writable"),
        "{e}"
    );

    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    set_mode(&real, 0o700);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = DiskCache::open(&link).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");

    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(DiskCache::open(&file).is_err());
}

#[test]
fn save_then_load_round_trips_in_a_0600_file_and_debug_never_shows_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    cache.save(&k, &credential(), at(1_800_000_000)).unwrap();

    let path = cache.path_for(&k);
    assert_eq!(mode(&path), 0o600);
    let stored = cache.load(&k).unwrap();
    assert_eq!(stored.credential.username, "AWS");
    assert_eq!(stored.credential.password.expose_secret(), "the-password");
    assert_eq!(stored.credential.expires_at, at(1_800_043_200));
    assert_eq!(stored.fetched_at, at(1_800_000_000));
    assert!(!format!("{stored:?} {cache:?}").contains("the-password"));

    // Only the token file: the temporary file was renamed, not left behind.
    let names: Vec<String> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Another identity (same registry and region) is another file, and a miss.
    let other = key("instance-role/Worker");
    assert_ne!(cache.path_for(&other), path);
    assert!(cache.load(&other).is_none());

    // Saving again replaces the token.
    let mut newer = credential();
    newer.expires_at = at(1_900_000_000);
    cache.save(&k, &newer, at(1_899_956_800)).unwrap();
    assert_eq!(
        cache.load(&k).unwrap().credential.expires_at,
        at(1_900_000_000)
    );
}

#[test]
fn files_that_are_not_ours_or_not_private_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(tmp.path().join("c")).unwrap();
    let k = key("iam-user/AKIAEXAMPLE");
    cache.save(&k, &credential(), at(1_800_000_000)).unwrap();
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
    cache.save(&k, &credential(), at(1_800_000_001)).unwrap();
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
    let cache = DiskCache::open(tmp.path().join("c")).unwrap();
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
        .save(&other, &credential(), at(1_800_000_000))
        .unwrap();
    std::fs::copy(cache.path_for(&other), &path).unwrap();
    set_mode(&path, 0o600);
    assert!(cache.load(&k).is_none());
}

#[tokio::test]
async fn the_lock_excludes_others_and_its_wait_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(tmp.path().join("c"))
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

    // A second holder (a separate open file, as another process has) times out and goes on.
    let started = Instant::now();
    let second = cache.lock(&k).await;
    assert!(!second.is_held());
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Another key is not blocked.
    assert!(cache.lock(&key("iam-user/AKIAOTHER")).await.is_held());

    // Released on drop: a waiter gets it as soon as the holder lets go.
    let waiter = {
        let cache = cache.clone().with_lock_wait(Duration::from_secs(10));
        let k = k.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let lock = cache.lock(&k).await;
            (lock.is_held(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(first);
    let (held, waited) = waiter.await.unwrap();
    assert!(held);
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
