//! Tokens persisted across short-lived processes: the disk store.
//!
//! Docker runs a credential helper once per pull, and the kubelet runs its credential provider
//! once per image; each is a new process with an empty [`TokenCache`](super::TokenCache). A
//! [`DiskStore`] lets them share tokens: the cache reads it on a miss, and when it has to go
//! upstream it first takes the key's file lock, so that ten pulls started at once make one
//! upstream call between them.
//!
//! # On disk
//!
//! - One directory, `$XDG_CACHE_HOME/registry-auth` or `~/.cache/registry-auth`
//!   ([`DiskStore::default_dir`]), mode `0700`.
//! - `identity.key`, mode `0600`: 32 random bytes (hex) that cache identities' secret parts
//!   are hashed with ([`IdentityKey`]), made on first use. Every process of the user hashes with
//!   it, so they agree on keys; another user cannot compute them.
//! - One JSON file per cache key, mode `0600`, holding the key (identity and registry),
//!   `username`, `password`, `server`, `expires_at` and `fetched_at` (Unix seconds). The name is
//!   made from the registry and a hash of the whole key: never from a secret. Credentials
//!   without an expiry (a plain registry's password) are never written.
//! - Written atomically: a temporary file in the same directory, then `rename`. A reader sees the
//!   old token or the new one, never half of one.
//! - One `.lock` file per key, locked with [`File::try_lock`] (`flock` on Linux) while a process
//!   fetches from upstream. The wait is bounded ([`DiskStore::DEFAULT_LOCK_WAIT`], 45 s: longer
//!   than one bounded upstream call) and polled, so it never blocks the async runtime. **On
//!   timeout the process fetches without the lock**, after a warning: an extra upstream call is
//!   better than a failed pull, and a process that hung while holding the lock cannot stall
//!   every later pull.
//!
//! # What is refused
//!
//! Anything that another user could have written, because a planted token would send pulls to
//! the wrong registry account (or a planted symlink would make us read or write elsewhere):
//!
//! - **The directory** when it is a symlink, not a directory, owned by another user, or writable
//!   by group or others: [`DiskStore::open`] fails, naming the directory and the reason. The
//!   front ends then go on without a disk store (a warning, then every process fetches
//!   upstream). A directory of ours that is merely *readable* by others is tightened to `0700`.
//! - **The key file** when it is not a regular file of ours with mode `0600`: `open` fails.
//!   One of ours that does not hold a key is replaced.
//! - **A token file** that is a symlink, not a regular file, owned by another user, has any
//!   group/other permission bit, or is larger than 64 KiB: [`load`](TokenStore::load) logs a
//!   warning naming the file and the reason, and acts as a miss. A file whose times no clock can
//!   hold is a miss too. The fresh token is then written in its place by `rename`, which
//!   replaces a symlink rather than following it.
//! - **A lock file** that is a symlink or owned by another user: a warning, then the fetch goes
//!   on without the lock.
//!
//! Files are opened with `O_NOFOLLOW` and `O_NONBLOCK`, so a FIFO planted in the directory can
//! never hang a read. Only the cache directory itself is checked, not its parents (`~/.cache`
//! may be a symlink on purpose). Unix only: on other systems there is no disk store, and every
//! process fetches upstream.
//!
//! ```no_run
//! use std::sync::Arc;
//! use registry_auth::cache::DiskStore;
//! use registry_auth::{DefaultResolver, RegistryConfig};
//!
//! # fn main() -> Result<(), registry_auth::Error> {
//! let config = RegistryConfig::load("registries.toml")?;
//! let mut builder = DefaultResolver::builder().config(&config);
//! match DiskStore::open_default() {
//!     Ok(disk) => builder = builder.store(Arc::new(disk)),
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
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{CacheKey, IdentityKey, StoreGuard, StoredToken, TokenStore};
use crate::time::{from_unix_secs, unix_secs};
use crate::{Error, RegistryCredential};

/// A token file larger than this is not ours.
const MAX_FILE_LEN: u64 = 64 * 1024;
/// The file format; a file with another version is a miss (and is overwritten).
const FORMAT_VERSION: u32 = 2;
/// The identity key's file name in the directory.
const KEY_FILE: &str = "identity.key";
/// Polling interval bounds while another process holds a key's lock.
const LOCK_POLL_MIN: Duration = Duration::from_millis(5);
const LOCK_POLL_MAX: Duration = Duration::from_millis(100);

