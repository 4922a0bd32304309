//! From an image reference to a registry credential: choose the entry, route to its provider,
//! explain the choice.
//!
//! [`RegistryResolver`] is the seam an embedding tool programs against; [`DefaultResolver`] is
//! the implementation built from registry entries. It picks the best entry for the image that
//! the request may use ([`scope`](crate::scope)), asks that entry's
//! [`CredentialProvider`] for a token through one [`TokenCache`], and says which entry served.
//! Freshness, single flight and the second tier are the cache's business; everything about a
//! kind of registry is its provider's.
//!
//! Providers are made lazily: an entry's secrets are read, and its provider built, the first
//! time the entry serves. A resolver over a thousand entries starts as fast as one over ten,
//! and one entry's missing secret breaks only that entry.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::aws::{AwsOptions, SdkCredentialsProvider, SharedSdk};
use crate::cache::{CacheKey, CachePolicy, Clock, Place, SystemClock, TokenCache, TokenStore};
use crate::config::{ProviderOptions, RegistryConfig, RegistryEntry};
use crate::error::NoEntry;
use crate::index::PatternIndex;
use crate::live::PullCheck;
use crate::pattern::{self, Explanation, MatchPattern};
use crate::provider::{CacheIdentity, CredentialProvider, RegistryTarget, RequestAttributes};
use crate::reference::{ImageRef, ImageReference};
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
    ) -> Result<Resolved, Error>;

    /// The credential for `image` from the best-matching entry without a scope: for
    /// single-tenant embedders, whose entries name no organisation.
    async fn resolve(&self, image: &ImageReference) -> Result<Resolved, Error> {
        self.resolve_in(&ResolveContext::unscoped(), image).await
    }

    /// Parses `image`, then [`resolve`](Self::resolve)s it.
    async fn resolve_str(&self, image: &str) -> Result<Resolved, Error> {
        let image = ImageReference::parse(image)?;
        self.resolve(&image).await
    }
}

/// What a resolve hands back: the credential, and which entry served it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resolved {
    /// The login.
    pub credential: RegistryCredential,
    /// The serving entry's position in the configuration, from 0.
    pub entry: usize,
    /// The serving entry's pattern, as written.
    pub pattern: Arc<str>,
}

/// One entry as the resolver holds it.
struct Slot {
    pattern: Arc<str>,
    /// The entry's position in its configuration file, when the resolver holds only a part of
    /// it; else its place here.
    position: Option<usize>,
    scope: EntryScope,
    source: SlotSource,
    built: OnceLock<Built>,
}

enum SlotSource {
    /// Entry `1` of a configuration: its provider is made on first use.
    Config(Arc<RegistryConfig>, usize),
    /// An entry given in code, as a ready source.
    Entry(Box<RegistryEntry>),
    /// An entry given in code with its provider.
    Provider(Arc<dyn CredentialProvider>),
    /// An entry given in code with the embedder's AWS credentials.
    Aws(Box<AwsEntry>),
}

/// The embedder's AWS credentials for one entry; the provider is made at first use, over the
/// builder's final options.
enum AwsEntry {
    /// Credentials, region and settings from an `SdkConfig`.
    Sdk(Box<aws_config::SdkConfig>),
    /// A credentials provider and the region for hosts that are not ECR hostnames.
    Credentials(
        aws_credential_types::provider::SharedCredentialsProvider,
        String,
    ),
}

impl AwsEntry {
    fn provider(&self, options: &ProviderOptions) -> Result<Arc<dyn CredentialProvider>, Error> {
        let builder = SdkCredentialsProvider::builder().options(options.aws.clone());
        let builder = match self {
            AwsEntry::Sdk(sdk) => builder.sdk_config((**sdk).clone()),
            AwsEntry::Credentials(provider, region) => {
                let builder = builder
                    .credentials_provider(provider.clone())
                    .region(region);
                match &options.sdk {
                    Some(shared) => builder.sdk_config(shared.config.clone()),
                    None => builder,
                }
            }
        };
        Ok(Arc::new(builder.build()?))
    }
}

