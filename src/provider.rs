//! The seam between the resolver and where credentials come from.
//!
//! A [`CredentialProvider`] knows one kind of registry and one source of credentials for it:
//! [`aws::IamUserProvider`](crate::aws::IamUserProvider) gets ECR tokens with an access key,
//! [`basic::BasicProvider`](crate::basic::BasicProvider) hands out a username and password.
//! The resolver gives it only a [`RegistryTarget`] (the registry host and port, and the image
//! when the caller knows it); everything about the registry kind (for ECR: the account, region
//! and endpoint variant its host names) is the provider's business.
//!
//! A provider makes one upstream call per [`fetch`](CredentialProvider::fetch) and never
//! caches: the resolver puts every provider behind one
//! [`TokenCache`](crate::cache::TokenCache), filed under the provider's
//! [`identity`](CredentialProvider::identity) and the registry, so tokens are cached,
//! refreshed ahead and single-flighted whatever the provider.
//!
//! # Writing a provider
//!
//! Implement the two methods, then hand the provider to
//! [`DefaultResolverBuilder::provider_entry`](crate::DefaultResolverBuilder::provider_entry):
//!
//! ```
//! use registry_auth::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
//! use registry_auth::{async_trait, Error, RegistryCredential};
//! use secrecy::SecretString;
//!
//! /// A registry that takes a fixed robot account's token.
//! #[derive(Debug)]
//! struct Robot {
//!     name: String,
//!     token: SecretString,
//! }
//!
//! #[async_trait]
//! impl CredentialProvider for Robot {
//!     async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
//!         // A real provider calls its registry's token service here.
//!         Ok(RegistryCredential::new(&self.name, self.token.clone(), target.server(), None))
//!     }
//!
//!     fn identity(&self) -> CacheIdentity {
//!         // Two entries share cached tokens only if they hold the same secret.
//!         CacheIdentity::new("robot").with("name", &self.name).with_secret(&self.token)
//!     }
//! }
//! ```
//!
//! - **Identity.** Name everything that makes two providers' tokens differ: the account, the
//!   endpoint, the role. Secret material goes in [`CacheIdentity::with_secret`], which the cache
//!   turns into a keyed hash (HMAC-SHA-256 with a key of its own), so an entry that merely
//!   *names* another's account never gets its tokens, and no secret reaches a cache key, a log
//!   line or a file name.
//! - **Errors.** Return [`Error::credentials`] when the registry refused the credentials and
//!   [`Error::upstream`] when it failed; never put a response body or a header value in the
//!   message (they can hold tokens).
//! - **Expiry.** Set `expires_at` from what upstream said; the cache refreshes ahead of it,
//!   never serves past it, and clamps a claimed lifetime above
//!   [`CachePolicy::max_lifetime`](crate::cache::CachePolicy::max_lifetime). `None` means the
//!   password does not expire; such credentials are never written to the disk cache.
//! - **Runtime.** `fetch` runs on the caller's Tokio runtime.
//!
//! `examples/custom_provider.rs` is a whole one, tested against a real registry.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::reference::ImageReference;
use crate::{Error, RegistryCredential};

/// A source of registry credentials for one registry entry.
#[async_trait]
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// Gets a fresh credential for `target` from upstream. Called only on a cache miss or a
    /// refresh, at most once at a time per cache key.
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error>;

    /// Who the credentials belong to, for the cache key. Asked once per entry.
    fn identity(&self) -> CacheIdentity;
}

/// Where a credential is wanted: a registry host and port, and the image when the caller knows
/// it (the docker credential helper protocol names only the registry).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RegistryTarget<'a> {
    host: &'a str,
    port: Option<u16>,
    image: Option<&'a ImageReference>,
}

impl<'a> RegistryTarget<'a> {
    /// The registry serving `image`.
    pub fn for_image(image: &'a ImageReference) -> Self {
        Self {
            host: image.host(),
            port: image.port(),
            image: Some(image),
        }
    }

    /// A registry named by host and port alone.
    pub fn for_host(host: &'a str, port: Option<u16>) -> Self {
        Self {
            host,
            port,
            image: None,
        }
    }

    /// The registry host as the image names it (compare it ASCII-case-insensitively).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The registry port, if the image names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The image, when the caller named one.
    pub fn image(&self) -> Option<&'a ImageReference> {
        self.image
    }

    /// `HOST[:PORT]`, lowercased: the registry as docker's configuration names it.
    pub fn registry(&self) -> String {
        let host = self.host.to_ascii_lowercase();
        match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// `https://HOST[:PORT]`: the server a login is for.
    pub fn server(&self) -> String {
        format!("https://{}", self.registry())
    }
}

/// Who a provider's credentials belong to: public parts in the clear, secret parts only ever as
/// a keyed hash.
///
/// The public parts read as `KIND name=value ...` in cache keys, log lines and the disk cache
/// (`iam-user key=AKIAIOSFODNN7EXAMPLE endpoint=default`). The secret parts are hashed with the
/// cache's key (HMAC-SHA-256) and never printed; `Debug` shows only how many there are.
///
/// ```
/// use registry_auth::provider::CacheIdentity;
///
/// let id = CacheIdentity::new("robot")
///     .with("name", "ci")
///     .with_secret(&"t0ken".into());
/// assert_eq!(id.public(), "robot name=ci");
/// assert!(!format!("{id:?}").contains("t0ken"));
/// ```
#[derive(Clone)]
pub struct CacheIdentity {
    public: String,
    secrets: Vec<SecretString>,
}

impl CacheIdentity {
    /// An identity of this kind of source (`iam-user`, `basic`, ...).
    pub fn new(kind: &str) -> Self {
        Self {
            public: kind.to_owned(),
            secrets: Vec::new(),
        }
    }

    /// Adds a public part: something that makes tokens differ and may be shown.
    pub fn with(mut self, name: &str, value: impl fmt::Display) -> Self {
        use fmt::Write as _;
        let _ = write!(self.public, " {name}={value}");
        self
    }

    /// Adds secret material: only a keyed hash of it is ever part of a cache key.
    pub fn with_secret(mut self, secret: &SecretString) -> Self {
        self.secrets.push(secret.clone());
        self
    }

    /// Adds every part of `base`, as `name=(...)`: for a source layered on another (a role
    /// assumed with another source's credentials).
    pub fn with_base(mut self, name: &str, base: &CacheIdentity) -> Self {
        use fmt::Write as _;
        let _ = write!(self.public, " {name}=({})", base.public);
        self.secrets.extend(base.secrets.iter().cloned());
        self
    }

    /// The public parts.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The secret parts, for the cache to hash.
    pub(crate) fn secrets(&self) -> &[SecretString] {
        &self.secrets
    }
}

impl fmt::Debug for CacheIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (+{} secret part(s))",
            self.public,
            self.secrets.len()
        )
    }
}