/// A directory of cached tokens shared by the processes of one user; see the
/// [cache documentation](super).
///
/// `Debug` shows the directory and the lock wait; the store holds no token in memory.
#[derive(Clone)]
pub struct DiskStore {
    dir: PathBuf,
    uid: u32,
    lock_wait: Duration,
    identity_key: IdentityKey,
    /// Files already warned about: a refused file is met twice per fetch (before and after
    /// the lock), and one warning says it.
    warned: Arc<Mutex<HashSet<PathBuf>>>,
}

impl fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskStore")
            .field("dir", &self.dir)
            .field("lock_wait", &self.lock_wait)
            .finish_non_exhaustive()
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
    /// A token or key file with any group or other permission.
    NotPrivate(u32),
    TooLarge(u64),
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
                "its mode {:04o} gives group or others access; these files are 0600",
                mode & 0o7777
            ),
            Refusal::TooLarge(len) => write!(f, "it is {len} bytes, more than such a file can be"),
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
    username: String,
    password: String,
    server: String,
    expires_at: u64,
    fetched_at: u64,
}

impl DiskStore {
    /// How long [`lock`](TokenStore::lock) waits for another process's fetch before fetching
    /// without the lock: longer than one AWS call under the default
    /// [`AwsOptions`](crate::aws::AwsOptions) (30 s per operation).
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

