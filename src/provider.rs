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
//! - **Request attributes.** Some front ends know who asks: the kubelet sends the pod's
//!   service-account token and annotations ([`RequestAttributes`]). A provider sees them (through
//!   [`RegistryTarget::request`]) only if its
//!   [`request_identity`](CredentialProvider::request_identity) says what of them its credential
//!   depends on; the resolver then files the token under that too, so one service account's
//!   token never serves another's request. A provider that does not answer never sees them.
//!
//! - **Proving a pull.** [`check_pull`](CredentialProvider::check_pull) answers "would the
//!   registry serve this image to this credential?" for `registry-auth check --live` and
//!   [`live`](crate::live). The default asks the registry's distribution API (a `HEAD` of the
//!   manifest, following a `Bearer` token challenge), which fits any registry that takes the
//!   credential `fetch` returns. Override it when the registry's own API says more: the AWS
//!   providers call ECR's `BatchGetImage` with their AWS credentials and name the missing
//!   permission and the policy statement that grants it. Return a
//!   [`PullCheck`] whose sentence says what to fix; never a secret,
//!   a reply body or a header value.
//!
//! `examples/custom_provider.rs` is a whole one, tested against a real registry.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::live::PullCheck;
use crate::reference::{ImageRef, ImageReference};
use crate::{Error, RegistryCredential};

/// A source of registry credentials for one registry entry.
#[async_trait]
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// Gets a fresh credential for `target` from upstream. Called only on a cache miss or a
    /// refresh, at most once at a time per cache key.
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error>;

    /// Who the credentials belong to, for the cache key. Asked once per entry.
    fn identity(&self) -> CacheIdentity;

    /// What of the request's attributes (the kubelet's service-account token and annotations)
    /// the credential depends on, added to [`identity`](Self::identity) for this request's cache
    /// key. Asked on every resolve.
    ///
    /// `None` (the default): the credential does not depend on who asks, and
    /// [`fetch`](Self::fetch) gets a target without the attributes. A provider that uses them
    /// names here everything of them it uses, with secret parts (the token) in
    /// [`CacheIdentity::with_secret`].
    fn request_identity(&self, request: &RequestAttributes) -> Option<CacheIdentity> {
        let _ = request;
        None
    }

    /// Proves that `image` can be pulled with `credential` (this provider's, from the cache):
    /// one verdict and a sentence with the fix. Asked by the live check only, never on a pull.
    ///
    /// The default asks the registry's distribution API with the credential
    /// ([`live::check_manifest`](crate::live::check_manifest)): `HEAD
    /// /v2/<repository>/manifests/<reference>`, following a `WWW-Authenticate: Bearer`
    /// challenge with the credential as Basic auth, as docker does.
    async fn check_pull(
        &self,
        image: &ImageReference,
        credential: &RegistryCredential,
    ) -> PullCheck {
        crate::live::check_manifest(image, Some(credential)).await
    }
}

/// What a request carries beyond the image: on the kubelet path, the service-account token of
/// the pod that pulls and the service account's annotations that the kubelet is configured to
/// pass.
///
/// `Debug` shows the annotations and whether there is a token, never the token.
///
/// ```
/// use registry_auth::provider::RequestAttributes;
///
/// let request = RequestAttributes::new()
///     .with_service_account_token("eyJhbGciOi.payload.signature".into())
///     .with_annotation("eks.amazonaws.com/ecr-role-arn", "arn:aws:iam::123456789012:role/pull");
/// assert!(!format!("{request:?}").contains("payload"));
/// assert_eq!(request.annotation("eks.amazonaws.com/ecr-role-arn"), Some("arn:aws:iam::123456789012:role/pull"));
/// ```
#[derive(Clone, Default)]
pub struct RequestAttributes {
    service_account_token: Option<SecretString>,
    annotations: BTreeMap<String, String>,
}

/// The attributes of a request that carries none.
static NO_ATTRIBUTES: RequestAttributes = RequestAttributes::none();

impl RequestAttributes {
    /// No token, no annotations.
    pub const fn none() -> Self {
        Self {
            service_account_token: None,
            annotations: BTreeMap::new(),
        }
    }

    /// No token, no annotations.
    pub fn new() -> Self {
        Self::none()
    }

    /// With the pod's service-account token (an empty token counts as none).
    pub fn with_service_account_token(mut self, token: SecretString) -> Self {
        self.service_account_token = (!token.expose_secret().is_empty()).then_some(token);
        self
    }

    /// With one service-account annotation.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// With these service-account annotations.
    pub fn with_annotations(
        mut self,
        annotations: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        self.annotations.extend(annotations);
        self
    }

    /// The pod's service-account token, if the request carried one.
    pub fn service_account_token(&self) -> Option<&SecretString> {
        self.service_account_token.as_ref()
    }

    /// One service-account annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// Every service-account annotation passed.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// Whether the request carries nothing.
    pub fn is_empty(&self) -> bool {
        self.service_account_token.is_none() && self.annotations.is_empty()
    }
}

impl PartialEq for RequestAttributes {
    fn eq(&self, other: &Self) -> bool {
        let token = |r: &Self| {
            r.service_account_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
        };
        self.annotations == other.annotations && token(self) == token(other)
    }
}

impl Eq for RequestAttributes {}

impl fmt::Debug for RequestAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestAttributes")
            .field(
                "service_account_token",
                &self.service_account_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("annotations", &self.annotations)
            .finish()
    }
}

/// Where a credential is wanted: a registry host and port, and the image when the caller knows
/// it (the docker credential helper protocol names only the registry).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RegistryTarget<'a> {
    host: &'a str,
    port: Option<u16>,
    image: Option<ImageRef<'a>>,
    request: &'a RequestAttributes,
}

impl<'a> RegistryTarget<'a> {
    /// The registry serving `image` (an [`ImageReference`] or a borrowed
    /// [`ImageRef`]).
    pub fn for_image(image: impl Into<ImageRef<'a>>) -> Self {
        let image = image.into();
        Self {
            host: image.host(),
            port: image.port(),
            image: Some(image),
            request: &NO_ATTRIBUTES,
        }
    }

    /// A registry named by host and port alone.
    pub fn for_host(host: &'a str, port: Option<u16>) -> Self {
        Self {
            host,
            port,
            image: None,
            request: &NO_ATTRIBUTES,
        }
    }

    /// The same target, for a request carrying `request`.
    pub fn with_request(mut self, request: &'a RequestAttributes) -> Self {
        self.request = request;
        self
    }

    /// The same target without the request's attributes.
    pub fn without_request(mut self) -> Self {
        self.request = &NO_ATTRIBUTES;
        self
    }

    /// What the request carries beyond the image (empty unless the provider's
    /// [`request_identity`](CredentialProvider::request_identity) asked for it).
    pub fn request(&self) -> &'a RequestAttributes {
        self.request
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
    pub fn image(&self) -> Option<ImageRef<'a>> {
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
