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
use crate::scope::{EntryScope, ResolveContext};
use crate::{Error, RegistryCredential};

/// Resolves an image reference to a registry credential.
#[async_trait]
pub trait RegistryResolver: Send + Sync {
    /// The credential for `image`, from the best-matching entry that `context` may use (see
    /// [`scope`](crate::scope)).
    async fn resolve_in(
        &self,
        context: &ResolveContext,
        image: &ImageReference,
    ) -> Result<RegistryCredential, Error>;

    /// The credential for `image`, from the best-matching entry, with no scope applied: for
    /// single-tenant embedders where every entry belongs to whoever asks.
    async fn resolve(&self, image: &ImageReference) -> Result<RegistryCredential, Error> {
        self.resolve_in(&ResolveContext::unscoped(), image).await
    }

    /// Parses `image`, then resolves it.
    async fn resolve_str(&self, image: &str) -> Result<RegistryCredential, Error> {
        let image = ImageReference::parse(image)?;
        self.resolve(&image).await
    }
}

/// What a cached token is filed under: who asked (the provider's identity, never a secret)
/// and where (account, region, endpoint variant).
///
/// `Debug` is one short line, since it names the key in log lines:
/// `iam-user/AKIA… @ 123456789012.dkr.ecr.us-east-1.amazonaws.com (us-east-1, registry 123456789012)`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The provider's [`identity`](CredentialProvider::identity).
    pub identity: String,
    /// Registry, account, region and endpoint variant.
    pub target: EcrTarget,
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        write!(f, "{} @ {} ({}", self.identity, t.registry, t.region)?;
        if let Some(id) = &t.registry_id {
            write!(f, ", registry {id}")?;
        }
        if t.fips {
            f.write_str(", fips")?;
        }
        if t.dual_stack {
            f.write_str(", dual-stack")?;
        }
        f.write_str(")")
    }
}

/// One entry as the resolver holds it.
struct Slot {
    pattern: MatchPattern,
    region: String,
    scope: EntryScope,
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

    /// The position of the entry that serves `image`, with its pattern, with no scope applied.
    pub fn select(&self, image: &ImageReference) -> Option<(usize, &MatchPattern)> {
        self.index
            .best_match(image)
            .map(|i| (i, &self.slots[i].pattern))
    }

    /// The position of the best entry for `image` that `context` may use, with its pattern.
    ///
    /// A personal project's context is an error: private registries are for organisation
    /// projects. The index filters candidates by scope without allocating.
    pub fn select_in(
        &self,
        context: &ResolveContext,
        image: &ImageReference,
    ) -> Result<Option<(usize, &MatchPattern)>, Error> {
        if context.is_personal() {
            return Err(Error::PersonalProject {
                image: image.as_str().to_owned(),
            });
        }
        Ok(self
            .index
            .best_match_by(image, |i| self.slots[i].scope.check(context).is_ok())
            .map(|i| (i, &self.slots[i].pattern)))
    }

    /// Every entry whose pattern matches `image`, the winner among those `context` may use,
    /// and why each candidate won, lost or was ruled out.
    pub fn explain_in(&self, context: &ResolveContext, image: &ImageReference) -> Explanation {
        pattern::explain_by(self.slots.iter().map(|s| &s.pattern), image, |i| {
            self.slots[i]
                .scope
                .check(context)
                .err()
                .map(|d| d.to_string())
        })
    }

    /// The entry that serves a registry when only its host is known, as in the docker credential
    /// helper protocol, which names a registry and never an image.
    ///
    /// The candidates are the entries whose host and port fit `host`/`port`, whatever their
    /// path. The best is chosen by the host half of the best-match rule (fewer wildcard host
    /// labels, then more literal host characters), then an entry that serves the whole host (no
    /// path, or `*`) over one that narrows by path, then the entry listed first. So with
    /// `HOST/*` and `HOST/team/*` both configured, `HOST/*` serves; with only `HOST/team/*`, it
    /// serves every image on the host, since the caller cannot tell images apart. No scope is
    /// applied, as with [`select`](Self::select).
    pub fn select_host(&self, host: &str, port: Option<u16>) -> Option<(usize, &MatchPattern)> {
        pattern::best_for_host(self.slots.iter().map(|s| &s.pattern), host, port)
            .map(|i| (i, &self.slots[i].pattern))
    }