/// A slot's provider, and its identity as the cache files it.
struct Built {
    provider: Arc<dyn CredentialProvider>,
    /// The identity the provider gave, for keys that add a request's attributes.
    raw: CacheIdentity,
    identity: Arc<str>,
    /// The cache's place for this entry's first registry (lowercase) under `identity`, kept
    /// from the entry's first resolve so that a hit on it neither hashes nor compares a key.
    kept: OnceLock<Kept>,
}

/// An entry's kept cache place.
struct Kept {
    /// The registry (lowercase) the place holds tokens for.
    registry: Box<str>,
    /// The entry's host is literal, so every image it serves names that registry up to ASCII
    /// case and the spelling of the port number: one whose domain is as long names it exactly
    /// (the same host, the same port without other leading zeros), and the registry's text
    /// need not be read.
    literal_host: bool,
    place: Place,
}

impl Kept {
    /// Whether an image this entry serves, on registry `domain`, finds its token here.
    fn serves(&self, domain: &str) -> bool {
        if self.literal_host {
            self.registry.len() == domain.len()
        } else {
            *self.registry == *domain
        }
    }
}

/// The resolver built from registry entries: best match, then cached provider tokens.
///
/// ```no_run
/// use registry_auth::{DefaultResolver, RegistryConfig, RegistryResolver};
///
/// # async fn run() -> Result<(), registry_auth::Error> {
/// let config = RegistryConfig::load("examples/registries.toml")?;
/// let resolver = DefaultResolver::builder().config(&config).build()?;
/// let login = resolver
///     .resolve_str("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0")
///     .await?;
/// println!(
///     "entry {} ({}): docker login -u {} --password-stdin {}",
///     login.entry, login.pattern, login.credential.username(), login.credential.server()
/// );
/// # Ok(()) }
/// ```
pub struct DefaultResolver {
    slots: Vec<Slot>,
    index: PatternIndex,
    cache: TokenCache,
    options: ProviderOptions,
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

