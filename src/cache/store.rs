//! The cache's second tier: a [`TokenStore`] keeps tokens where other processes find them.

use std::any::Any;
use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{CacheKey, IdentityKey};
use crate::{Error, RegistryCredential};

/// A token as a store keeps it: the credential and when it was fetched from upstream.
///
/// `Debug` never shows the password (see [`RegistryCredential`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredToken {
    /// The credential.
    pub credential: RegistryCredential,
    /// When it was fetched from upstream.
    pub fetched_at: SystemTime,
}

impl StoredToken {
    /// A token fetched at `fetched_at`.
    pub fn new(credential: RegistryCredential, fetched_at: SystemTime) -> Self {
        Self {
            credential,
            fetched_at,
        }
    }
}

/// Held while one process fetches a key's token; dropping it lets the others in. A guard may
/// hold nothing (the store could not lock, or has no locks).
pub struct StoreGuard(Option<Box<dyn Any + Send + Sync>>);

impl Default for StoreGuard {
    /// [`StoreGuard::none`]: a guard holding no lock.
    fn default() -> Self {
        Self::none()
    }
}

impl StoreGuard {
    /// A guard holding `lock` until it is dropped.
    pub fn holding(lock: impl Any + Send + Sync) -> Self {
        Self(Some(Box::new(lock)))
    }

    /// A guard holding no lock: the caller fetches anyway.
    pub fn none() -> Self {
        Self(None)
    }

    /// Whether the guard holds a lock.
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for StoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreGuard").field(&self.is_held()).finish()
    }
}

/// A second tier behind the in-memory [`TokenCache`](super::TokenCache): tokens kept where other
/// processes (docker's one helper process per pull) find them.
///
/// The cache asks it on a miss, takes its lock before going upstream (so concurrent processes
/// make one upstream call between them), and saves what upstream gave. Whether a stored token is
/// fresh enough is the cache's decision, by its [`CachePolicy`](super::CachePolicy).
/// [`DiskStore`](super::DiskStore) is the one this crate ships.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The stored token for `key`, if there is a trustworthy one for exactly this key. Never
    /// fails: a store that cannot read says why in a log line and answers `None`.
    fn load(&self, key: &CacheKey) -> Option<StoredToken>;

    /// Waits for `key`'s cross-process lock, for a bounded time.
    async fn lock(&self, key: &CacheKey) -> StoreGuard;

    /// Keeps `token` for `key`, replacing what was there.
    fn save(&self, key: &CacheKey, token: &StoredToken) -> Result<(), Error>;

    /// The key that identities are hashed with: the same for every process using this store,
    /// so that they file a token under the same [`CacheKey`].
    fn identity_key(&self) -> IdentityKey;
}