    /// The credential for the registry `HOST[:PORT]` (no scheme, no path), from the entry
    /// [`select_host`](Self::select_host) picks, through the same caches as
    /// [`resolve`](RegistryResolver::resolve).
    pub async fn resolve_host(&self, registry: &str) -> Result<RegistryCredential, Error> {
        // Any image on the registry gives its target: the account, region and endpoint variant
        // come from the host alone.
        let probe = ImageReference::parse(&format!("{registry}/x"))
            .ok()
            .filter(|image| image.domain().eq_ignore_ascii_case(registry))
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "{registry:?} is not a registry host: expected HOST[:PORT], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com"
                ))
            })?;
        let (i, _) = self
            .select_host(probe.host(), probe.port())
            .ok_or_else(|| Error::NoMatch {
                image: registry.to_owned(),
            })?;
        let (key, provider) = self.route_to(i, &probe);
        self.cache
            .get_or_fetch(&key, || self.fetch(&key, provider.as_ref()))
            .await
    }

    /// Every entry's pattern, in configuration order.
    pub fn patterns(&self) -> &[MatchPattern] {
        self.index.patterns()
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

    /// The cache key and provider for `image`'s best entry that `context` may use.
    fn route(
        &self,
        context: &ResolveContext,
        image: &ImageReference,
    ) -> Result<(CacheKey, &Arc<dyn CredentialProvider>), Error> {
        match self.select_in(context, image)? {
            Some((i, _)) => Ok(self.route_to(i, image)),
            None => Err(self.no_entry(context, image)),
        }
    }

    /// No permitted entry: say which entries matched but were ruled out, if any.
    fn no_entry(&self, context: &ResolveContext, image: &ImageReference) -> Error {
        let ruled_out: Vec<String> = self
            .explain_in(context, image)
            .candidates
            .into_iter()
            .filter(|c| c.ruled_out)
            .map(|c| format!("registry[{}] {}", c.index, c.reason))
            .collect();
        if ruled_out.is_empty() {
            Error::NoMatch {
                image: image.as_str().to_owned(),
            }
        } else {
            Error::OutOfScope {
                image: image.as_str().to_owned(),
                context: context.to_string(),
                ruled_out: ruled_out.join("; "),
            }
        }
    }

    /// The cache key and provider of entry `i` for `image`.
    fn route_to(
        &self,
        i: usize,
        image: &ImageReference,
    ) -> (CacheKey, &Arc<dyn CredentialProvider>) {
        let slot = &self.slots[i];
        let target = EcrTarget::for_image(image, &slot.region);
        let key = CacheKey {
            identity: slot.provider.identity(),
            target,
        };
        (key, &slot.provider)
    }
}

#[async_trait]
impl RegistryResolver for DefaultResolver {
    async fn resolve_in(
        &self,
        context: &ResolveContext,
        image: &ImageReference,
    ) -> Result<RegistryCredential, Error> {
        let (key, provider) = self.route(context, image)?;
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
        let _lock = disk.lock(key).await;
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
            self = self.scoped_entry(
                e.pattern.clone(),
                e.source.region(),
                e.scope.clone(),
                provider,
            );
        }
        Ok(self)
    }

    /// Adds one entry with any provider, an embedder's own included. `region` is used for
    /// images whose host is not an ECR hostname.
    pub fn entry(
        self,
        pattern: MatchPattern,
        region: impl Into<String>,
        provider: Arc<dyn CredentialProvider>,
    ) -> Self {
        self.scoped_entry(pattern, region, EntryScope::default(), provider)
    }

    /// Adds one entry that only requests within `scope` may use.
    pub fn scoped_entry(
        mut self,
        pattern: MatchPattern,
        region: impl Into<String>,
        scope: EntryScope,
        provider: Arc<dyn CredentialProvider>,
    ) -> Self {
        self.slots.push(Slot {
            pattern,
            region: region.into(),
            scope,
            provider,
        });
        self
    }

    /// The resolver; fails when an entry could never be used (an earlier entry has the same
    /// pattern and a scope that covers it).
    pub fn build(self) -> Result<DefaultResolver, Error> {
        if let Some((i, first)) =
            crate::config::shadowed(self.slots.iter().map(|s| (&s.pattern, &s.scope)))
        {
            return Err(Error::Builder(format!(
                "entry {i} ({:?}) could never be used: entry {first} has the same pattern and a scope that covers it; merge them, narrow one, or add the narrower scope first",
                self.slots[i].pattern.as_str()
            )));
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