    /// The position of the best entry for `image` that `context` may use, with its pattern.
    ///
    /// A personal project's context is an error: private registries are for organisation
    /// projects. The index filters candidates by scope without allocating.
    pub fn select_in<'i>(
        &self,
        context: &ResolveContext,
        image: impl Into<ImageRef<'i>>,
    ) -> Result<Option<(usize, &MatchPattern)>, Error> {
        let image = image.into();
        if context.is_personal() {
            return Err(self.personal(image.as_str()));
        }
        Ok(self
            .select_slot(context, image)
            .and_then(|i| Some((self.position(i), self.index.pattern(i)?))))
    }

    /// The slot of the best entry for `image` that `context` may use.
    fn select_slot(&self, context: &ResolveContext, image: ImageRef<'_>) -> Option<usize> {
        self.index
            .best_match_by(image, |i| self.slots[i].scope.check(context).is_ok())
    }

    /// Slot `i`'s position in its configuration file (or its place here).
    fn position(&self, i: usize) -> usize {
        self.slots[i].position.unwrap_or(i)
    }

    /// Every entry whose pattern matches `image`, the winner among those `context` may use,
    /// and why each candidate won, lost or was ruled out.
    pub fn explain_in<'i>(
        &self,
        context: &ResolveContext,
        image: impl Into<ImageRef<'i>>,
    ) -> Explanation {
        pattern::explain_at(
            self.index.patterns(),
            image.into(),
            |i| {
                self.slots[i]
                    .scope
                    .check(context)
                    .err()
                    .map(|d| d.to_string())
            },
            |i| self.position(i),
        )
    }

    /// The entry that serves a registry when only its host is known, as in the docker credential
    /// helper protocol, which names a registry and never an image.
    ///
    /// The candidates are the entries `context` may use whose host and port fit, whatever their
    /// path. The best is chosen by the host half of the best-match rule (fewer wildcard host
    /// labels, then more literal host characters), then an entry that serves the whole host (no
    /// path, or `*`) over one that narrows by path, then the entry listed first. So with
    /// `HOST/*` and `HOST/team/*` both configured, `HOST/*` serves; with only `HOST/team/*`, it
    /// serves every image on the host, since the caller cannot tell images apart.
    pub fn select_host(
        &self,
        context: &ResolveContext,
        host: &str,
        port: Option<u16>,
    ) -> Option<(usize, &MatchPattern)> {
        self.select_host_slot(context, host, port)
            .map(|i| (self.position(i), &self.index.patterns()[i]))
    }

    fn select_host_slot(
        &self,
        context: &ResolveContext,
        host: &str,
        port: Option<u16>,
    ) -> Option<usize> {
        if context.is_personal() {
            return None;
        }
        let permitted = self
            .index
            .patterns()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.slots[*i].scope.check(context).is_ok());
        let (slots, patterns): (Vec<usize>, Vec<&MatchPattern>) = permitted.unzip();
        pattern::best_for_host(patterns.iter().copied(), host, port).map(|k| slots[k])
    }

    /// Whether an entry whose host and port fit `host`/`port` narrows by path (`HOST/team/*`),
    /// so that one credential per registry would be wrong for some of its images. The kubelet
    /// front end answers per image then.
    pub fn host_narrows_by_path(&self, host: &str, port: Option<u16>) -> bool {
        self.index
            .patterns()
            .iter()
            .any(|p| p.serves_registry(host, port) && !p.serves_whole_host())
    }

    /// The credential for the registry `HOST[:PORT]` (no scheme, no path), from the entry
    /// [`select_host`](Self::select_host) picks, through the same cache as
    /// [`resolve_in`](RegistryResolver::resolve_in).
    pub async fn resolve_host(
        &self,
        context: &ResolveContext,
        registry: &str,
    ) -> Result<Resolved, Error> {
        // Any image on the registry gives its host and port.
        let probe = ImageReference::parse(&format!("{registry}/x"))
            .ok()
            .filter(|image| image.domain().eq_ignore_ascii_case(registry))
            .ok_or_else(|| {
                Error::unsupported(
                    crate::error::cut(registry, 100),
                    "is not a registry host: expected HOST[:PORT], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com",
                )
            })?;
        if context.is_personal() {
            return Err(self.personal(registry));
        }
        let i = self
            .select_host_slot(context, probe.host(), probe.port())
            .ok_or_else(|| {
                let ruled_out = self
                    .index
                    .patterns()
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.serves_registry(probe.host(), probe.port()))
                    .filter_map(|(i, _)| {
                        let denial = self.slots[i].scope.check(context).err()?;
                        Some(format!(
                            "registry[{}] ruled out: {denial}",
                            self.position(i)
                        ))
                    })
                    .collect();
                self.no_entry(context, registry, ruled_out)
            })?;
        let target = RegistryTarget::for_host(probe.host(), probe.port());
        self.fetch(i, &target, probe.domain()).await
    }

    /// Every entry's pattern, in configuration order.
    pub fn patterns(&self) -> &[MatchPattern] {
        self.index.patterns()
    }

    /// Entry `i`'s scope.
    pub fn scope(&self, i: usize) -> Option<&EntryScope> {
        self.slots.get(i).map(|s| &s.scope)
    }

    /// The token cache, e.g. to [`invalidate`](TokenCache::invalidate) after a registry
    /// rejected a token.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    fn personal(&self, image: &str) -> Error {
        NoEntry {
            image: image.to_owned(),
            context: String::new(),
            ruled_out: Vec::new(),
            personal: true,
            unscoped: false,
        }
        .into()
    }

    /// No permitted entry for `what`: say which entries matched but were ruled out, if any.
    fn no_entry(&self, context: &ResolveContext, what: &str, ruled_out: Vec<String>) -> Error {
        NoEntry {
            image: what.to_owned(),
            context: context.to_string(),
            unscoped: !context.is_scoped() && !ruled_out.is_empty(),
            ruled_out,
            personal: false,
        }
        .into()
    }

    /// Slot `i`'s provider and identity, made on first use.
    fn built(&self, i: usize) -> Result<&Built, Error> {
        let slot = &self.slots[i];
        if let Some(built) = slot.built.get() {
            return Ok(built);
        }
        let provider = match &slot.source {
            SlotSource::Provider(p) => Arc::clone(p),
            SlotSource::Config(config, index) => config.entries()[*index]
                .source
                .provider(&self.options)
                .map_err(|e| config.source_error(*index, e))?,
            SlotSource::Entry(entry) => entry.source.provider(&self.options).map_err(|e| {
                e.within(entry.source.kind())
                    .at("<entries>", i, entry.pattern.to_string())
            })?,
            SlotSource::Aws(entry) => entry.provider(&self.options)?,
        };
        let raw = provider.identity();
        let identity = self.cache.identity_key().digest(&raw);
        // Two callers may build at once; the first to set wins, and both use its provider.
        let _ = slot.built.set(Built {
            provider,
            raw,
            identity,
            kept: OnceLock::new(),
        });
        Ok(slot.built.get().expect("set just above"))
    }

    /// The credential for `image` from the best-matching entry that `context` may use, for a
    /// request carrying `request` (the kubelet's service-account token and annotations).
    ///
    /// Only a provider whose [`request_identity`](CredentialProvider::request_identity) depends
    /// on the attributes sees them; its tokens are then filed under that identity as well (the
    /// token only as a keyed hash), so a token fetched for one service account never serves
    /// another's request. Every other provider is asked, and cached, as by
    /// [`resolve_in`](RegistryResolver::resolve_in).
    pub async fn resolve_with(
        &self,
        context: &ResolveContext,
        image: impl Into<ImageRef<'_>>,
        request: &RequestAttributes,
    ) -> Result<Resolved, Error> {
        let image = image.into();
        if context.is_personal() {
            return Err(self.personal(image.as_str()));
        }
        let Some(i) = self.select_slot(context, image) else {
            let ruled_out = self
                .explain_in(context, image)
                .candidates
                .into_iter()
                .filter(|c| c.ruled_out)
                .map(|c| format!("registry[{}] {}", c.index, c.reason))
                .collect();
            return Err(self.no_entry(context, image.as_str(), ruled_out));
        };
        let target = RegistryTarget::for_image(image).with_request(request);
        self.fetch(i, &target, image.domain()).await
    }

    /// Proves that `image` can be pulled by a request in `context`: resolves it as
    /// [`resolve_in`](RegistryResolver::resolve_in) does (through the cache, so one credential
    /// per entry and registry however many images are checked), then asks the serving entry's
    /// provider to [`check_pull`](CredentialProvider::check_pull) with that credential.
    ///
    /// # Errors
    ///
    /// What [`resolve_in`](RegistryResolver::resolve_in) returns when there is no credential to
    /// check with; the check's own findings are in the [`PullCheck`].
    pub async fn check_pull_in(
        &self,
        context: &ResolveContext,
        image: &ImageReference,
    ) -> Result<(Resolved, PullCheck), Error> {
        let resolved = self.resolve_in(context, image).await?;
        let provider = Arc::clone(&self.built(resolved.entry)?.provider);
        let check = provider.check_pull(image, &resolved.credential).await;
        Ok((resolved, check))
    }

    /// Entry `i`'s credential for `target` (whose `HOST[:PORT]` is `domain`), from the cache
    /// or its provider.
    async fn fetch(
        &self,
        i: usize,
        target: &RegistryTarget<'_>,
        domain: &str,
    ) -> Result<Resolved, Error> {
        let built = self.built(i)?;
        let resolved = |credential| Resolved {
            credential,
            entry: self.position(i),
            pattern: Arc::clone(&self.slots[i].pattern),
        };
        // A provider that depends on the request files its tokens under the request's parts
        // too; every other provider never sees them.
        let request = built.provider.request_identity(target.request());
        if request.is_none() {
            // The hit path: the entry's kept place, when the image names the registry the
            // place was kept for.
            let kept = built.kept.get().filter(|kept| kept.serves(domain));
            if let Some(credential) = kept.and_then(|kept| self.cache.get_fresh_at(&kept.place)) {
                return Ok(resolved(credential));
            }
        }
        let registry = lowercase(domain);
        let keyed;
        let (identity, target) = match request {
            None => {
                built.kept.get_or_init(|| {
                    let key = CacheKey::new(Arc::clone(&built.identity), &registry);
                    Kept {
                        registry: key.registry().into(),
                        literal_host: self
                            .index
                            .pattern(i)
                            .is_some_and(|pattern| pattern.literal_host().is_some()),
                        place: self.cache.place(&key),
                    }
                });
                (&built.identity, target.without_request())
            }
            Some(request) => {
                let identity = built.raw.clone().with_base("request", &request);
                keyed = self.cache.identity_key().digest(&identity);
                (&keyed, *target)
            }
        };
        // Borrows the identity: no key is built and nothing of it is cloned.
        if let Some(credential) = self.cache.get_fresh(identity, &registry) {
            return Ok(resolved(credential));
        }
        let key = CacheKey::new(Arc::clone(identity), &registry);
        let provider = &built.provider;
        self.cache
            .get_or_fetch(&key, || provider.fetch(&target))
            .await
            .map(resolved)
    }
}

