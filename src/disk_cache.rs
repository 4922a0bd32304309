//! Tokens persisted across short-lived processes: the disk token cache.
//!
//! Docker runs a credential helper once per pull, and the kubelet runs its credential provider
//! once per image; each is a new process with an empty [`TokenCache`](crate::cache::TokenCache).
//! A [`DiskCache`] lets them share tokens: the
//! [`DefaultResolver`](crate::resolver::DefaultResolver) reads it on a miss, and when it has to go
//! upstream it first takes the key's file lock, so that ten pulls started at once make one
//! `GetAuthorizationToken` call between them.
//!
//! # On disk
//!
//! - One directory, `$XDG_CACHE_HOME/registry-auth` or `~/.cache/registry-auth`
//!   ([`DiskCache::default_dir`]), mode `0700`.
//! - One JSON file per cache key, mode `0600`, holding the key (identity and target), `username`,
//!   `password`, `server`, `expires_at` and `fetched_at` (Unix seconds). The name is made from the
//!   registry host, the region and a hash of the whole key (identity included): never from a
//!   secret. An assumed role's rotating session keys are not part of the key, so they still hit.
//! - Written atomically: a temporary file in the same directory, then `rename`. A reader sees the
//!   old token or the new one, never half of one.
//! - One `.lock` file per key, locked with [`File::try_lock`] (`flock` on Linux) while a process
//!   fetches from upstream. The wait is bounded ([`DiskCache::DEFAULT_LOCK_WAIT`], 45 s: longer
//!   than one bounded AWS call) and polled, so it never blocks the async runtime. **On timeout the
//!   process fetches without the lock**, after a warning: an extra upstream call is better than a
//!   failed pull, and a process that hung while holding the lock cannot stall every later pull.
//!
//! # What is refused
//!
//! Anything that another user could have written, because a planted token would send pulls to
//! the wrong registry account (or a planted symlink would make us read or write elsewhere):
//!
//! - **The directory** when it is a symlink, not a directory, owned by another user, or writable
//!   by group or others: [`DiskCache::open`] fails, naming the directory and the reason. The
//!   callers in this crate then go on without a disk cache (a warning, then every process fetches
//!   upstream). A directory of ours that is merely *readable* by others is tightened to `0700`.
//! - **A token file** that is a symlink, not a regular file, owned by another user, or has any
//!   group/other permission bit: [`DiskCache::load`] logs a warning naming the file and the
//!   reason, and acts as a miss. The fresh token is then written in its place by `rename`, which
//!   replaces a symlink rather than following it.
//! - **A lock file** that is a symlink or owned by another user: a warning, then the fetch goes
//!   on without the lock.
//!
//! Only the cache directory itself is checked, not its parents (`~/.cache` may be a symlink on
//! purpose). Unix only.
//!
//! ```no_run
//! use registry_auth::config::RegistryConfig;
//! use registry_auth::disk_cache::DiskCache;
//! use registry_auth::resolver::DefaultResolver;
//!
//! # fn main() -> Result<(), registry_auth::Error> {
//! let config = RegistryConfig::load("registries.toml")?;
//! let mut builder = DefaultResolver::builder().config(&config)?;
//! match DiskCache::open_default() {
//!     Ok(disk) => builder = builder.disk_cache(disk),
//!     Err(e) => eprintln!("no disk token cache: {e}"),
//! }
//! let resolver = builder.build()?;
//! # let _ = resolver; Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::provider::EcrTarget;
use crate::resolver::CacheKey;
use crate::{Error, RegistryCredential};

/// A token file larger than this is not ours.
const MAX_FILE_LEN: u64 = 64 * 1024;
/// The file format; a file with another version is a miss (and is overwritten).
const FORMAT_VERSION: u32 = 1;
/// Polling interval bounds while another process holds a key's lock.
const LOCK_POLL_MIN: Duration = Duration::from_millis(5);
const LOCK_POLL_MAX: Duration = Duration::from_millis(100);

/// A directory of cached tokens shared by the processes of one user; see the
/// [module documentation](self).
///
/// `Debug` shows the directory and the lock wait; the cache holds no token in memory.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    uid: u32,
    lock_wait: Duration,
    /// Files already warned about: a refused file is met twice per fetch (before and after
    /// the lock), and one warning says it.
    warned: Arc<Mutex<HashSet<PathBuf>>>,
}

/// A token read back from disk, with when it was fetched.
///
/// `Debug` never shows the password (see [`RegistryCredential`]).
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// The credential.
    pub credential: RegistryCredential,
    /// When it was fetched from upstream.
    pub fetched_at: SystemTime,
}

