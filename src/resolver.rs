//! From an image reference to a registry credential.
//!
//! [`RegistryResolver`] is the seam an embedding tool programs against;
//! [`DefaultResolver`] is the implementation built from registry entries: it picks the best
//! entry for the image, asks that entry's [`CredentialProvider`] for a token on a cache miss,
//! and serves tokens from one [`TokenCache`] until shortly before they expire.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::cache::{CachePolicy, Clock, SystemClock, TokenCache};
use crate::config::{CredentialSource, RegistryConfig};
use crate::disk_cache::DiskCache;
use crate::index::PatternIndex;
use crate::pattern::{self, Explanation, MatchPattern};
use crate::provider::{
    AwsOptions, CredentialProvider, EcrTarget, IamUserProvider, InstanceRoleProvider,
};
use crate::reference::ImageReference;
use crate::{Error, RegistryCredential};

/// Resolves an image reference to a registry credential.
#[async_trait]
pub trait RegistryResolver: Send + Sync {
    /// The credential for `image`, from the best-matching registry entry.
    async fn resolve(&self, image: &ImageReference) -> Result<RegistryCredential, Error>;

    /// Parses `image`, then resolves it.
    async fn resolve_str(&self, image: &str) -> Result<RegistryCredential, Error> {
        let image = ImageReference::parse(image)?;
        self.resolve(&image).await
    }
}

/// What a cached token is filed under: who asked (the provider's identity, never a secret)
/// and where (account, region, endpoint variant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The provider's [`identity`](CredentialProvider::identity).
    pub identity: String,
    /// Registry, account, region and endpoint variant.
    pub target: EcrTarget,
}

/// One entry as the resolver holds it.
struct Slot {
    pattern: MatchPattern,
    region: String,
    provider: Arc<dyn CredentialProvider>,
}

/// The resolver built from registry entries: best match, then cached provider tokens.
///
/// ```no_run
/// use registry_auth::config::RegistryConfig;
/// use registry_auth::resolver::{DefaultResolver, RegistryResolver};
/// use secrecy::ExposeSecret;
///
/// # async fn run() -> Result<(), registry_auth::Error> {
/// let config = RegistryConfig::load("examples/registries.toml")?;
/// let resolver = DefaultResolver::builder().config(&config)?.build()?;
/// let login = resolver
///     .resolve_str("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0")
///     .await?;
/// println!("docker login -u {} --password-stdin {}", login.username, login.server);
/// # let _ = login.password.expose_secret();
/// # Ok(()) }
/// ```
pub struct DefaultResolver {
    slots: Vec<Slot>,
    index: PatternIndex,
    cache: TokenCache<CacheKey>,
    disk: Option<DiskCache>,
}

impl fmt::Debug for DefaultResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultResolver")
            .field("entries", &self.slots.len())
            .field("cache", &self.cache)
            .finish()
    }
}

impl DefaultResolver {
    /// A builder: add entries, then [`build`](DefaultResolverBuilder::build).
    pub fn builder() -> DefaultResolverBuilder {
        DefaultResolverBuilder::default()
    }

    /// The position of the entry that serves `image`, with its pattern.
    pub fn select(&self, image: &ImageReference) -> Option<(usize, &MatchPattern)> {
        self.index
            .best_match(image)
            .map(|i| (i, &self.slots[i].pattern))
    }

    /// Every entry whose pattern matches `image`, the winner, and why.
    pub fn explain(&self, image: &ImageReference) -> Explanation {
        pattern::explain(self.slots.iter().map(|s| &s.pattern), image)
    }

    /// The token cache, e.g. to [`invalidate`](TokenCache::invalidate) after a registry
    /// rejected a token.
    pub fn cache(&self) -> &TokenCache<CacheKey> {
        &self.cache
    }

    /// The cache key and provider for `image`'s best entry.
    fn route(
        &self,
        image: &ImageReference,
    ) -> Result<(CacheKey, &Arc<dyn CredentialProvider>), Error> {
        let (i, _) = self.select(image).ok_or_else(|| Error::NoMatch {
            image: image.as_str().to_owned(),
        })?;
        let slot = &self.slots[i];
        let target = EcrTarget::for_image(image, &slot.region);
        let key = CacheKey {
            identity: slot.provider.identity(),
            target,
        };
        Ok((key, &slot.provider))
    }
}