/// `s` lowercased, borrowed when it already is.
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

#[async_trait]
impl RegistryResolver for DefaultResolver {
    async fn resolve_in(
        &self,
        context: &ResolveContext,
        image: &ImageReference,
    ) -> Result<Resolved, Error> {
        self.resolve_with(context, image, &RequestAttributes::none())
            .await
    }

    /// Parses `image` without copying it when it is already in normal form (it names its
    /// registry and a tag or digest), then resolves it with no context. The trait boxes this
    /// method's future, one allocation per call;
    /// [`resolve_str_in`](DefaultResolver::resolve_str_in), the same path without the box,
    /// allocates nothing from a string to a cached credential (once when a wildcard entry
    /// serves a host written in uppercase: the cache key's registry is lowercase).
    async fn resolve_str(&self, image: &str) -> Result<Resolved, Error> {
        self.resolve_str_in(&ResolveContext::unscoped(), image)
            .await
    }
}

impl DefaultResolver {
    /// [`resolve_str`](RegistryResolver::resolve_str) for the request `context`.
    pub async fn resolve_str_in(
        &self,
        context: &ResolveContext,
        image: &str,
    ) -> Result<Resolved, Error> {
        let mut scratch = String::new();
        let image = ImageRef::parse(image, &mut scratch)?;
        self.resolve_with(context, image, &RequestAttributes::none())
            .await
    }
}