/// Held while one process fetches a key's token; dropping it lets the others in.
///
/// A guard may hold no lock at all ([`DiskLock::is_held`] is `false`) when waiting timed out or
/// the lock file could not be used: the caller goes on without it.
#[derive(Debug)]
pub struct DiskLock {
    file: Option<File>,
}

impl DiskLock {
    /// Whether this guard holds the key's file lock.
    pub fn is_held(&self) -> bool {
        self.file.is_some()
    }

    fn not_held() -> Self {
        Self { file: None }
    }
}

/// Why a file or directory is not trusted.
#[derive(Debug)]
enum Refusal {
    Symlink,
    NotRegular,
    Owner(u32),
    /// A directory writable by group or others.
    Writable(u32),
    /// A token file with any group or other permission.
    NotPrivate(u32),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Symlink => f.write_str("it is a symbolic link"),
            Refusal::NotRegular => {
                f.write_str("it is not what it should be (a regular file or a directory)")
            }
            Refusal::Owner(uid) => write!(f, "it is owned by uid {uid}, not by this user"),
            Refusal::Writable(mode) => write!(
                f,
                "its mode {:04o} lets group or others write to it",
                mode & 0o7777
            ),
            Refusal::NotPrivate(mode) => write!(
                f,
                "its mode {:04o} gives group or others access; token files are 0600",
                mode & 0o7777
            ),
        }
    }
}

/// What the file holds. The password is written in the clear, as docker's own `config.json`
/// does; the file's mode is what protects it.
#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    identity: &'a str,
    registry: &'a str,
    registry_id: Option<&'a str>,
    region: &'a str,
    fips: bool,
    dual_stack: bool,
    username: &'a str,
    password: &'a str,
    server: &'a str,
    expires_at: u64,
    fetched_at: u64,
}

/// The same, read back. No `Debug`: it holds the password as a plain `String` until it is moved
/// into a `SecretString`.
#[derive(Deserialize)]
struct FileIn {
    version: u32,
    identity: String,
    registry: String,
    registry_id: Option<String>,
    region: String,
    fips: bool,
    dual_stack: bool,
    username: String,
    password: String,
    server: String,
    expires_at: u64,
    fetched_at: u64,
}

impl FileIn {
    fn is_for(&self, key: &CacheKey) -> bool {
        let t: &EcrTarget = &key.target;
        self.identity == key.identity
            && self.registry == t.registry
            && self.registry_id == t.registry_id
            && self.region == t.region
            && self.fips == t.fips
            && self.dual_stack == t.dual_stack
    }
}

impl DiskCache {
    /// How long [`lock`](Self::lock) waits for another process's fetch before fetching without
    /// the lock: longer than one AWS call under the default
    /// [`AwsOptions`](crate::provider::AwsOptions) (30 s per operation).
    pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(45);