#[async_trait]
impl RegistryResolver for DefaultResolver {
    async fn resolve(&self, image: &ImageReference) -> Result<RegistryCredential, Error> {
        let (key, provider) = self.route(image)?;
        self.cache
            .get_or_fetch(&key, || self.fetch(&key, provider.as_ref()))
            .await
    }
}

impl DefaultResolver {
    /// A cache miss or refresh: from the disk cache when another process left a fresh token
    /// there, otherwise from upstream, holding the key's file lock so that concurrent processes
    /// make one upstream call between them.
    async fn fetch(
        &self,
        key: &CacheKey,
        provider: &dyn CredentialProvider,
    ) -> Result<RegistryCredential, Error> {
        let Some(disk) = &self.disk else {
            return provider.fetch(&key.target).await;
        };
        let policy = self.cache.policy();
        let fresh = |disk: &DiskCache| {
            let now = self.cache.clock().now();
            disk.load(key)
                .filter(|s| policy.is_fresh(s.fetched_at, s.credential.expires_at, now))
                .map(|s| s.credential)
        };
        if let Some(c) = fresh(disk) {
            return Ok(c);
        }
        let _lock = disk.lock(key).await?;
        if let Some(c) = fresh(disk) {
            return Ok(c);
        }
        let fetched_at = self.cache.clock().now();
        let credential = provider.fetch(&key.target).await?;
        if let Err(e) = disk.save(key, &credential, fetched_at) {
            tracing::warn!(error = %e, "could not write the disk token cache; going on without it");
        }
        Ok(credential)
    }
}

/// Builds a [`DefaultResolver`].
pub struct DefaultResolverBuilder {
    slots: Vec<Slot>,
    aws: AwsOptions,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    disk: Option<DiskCache>,
}

impl Default for DefaultResolverBuilder {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            aws: AwsOptions::default(),
            policy: CachePolicy::default(),
            clock: Arc::new(SystemClock),
            disk: None,
        }
    }
}

impl DefaultResolverBuilder {
    /// Endpoint, timeouts and retries for the built-in AWS providers. Set it before
    /// [`config`](Self::config): entries take the options in force when they are added.
    pub fn aws_options(mut self, options: AwsOptions) -> Self {
        self.aws = options;
        self
    }

    /// When tokens are refreshed and how failed refreshes back off.
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where time comes from; tests pass a [`ManualClock`](crate::cache::ManualClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Also keep tokens on disk, for short-lived processes such as a docker credential helper
    /// that runs once per pull.
    pub fn disk_cache(mut self, disk: DiskCache) -> Self {
        self.disk = Some(disk);
        self
    }

    /// Adds every entry of `config`, in order, each with its built-in provider.
    pub fn config(mut self, config: &RegistryConfig) -> Result<Self, Error> {
        if !config.has_secrets() {
            return Err(Error::Builder(
                "this configuration was loaded with RegistryConfig::load_patterns, which does not read secrets; load it with RegistryConfig::load to resolve credentials".into(),
            ));
        }
        for e in config.entries() {
            let provider: Arc<dyn CredentialProvider> = match &e.source {
                CredentialSource::IamUser(u) => {
                    Arc::new(IamUserProvider::from_config(u, self.aws.clone()))
                }
                CredentialSource::InstanceRole(r) => {
                    Arc::new(InstanceRoleProvider::from_config(r, self.aws.clone())?)
                }
            };
            self = self.entry(e.pattern.clone(), e.source.region(), provider);
        }
        Ok(self)
    }

    /// Adds one entry with any provider, an embedder's own included. `region` is used for
    /// images whose host is not an ECR hostname.
    pub fn entry(
        mut self,
        pattern: MatchPattern,
        region: impl Into<String>,
        provider: Arc<dyn CredentialProvider>,
    ) -> Self {
        self.slots.push(Slot {
            pattern,
            region: region.into(),
            provider,
        });
        self
    }

    /// The resolver; fails when two entries have the same pattern.
    pub fn build(self) -> Result<DefaultResolver, Error> {
        let mut seen = std::collections::HashMap::new();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(first) = seen.insert(s.pattern.as_str(), i) {
                return Err(Error::Builder(format!(
                    "entries {first} and {i} have the same pattern {:?}; merge them or narrow one",
                    s.pattern.as_str()
                )));
            }
        }
        let index = PatternIndex::new(self.slots.iter().map(|s| s.pattern.clone()));
        Ok(DefaultResolver {
            slots: self.slots,
            index,
            cache: TokenCache::new(self.policy, self.clock),
            disk: self.disk,
        })
    }
}