    /// Opens the cache directory, creating it (mode `0700`, parents as needed) and its key file
    /// if they do not exist.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created, or is refused: a symlink, not a directory, owned by
    /// another user, or writable by group or others; or when the key file is refused. The
    /// message names the path and the reason.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        Self::open_as(dir.into(), rustix::process::geteuid().as_raw())
    }

    /// [`open`](Self::open), trusting files owned by `uid` (tests use another uid than their
    /// own to see refusals without root).
    pub(crate) fn open_as(dir: PathBuf, uid: u32) -> Result<Self, Error> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(dir.display(), e)),
        }
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
        let mut store = Self {
            dir,
            uid,
            lock_wait: Self::DEFAULT_LOCK_WAIT,
            identity_key: IdentityKey::from_bytes([0; 32]),
            warned: Arc::default(),
        };
        store.identity_key = store.read_or_make_key()?;
        Ok(store)
    }

    /// Sets how long [`lock`](TokenStore::lock) waits for another process before going on
    /// without the lock.
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

    /// The key in `identity.key`, or a new one written there if the file is missing or ours
    /// but holds no key.
    ///
    /// Processes that start at once must agree on one key, or they would file one token under
    /// different names: a new key is written to a temporary file and *linked* into place, which
    /// fails if another process got there first, whose key is then read instead.
    fn read_or_make_key(&self) -> Result<IdentityKey, Error> {
        let path = self.dir.join(KEY_FILE);
        for _ in 0..3 {
            match self.open_trusted(&path) {
                Ok(Some(file)) => {
                    if let Some(key) = read_bounded(file, 128)
                        .ok()
                        .and_then(|text| parse_key(text.expose_secret()))
                    {
                        return Ok(key);
                    }
                    tracing::warn!(file = %path.display(), "the cache's identity key file holds no key; making a new one (cached tokens are fetched again)");
                    let _ = fs::remove_file(&path);
                }
                Ok(None) => {}
                Err(Checked::Refused(r)) => return Err(refused(&path, &r)),
                Err(Checked::Io(e)) => return Err(Error::io(path.display(), e)),
            }
            let key = IdentityKey::random();
            let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let temp = self.dir.join(temp_name(&path));
            let linked =
                write_new_private(&temp, hex.as_bytes()).and_then(|()| fs::hard_link(&temp, &path));
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => return Ok(key),
                // Another process wrote one first: read it.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(path.display(), e)),
            }
        }
        Err(Error::io(
            path.display(),
            io::Error::other("the identity key file keeps changing; is another program writing to the cache directory?"),
        ))
    }

    fn warn_refused(&self, path: &Path, reason: &dyn fmt::Display) {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_path_buf());
        if first {
            tracing::warn!(
                file = %path.display(),
                reason = %reason,
                "refusing the cached registry token file; fetching a new token, which replaces it"
            );
        }
    }

    /// Opens `path` without following a symlink or blocking on a FIFO, and checks what was
    /// opened.
    fn open_trusted(&self, path: &Path) -> Result<Option<File>, Checked> {
        self.open_trusted_up_to(path, MAX_FILE_LEN)
    }

    /// [`open_trusted`](Self::open_trusted) for a file that may hold up to `cap` bytes.
    fn open_trusted_up_to(&self, path: &Path, cap: u64) -> Result<Option<File>, Checked> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(open_flags())
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if is_symlink(path) => {
                let _ = e;
                return Err(Checked::Refused(Refusal::Symlink));
            }
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
        if meta.len() > cap {
            return Err(Checked::Refused(Refusal::TooLarge(meta.len())));
        }
        Ok(Some(file))
    }

    /// The file `name` of the cache directory, open for reading, if it exists and passes the
    /// refusals of a token file (ours, `0600`, regular, no symlink) with `cap` bytes at most. A
    /// refused file is logged and treated as missing.
    #[cfg(feature = "cli")]
    pub(crate) fn open_private(&self, name: &str, cap: u64) -> Option<File> {
        let path = self.dir.join(name);
        match self.open_trusted_up_to(&path, cap) {
            Ok(file) => file,
            Err(Checked::Refused(r)) => {
                self.warn_refused(&path, &r);
                None
            }
            Err(Checked::Io(e)) => {
                tracing::debug!(file = %path.display(), error = %e, "cannot read a cache file");
                None
            }
        }
    }

    /// Writes `bytes` as the file `name` of the cache directory, atomically (a temporary file,
    /// then `rename`), mode `0600`.
    #[cfg(feature = "cli")]
    pub(crate) fn write_private(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.dir.join(name);
        let temp = self.dir.join(temp_name(&path));
        let written = write_new_private(&temp, bytes).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(Error::io(path.display(), e));
        }
        Ok(())
    }

    fn open_lock_file(&self, path: &Path) -> Result<File, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(open_flags())
            .open(path)
            .map_err(|e| {
                if is_symlink(path) {
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

#[async_trait]
impl TokenStore for DiskStore {
    /// The stored token for `key`, if there is a readable, trustworthy one for exactly this key.
    ///
    /// A refused file is logged as a warning; an unreadable or foreign one at debug level; all
    /// are a miss.
    fn load(&self, key: &CacheKey) -> Option<StoredToken> {
        let path = self.path_for(key);
        let file = match self.open_trusted(&path) {
            Ok(Some(file)) => file,
            Ok(None) => return None,
            Err(Checked::Refused(r)) => {
                self.warn_refused(&path, &r);
                return None;
            }
            Err(Checked::Io(e)) => {
                tracing::debug!(file = %path.display(), error = %e, "cannot read the cached token");
                return None;
            }
        };
        let text = match read_bounded(file, MAX_FILE_LEN) {
            Ok(text) => text,
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "cannot read the cached token");
                return None;
            }
        };
        // serde_json's messages can quote the input: say only where it broke.
        let stored: FileIn = match serde_json::from_str(text.expose_secret()) {
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
        if stored.version != FORMAT_VERSION
            || stored.identity != key.identity()
            || stored.registry != key.registry()
        {
            tracing::debug!(file = %path.display(), "the cached token file is for another key or format; ignoring it");
            return None;
        }
        let (Some(expires_at), Some(fetched_at)) = (
            from_unix_secs(stored.expires_at),
            from_unix_secs(stored.fetched_at),
        ) else {
            self.warn_refused(&path, &"its times are beyond what a clock can hold");
            return None;
        };
        let credential = RegistryCredential::new(
            stored.username,
            SecretString::from(stored.password),
            stored.server,
            Some(expires_at),
        );
        Some(StoredToken::new(credential, fetched_at))
    }

    /// Waits (at most the [lock wait](DiskStore::with_lock_wait)) for `key`'s file lock,
    /// polling so the async runtime is never blocked.
    ///
    /// Never fails: on timeout, or when the lock file cannot be opened or is refused, it logs a
    /// warning and returns a guard that holds no lock, and the caller fetches anyway. Needs a
    /// Tokio runtime with the time driver, as the AWS SDK does.
    async fn lock(&self, key: &CacheKey) -> StoreGuard {
        let path = self.lock_path(key);
        let file = match self.open_lock_file(&path) {
            Ok(file) => file,
            Err(reason) => {
                tracing::warn!(
                    file = %path.display(),
                    reason = %reason,
                    "cannot use the token cache lock file; fetching without it"
                );
                return StoreGuard::none();
            }
        };
        // Tokio's clock, which its sleeps follow (and a paused test runtime moves).
        let started = tokio::time::Instant::now();
        let mut poll = LOCK_POLL_MIN;
        loop {
            match file.try_lock() {
                Ok(()) => return StoreGuard::holding(file),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot lock the token cache; fetching without the lock");
                    return StoreGuard::none();
                }
            }
            let waited = started.elapsed();
            if waited >= self.lock_wait {
                tracing::warn!(
                    file = %path.display(),
                    waited = ?waited,
                    "another process has held the token cache lock for too long; fetching without it"
                );
                return StoreGuard::none();
            }
            tokio::time::sleep(poll.min(self.lock_wait - waited)).await;
            poll = (poll * 2).min(LOCK_POLL_MAX);
        }
    }

    /// Stores `token` for `key` atomically (a temporary file in the directory, then `rename`),
    /// mode `0600`. Replaces whatever was there, a refused file or symlink included. A token
    /// without an expiry, or already expired when it was fetched, is not written.
    fn save(&self, key: &CacheKey, token: &StoredToken) -> Result<(), Error> {
        let path = self.path_for(key);
        let credential = &token.credential;
        let Some(expires_at) = credential.expires_at().filter(|&at| at > token.fetched_at) else {
            tracing::debug!(file = %path.display(), "not keeping a token without a future expiry on disk");
            return Ok(());
        };
        let out = FileOut {
            version: FORMAT_VERSION,
            identity: key.identity(),
            registry: key.registry(),
            username: credential.username(),
            password: credential.expose_password(),
            server: credential.server(),
            expires_at: unix_secs(expires_at),
            fetched_at: unix_secs(token.fetched_at),
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

    fn identity_key(&self) -> IdentityKey {
        self.identity_key.clone()
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
            format!("refusing to use it for the token cache: {r}; remove it or fix it (a directory of yours, mode 0700; files of yours, mode 0600)"),
        ),
    )
}

/// At most `cap` bytes of `file`, as text held as a secret; more is an error.
fn read_bounded(file: File, cap: u64) -> io::Result<SecretString> {
    let mut text = String::new();
    file.take(cap + 1).read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(io::Error::other(format!("longer than {cap} bytes")));
    }
    Ok(SecretString::from(text))
}

fn parse_key(text: &str) -> Option<IdentityKey> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(IdentityKey::from_bytes(bytes))
}

/// `O_NOFOLLOW | O_NONBLOCK`: never follow a symlink, never wait on a FIFO.
fn open_flags() -> i32 {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    // Both fit in an i32 on every Unix; `custom_flags` wants the C `int`.
    i32::try_from(flags.bits()).unwrap_or(0)
}

/// `O_NOFOLLOW` on a symlink fails with `ELOOP` on Linux and `EMLINK` on some BSDs: check what
/// is there rather than trusting one errno.
fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(open_flags())
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

/// `REGISTRY-HASH`: readable enough to find by hand, unique through a stable hash (FNV-1a, 64
/// bits) of the whole key. A collision could only make two keys share a file, and
/// [`DiskStore::load`](TokenStore::load) checks the key stored inside, so it would be a miss.
fn file_stem(key: &CacheKey) -> String {
    let mut hash = Fnv::new();
    for part in [key.identity(), key.registry()] {
        hash.write(part.as_bytes());
        hash.write(&[0]);
    }
    let mut readable: String = key
        .registry()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    readable.truncate(150);
    format!("{readable}-{:016x}", hash.0)
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
mod tests;