    /// `$XDG_CACHE_HOME/registry-auth` when `XDG_CACHE_HOME` is set to an absolute path, else
    /// `$HOME/.cache/registry-auth`; `None` when neither variable helps.
    pub fn default_dir() -> Option<PathBuf> {
        let xdg = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let base = xdg.or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".cache"))
        })?;
        Some(base.join("registry-auth"))
    }

    /// Opens the [default directory](Self::default_dir).
    pub fn open_default() -> Result<Self, Error> {
        let dir = Self::default_dir().ok_or_else(|| {
            Error::io(
                "the disk token cache",
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "neither XDG_CACHE_HOME nor HOME is set to an absolute path",
                ),
            )
        })?;
        Self::open(dir)
    }

    /// Opens the cache directory, creating it (mode `0700`, parents as needed) if it does not
    /// exist.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created, or is refused: a symlink, not a directory, owned by
    /// another user, or writable by group or others. The message names the directory and the
    /// reason.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(dir.display(), e)),
        }
        let uid = rustix::process::geteuid().as_raw();
        let meta = fs::symlink_metadata(&dir).map_err(|e| Error::io(dir.display(), e))?;
        let refusal = if meta.file_type().is_symlink() {
            Some(Refusal::Symlink)
        } else if !meta.is_dir() {
            Some(Refusal::NotRegular)
        } else if meta.uid() != uid {
            Some(Refusal::Owner(meta.uid()))
        } else if meta.mode() & 0o022 != 0 {
            Some(Refusal::Writable(meta.mode()))
        } else {
            None
        };
        if let Some(r) = refusal {
            return Err(refused(&dir, &r));
        }
        if meta.mode() & 0o077 != 0 {
            // Ours and not writable by anyone else: only readable. Tighten it.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(dir.display(), e))?;
            tracing::debug!(dir = %dir.display(), "tightened the token cache directory to 0700");
        }
        Ok(Self {
            dir,
            uid,
            lock_wait: Self::DEFAULT_LOCK_WAIT,
            warned: Arc::default(),
        })
    }

    /// Sets how long [`lock`](Self::lock) waits for another process before going on without
    /// the lock.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `key`'s token (whether or not it exists).
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", file_stem(key)))
    }

    fn lock_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.lock", file_stem(key)))
    }

    /// The stored token for `key`, if there is a readable, trustworthy one for exactly this key.
    ///
    /// Whether it is still fresh enough to serve is the caller's decision
    /// ([`CachePolicy::is_fresh`](crate::cache::CachePolicy::is_fresh)). A refused file is logged
    /// as a warning; an unreadable or foreign one at debug level; all are a miss.
    pub fn load(&self, key: &CacheKey) -> Option<StoredCredential> {
        let path = self.path_for(key);
        let file = match self.open_trusted(&path) {
            Ok(Some(file)) => file,
            Ok(None) => return None,
            Err(Checked::Refused(r)) => {
                let first = self
                    .warned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(path.clone());
                if first {
                    tracing::warn!(
                        file = %path.display(),
                        reason = %r,
                        "refusing the cached registry token file; fetching a new token, which replaces it"
                    );
                }
                return None;
            }
            Err(Checked::Io(e)) => {
                tracing::debug!(file = %path.display(), error = %e, "cannot read the cached token");
                return None;
            }
        };
        let mut text = String::new();
        if let Err(e) = file.take(MAX_FILE_LEN).read_to_string(&mut text) {
            tracing::debug!(file = %path.display(), error = %e, "cannot read the cached token");
            return None;
        }
        // serde_json's messages can quote the input: say only where it broke.
        let stored: FileIn = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(
                    file = %path.display(),
                    line = e.line(),
                    column = e.column(),
                    "the cached token file is not in the expected format; ignoring it"
                );
                return None;
            }
        };
        if stored.version != FORMAT_VERSION || !stored.is_for(key) {
            tracing::debug!(file = %path.display(), "the cached token file is for another key or format; ignoring it");
            return None;
        }
        let credential = RegistryCredential::new(
            stored.username,
            SecretString::from(stored.password),
            stored.server,
            UNIX_EPOCH + Duration::from_secs(stored.expires_at),
        );
        Some(StoredCredential {
            credential,
            fetched_at: UNIX_EPOCH + Duration::from_secs(stored.fetched_at),
        })
    }

    /// Waits (at most the [lock wait](Self::with_lock_wait)) for `key`'s file lock, polling so
    /// the async runtime is never blocked.
    ///
    /// Never fails: on timeout, or when the lock file cannot be opened or is refused, it logs a
    /// warning and returns a guard that holds no lock, and the caller fetches anyway. Needs a
    /// Tokio runtime with the time driver, as the AWS SDK does.
    pub async fn lock(&self, key: &CacheKey) -> DiskLock {
        let path = self.lock_path(key);
        let file = match self.open_lock_file(&path) {
            Ok(file) => file,
            Err(reason) => {
                tracing::warn!(
                    file = %path.display(),
                    reason = %reason,
                    "cannot use the token cache lock file; fetching without it"
                );
                return DiskLock::not_held();
            }
        };
        let started = Instant::now();
        let mut poll = LOCK_POLL_MIN;
        loop {
            match file.try_lock() {
                Ok(()) => return DiskLock { file: Some(file) },
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot lock the token cache; fetching without the lock");
                    return DiskLock::not_held();
                }
            }
            let waited = started.elapsed();
            if waited >= self.lock_wait {
                tracing::warn!(
                    file = %path.display(),
                    waited = ?waited,
                    "another process has held the token cache lock for too long; fetching without it"
                );
                return DiskLock::not_held();
            }
            tokio::time::sleep(poll.min(self.lock_wait - waited)).await;
            poll = (poll * 2).min(LOCK_POLL_MAX);
        }
    }

    /// Stores `credential` for `key` atomically (a temporary file in the directory, then
    /// `rename`), mode `0600`. Replaces whatever was there, a refused file or symlink included.
    /// A credential that had already expired when it was fetched is not written.
    pub fn save(
        &self,
        key: &CacheKey,
        credential: &RegistryCredential,
        fetched_at: SystemTime,
    ) -> Result<(), Error> {
        let path = self.path_for(key);
        if credential.expires_at <= fetched_at {
            tracing::debug!(file = %path.display(), "not caching an already expired token on disk");
            return Ok(());
        }
        let out = FileOut {
            version: FORMAT_VERSION,
            identity: &key.identity,
            registry: &key.target.registry,
            registry_id: key.target.registry_id.as_deref(),
            region: &key.target.region,
            fips: key.target.fips,
            dual_stack: key.target.dual_stack,
            username: &credential.username,
            password: credential.password.expose_secret(),
            server: &credential.server,
            expires_at: unix_secs(credential.expires_at),
            fetched_at: unix_secs(fetched_at),
        };
        let text = SecretString::from(serde_json::to_string(&out).map_err(|_| {
            Error::io(
                path.display(),
                io::Error::other("cannot encode the token file"),
            )
        })?);
        let temp = self.dir.join(temp_name(&path));
        let written = write_new_private(&temp, text.expose_secret().as_bytes())
            .and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(Error::io(path.display(), e));
        }
        Ok(())
    }

    /// Opens `path` without following a symlink and checks what was opened.
    fn open_trusted(&self, path: &Path) -> Result<Option<File>, Checked> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(nofollow())
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if is_symlink_error(&e, path) => return Err(Checked::Refused(Refusal::Symlink)),
            Err(e) => return Err(Checked::Io(e)),
        };
        let meta = file.metadata().map_err(Checked::Io)?;
        if !meta.is_file() {
            return Err(Checked::Refused(Refusal::NotRegular));
        }
        if meta.uid() != self.uid {
            return Err(Checked::Refused(Refusal::Owner(meta.uid())));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(Checked::Refused(Refusal::NotPrivate(meta.mode())));
        }
        Ok(Some(file))
    }

    fn open_lock_file(&self, path: &Path) -> Result<File, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nofollow())
            .open(path)
            .map_err(|e| {
                if is_symlink_error(&e, path) {
                    Refusal::Symlink.to_string()
                } else {
                    e.to_string()
                }
            })?;
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err(Refusal::NotRegular.to_string());
        }
        if meta.uid() != self.uid {
            return Err(Refusal::Owner(meta.uid()).to_string());
        }
        Ok(file)
    }
}

