//! STUB: being written (issue 5): tokens persisted across short-lived processes.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::resolver::CacheKey;
use crate::{Error, RegistryCredential};

/// A directory of cached tokens shared by processes of one user.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

/// A token read back from disk, with when it was fetched.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// The credential.
    pub credential: RegistryCredential,
    /// When it was fetched from upstream.
    pub fetched_at: SystemTime,
}

/// Held while one process fetches a key's token; dropping it lets the others in.
#[derive(Debug)]
pub struct DiskLock {
    _file: std::fs::File,
}

impl DiskCache {
    /// Opens (creating, mode 0700) the cache directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        Ok(Self { dir: dir.into() })
    }

    /// The cache directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The stored token for `key`, if there is a readable, trustworthy one.
    pub fn load(&self, _key: &CacheKey) -> Option<StoredCredential> {
        None
    }

    /// Waits for the key's lock.
    pub async fn lock(&self, _key: &CacheKey) -> Result<DiskLock, Error> {
        Err(Error::Unsupported("disk cache not written yet".into()))
    }

    /// Stores `credential` for `key` atomically, mode 0600.
    pub fn save(
        &self,
        _key: &CacheKey,
        _credential: &RegistryCredential,
        _fetched_at: SystemTime,
    ) -> Result<(), Error> {
        Ok(())
    }
}