/// Builds a [`DefaultResolver`]. The order of the calls does not matter, except that entries
/// keep the order they are added in.
pub struct DefaultResolverBuilder {
    slots: Vec<(MatchPattern, Slot)>,
    aws: AwsOptions,
    sdk: Option<SharedSdk>,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn TokenStore>>,
}

impl Default for DefaultResolverBuilder {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            aws: AwsOptions::default(),
            sdk: None,
            policy: CachePolicy::default(),
            clock: Arc::new(SystemClock),
            store: None,
        }
    }
}

impl fmt::Debug for DefaultResolverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultResolverBuilder")
            .field("entries", &self.slots.len())
            .field("aws", &self.aws)
            .field("sdk_config", &self.sdk.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl DefaultResolverBuilder {
    /// Endpoint, timeouts, retries, IMDS endpoint and app name for the built-in AWS providers
    /// of every entry, whenever it is called: providers are made at first use, with the
    /// builder's final settings.
    pub fn aws_options(mut self, options: AwsOptions) -> Self {
        self.aws = options;
        self
    }

    /// The embedder's own AWS SDK configuration, as the default of every AWS entry: every call
    /// goes over it (its HTTP client, endpoint, timeouts, retries, app name), and `aws_chain`
    /// entries without a `profile` take their credentials and fallback region from it instead
    /// of aws-config's chain. Entries with credentials of their own (an IAM user's key, an
    /// instance role, a web identity) keep them.
    ///
    /// ```no_run
    /// use registry_auth::{DefaultResolver, RegistryConfig};
    ///
    /// # async fn run() -> Result<(), registry_auth::Error> {
    /// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let config = RegistryConfig::from_toml_str(r#"
    ///     [[registry]]
    ///     pattern = "*.dkr.ecr.*.amazonaws.com/*"
    ///     aws_chain = {}
    /// "#, "inline")?;
    /// let resolver = DefaultResolver::builder().config(&config).aws_sdk_config(sdk).build()?;
    /// # Ok(()) }
    /// ```
    pub fn aws_sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.sdk = Some(SharedSdk::new(sdk));
        self
    }

    /// Adds one entry whose ECR tokens come with the credentials, region and settings of an
    /// embedder's `SdkConfig` (see [`SdkCredentialsProvider`]).
    pub fn aws_sdk_entry(self, pattern: MatchPattern, sdk: aws_config::SdkConfig) -> Self {
        self.aws_entry(pattern, AwsEntry::Sdk(Box::new(sdk)))
    }

    /// Adds one entry whose ECR tokens come with an embedder's credentials provider; `region`
    /// is where calls go for hosts that are not ECR hostnames. Calls go over the
    /// [`aws_sdk_config`](Self::aws_sdk_config) when one is given, else the
    /// [`aws_options`](Self::aws_options).
    pub fn aws_credentials_entry(
        self,
        pattern: MatchPattern,
        credentials: aws_credential_types::provider::SharedCredentialsProvider,
        region: impl Into<String>,
    ) -> Self {
        self.aws_entry(pattern, AwsEntry::Credentials(credentials, region.into()))
    }

    fn aws_entry(mut self, pattern: MatchPattern, entry: AwsEntry) -> Self {
        self.slots.push((
            pattern.clone(),
            Slot {
                pattern: pattern.as_str().into(),
                position: None,
                scope: EntryScope::default(),
                source: SlotSource::Aws(Box::new(entry)),
                built: OnceLock::new(),
            },
        ));
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

    /// Also keep tokens in `store`, for short-lived processes such as a docker credential
    /// helper that runs once per pull ([`DiskStore`](crate::cache::DiskStore)).
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds every entry of `config`, in order. No secret is read until an entry serves.
    pub fn config(mut self, config: &RegistryConfig) -> Self {
        let shared = Arc::new(config.clone());
        for (i, e) in config.entries().iter().enumerate() {
            self.slots.push((
                e.pattern.clone(),
                Slot {
                    pattern: e.pattern.as_str().into(),
                    position: Some(config.position(i)),
                    scope: e.scope.clone(),
                    source: SlotSource::Config(Arc::clone(&shared), i),
                    built: OnceLock::new(),
                },
            ));
        }
        self
    }

    /// Adds one entry given in code, with its built-in source.
    pub fn entry(mut self, entry: RegistryEntry) -> Self {
        self.slots.push((
            entry.pattern.clone(),
            Slot {
                pattern: entry.pattern.as_str().into(),
                position: None,
                scope: entry.scope.clone(),
                source: SlotSource::Entry(Box::new(entry)),
                built: OnceLock::new(),
            },
        ));
        self
    }

    /// Adds one entry with any provider, an embedder's own included.
    pub fn provider_entry(
        self,
        pattern: MatchPattern,
        provider: Arc<dyn CredentialProvider>,
    ) -> Self {
        self.scoped_provider_entry(pattern, EntryScope::default(), provider)
    }

    /// Adds one entry with any provider that only requests within `scope` may use.
    pub fn scoped_provider_entry(
        mut self,
        pattern: MatchPattern,
        scope: EntryScope,
        provider: Arc<dyn CredentialProvider>,
    ) -> Self {
        self.slots.push((
            pattern.clone(),
            Slot {
                pattern: pattern.as_str().into(),
                position: None,
                scope,
                source: SlotSource::Provider(provider),
                built: OnceLock::new(),
            },
        ));
        self
    }

    /// The resolver; fails when an entry could never be used (an earlier entry has the same
    /// pattern and a scope that covers it).
    pub fn build(self) -> Result<DefaultResolver, Error> {
        if let Some((i, first)) =
            crate::config::shadowed(self.slots.iter().map(|(p, s)| (p, &s.scope)))
        {
            return Err(crate::config::ConfigError::new(
                "DefaultResolver::builder()",
                format!(
                    "entry {i} ({:?}) could never be used: entry {first} has the same pattern and a scope that covers it; merge them, narrow one, or add the narrower scope first",
                    self.slots[i].0.as_str()
                ),
            )
            .into());
        }
        let (patterns, slots): (Vec<MatchPattern>, Vec<Slot>) = self.slots.into_iter().unzip();
        let mut cache = TokenCache::new(self.policy, self.clock);
        if let Some(store) = self.store {
            cache = cache.with_store(store);
        }
        Ok(DefaultResolver {
            slots,
            index: PatternIndex::new(patterns),
            cache,
            options: ProviderOptions {
                aws: self.aws,
                sdk: self.sdk,
            },
        })
    }
}