enum Checked {
    Refused(Refusal),
    Io(io::Error),
}

fn refused(path: &Path, r: &Refusal) -> Error {
    Error::io(
        path.display(),
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use it as the token cache: {r}; remove it or fix it (a directory of yours, mode 0700)"),
        ),
    )
}

fn nofollow() -> i32 {
    // O_NOFOLLOW fits in an i32 on every Unix; `custom_flags` wants the C `int`.
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// `O_NOFOLLOW` on a symlink fails with `ELOOP` on Linux and `EMLINK` on some BSDs: check what
/// is there rather than trusting one errno.
fn is_symlink_error(_e: &io::Error, path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nofollow())
        .open(path)?;
    // The mode given to open is masked by the umask; make it exactly 0600.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `.NAME.PID.N.tmp`: unique among the processes and threads writing to the directory.
fn temp_name(path: &Path) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `HOST_REGION[_fips][_dualstack]-HASH`: readable enough to find by hand, unique through a
/// stable hash (FNV-1a, 64 bits) of the whole key. A collision could only make two keys share a
/// file, and [`DiskCache::load`] checks the key stored inside, so it would be a miss.
fn file_stem(key: &CacheKey) -> String {
    let t = &key.target;
    let mut hash = Fnv::new();
    for part in [
        key.identity.as_str(),
        &t.registry,
        t.registry_id.as_deref().unwrap_or(""),
        &t.region,
        if t.fips { "fips" } else { "" },
        if t.dual_stack { "dualstack" } else { "" },
    ] {
        hash.write(part.as_bytes());
        hash.write(&[0]);
    }
    let mut readable = format!("{}_{}", sanitize(&t.registry), sanitize(&t.region));
    if t.fips {
        readable.push_str("_fips");
    }
    if t.dual_stack {
        readable.push_str("_dualstack");
    }
    readable.truncate(150);
    format!("{readable}-{:016x}", hash.0)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits: std's hashers may change between Rust releases, file names must not.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(identity: &str) -> CacheKey {
        let image = crate::reference::ImageReference::parse(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
        )
        .unwrap();
        CacheKey {
            identity: identity.to_owned(),
            target: EcrTarget::for_image(&image, "us-east-1"),
        }
    }

    #[test]
    fn file_names_come_from_the_key_and_differ_by_identity() {
        let a = file_stem(&key("iam-user/AKIAEXAMPLE"));
        let b = file_stem(&key("instance-role/Worker"));
        assert!(
            a.starts_with("123456789012.dkr.ecr.us-east-1.amazonaws.com_us-east-1-"),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(a, file_stem(&key("iam-user/AKIAEXAMPLE")), "stable");
        assert!(!a.contains('/'));
    }

    #[test]
    fn fnv_is_the_published_function() {
        let mut h = Fnv::new();
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }
}
