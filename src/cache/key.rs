//! What a cached token is filed under, and the key that hashes identities' secret parts.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use crate::provider::CacheIdentity;

/// What a cached token is filed under: who asked (the provider's identity: public parts, and a
/// keyed hash of its secret parts) and which registry (`HOST[:PORT]`, lowercased).
///
/// `Debug` is one short line, since it names the key in log lines:
/// `iam-user key=AKIA… secret=3f1c… @ 123456789012.dkr.ecr.us-east-1.amazonaws.com`.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey {
    identity: Arc<str>,
    registry: Box<str>,
}

impl CacheKey {
    /// The key for `identity` (as [`IdentityKey::digest`] makes it) at `registry`
    /// (`HOST[:PORT]`, compared ASCII-case-insensitively).
    pub fn new(identity: impl Into<Arc<str>>, registry: &str) -> Self {
        Self {
            identity: identity.into(),
            registry: registry.to_ascii_lowercase().into_boxed_str(),
        }
    }

    /// The identity part.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The registry part, lowercased.
    pub fn registry(&self) -> &str {
        &self.registry
    }
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef(&self.identity, &self.registry).hash(state)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @ {}", self.identity, self.registry)
    }
}

/// A borrowed key, for lookups that allocate nothing. The registry must be lowercase already.
#[derive(Hash)]
pub(crate) struct KeyRef<'a>(pub(crate) &'a str, pub(crate) &'a str);

impl hashbrown::Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        *key.identity == *self.0 && *key.registry == *self.1
    }
}

/// The key that [`CacheIdentity`] secret parts are hashed with (HMAC-SHA-256), so a cache key
/// proves who holds a secret without containing it or an unkeyed hash of it.
///
/// Random per process for the in-memory cache; for a cache shared through a
/// [`TokenStore`](crate::cache::TokenStore), the store keeps one (the disk store in a `0600`
/// file), so that every process of the user files a token under the same key. `Debug` shows
/// nothing of it.
#[derive(Clone)]
pub struct IdentityKey([u8; 32]);

impl IdentityKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS random source (never seen on a supported system): std's per-process random
            // hash keys still make the key unpredictable to another process.
            use std::hash::BuildHasher;
            let state = std::hash::RandomState::new();
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let word = state.hash_one((i, std::process::id(), std::time::SystemTime::now()));
                chunk.copy_from_slice(&word.to_le_bytes());
            }
        }
        Self(bytes)
    }

    /// A key from its bytes (a store reading its key file).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes (a store writing its key file).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The identity as a cache key's identity part: the public parts, then, when there are
    /// secret parts, `secret=` and the first 16 bytes of their HMAC, in hex.
    pub fn digest(&self, identity: &CacheIdentity) -> Arc<str> {
        let secrets = identity.secrets();
        if secrets.is_empty() {
            return identity.public().into();
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        for secret in secrets {
            let bytes = secret.expose_secret().as_bytes();
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        }
        let tag = mac.finalize().into_bytes();
        let hex: String = tag[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{} secret={hex}", identity.public()).into()
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn digests_differ_by_secret_and_by_key_and_never_hold_the_secret() {
        let id = |secret: &str| {
            CacheIdentity::new("iam-user")
                .with("key", "AKIA")
                .with_secret(&secret.into())
        };
        let k1 = IdentityKey::from_bytes([1; 32]);
        let k2 = IdentityKey::from_bytes([2; 32]);
        let a = k1.digest(&id("right"));
        assert!(a.starts_with("iam-user key=AKIA secret="), "{a}");
        assert_eq!(a.len(), "iam-user key=AKIA secret=".len() + 32);
        assert_eq!(a, k1.digest(&id("right")), "stable");
        assert_ne!(a, k1.digest(&id("wrong")), "another secret");
        assert_ne!(a, k2.digest(&id("right")), "another key");
        assert!(!a.contains("right"));
        assert_eq!(
            &*k1.digest(&CacheIdentity::new("basic").with("entry", 3)),
            "basic entry=3"
        );
        // Length-prefixed: moving bytes between two secrets changes the digest.
        let two = |a: &str, b: &str| {
            CacheIdentity::new("x")
                .with_secret(&a.into())
                .with_secret(&b.into())
        };
        assert_ne!(k1.digest(&two("ab", "c")), k1.digest(&two("a", "bc")));
    }

    #[test]
    fn a_borrowed_key_finds_the_owned_one() {
        let key = CacheKey::new("id", "Registry.Example:5000");
        assert_eq!(key.registry(), "registry.example:5000");
        let state = std::hash::RandomState::new();
        let probe = KeyRef("id", "registry.example:5000");
        assert_eq!(state.hash_one(&key), state.hash_one(&probe));
        assert!(hashbrown::Equivalent::equivalent(&probe, &key));
        assert!(!hashbrown::Equivalent::equivalent(
            &KeyRef("id", "other"),
            &key
        ));
        assert!(!format!("{:?}", IdentityKey::from_bytes([7; 32])).contains('7'));
    }
}
