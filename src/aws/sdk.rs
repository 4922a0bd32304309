//! ECR tokens with an embedder's own AWS SDK credentials: an `SdkConfig`, or a
//! `SharedCredentialsProvider` and a region.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::assume_role::AssumeRoleLayer;
use super::credentials::{from_sdk_provider, AwsCredentials, CallFor, Signed};
use super::tokens::{ecr_tokens_provider, EcrTokens};
use super::{AssumeRole, AwsOptions, SdkBase};
use crate::config::ConfigError;
use crate::provider::CacheIdentity;
use crate::Error;

/// Gets ECR tokens with credentials from an AWS SDK credentials provider the embedder already
/// has: its `SdkConfig` (credentials provider, region, HTTP client, endpoint, timeouts, app
/// name), or a `SharedCredentialsProvider` and a region over this crate's [`AwsOptions`].
///
/// ```no_run
/// use registry_auth::aws::SdkCredentialsProvider;
/// use registry_auth::{DefaultResolver, MatchPattern};
/// use std::sync::Arc;
///
/// # async fn run() -> Result<(), registry_auth::Error> {
/// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let provider = SdkCredentialsProvider::builder().sdk_config(sdk).build()?;
/// let resolver = DefaultResolver::builder()
///     .provider_entry(MatchPattern::parse("*.dkr.ecr.*.amazonaws.com/*")?, Arc::new(provider))
///     .build()?;
/// # Ok(()) }
/// ```
///
/// **Cache identity.** The crate cannot see whose credentials an opaque provider holds, so each
/// provider built here is its own identity (a random instance id): tokens are shared between
/// the entries that share this provider, and never with another provider, another process or
/// a disk cache entry written by one.
#[derive(Debug)]
pub struct SdkCredentialsProvider {
    inner: EcrTokens,
}

/// Builds an [`SdkCredentialsProvider`].
#[derive(Debug, Default)]
pub struct SdkCredentialsProviderBuilder {
    sdk: Option<SdkConfig>,
    credentials: Option<SharedCredentialsProvider>,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    options: AwsOptions,
}

impl SdkCredentialsProvider {
    /// A builder.
    pub fn builder() -> SdkCredentialsProviderBuilder {
        SdkCredentialsProviderBuilder::default()
    }
}

impl SdkCredentialsProviderBuilder {
    /// Take the credentials provider and region from `sdk`, and make every call over it.
    pub fn sdk_config(mut self, sdk: SdkConfig) -> Self {
        self.sdk = Some(sdk);
        self
    }

    /// Take credentials from `provider` (over the `SdkConfig`'s settings when one is given,
    /// else over the [`options`](Self::options)).
    pub fn credentials_provider(mut self, provider: SharedCredentialsProvider) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// Where calls go for hosts that are not ECR hostnames; default: the `SdkConfig`'s region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Assume this role with the credentials, and get tokens as the role.
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    /// Endpoint, timeouts and retries when no `SdkConfig` is given.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// The provider; fails when neither a credentials provider nor an `SdkConfig` holding one
    /// is given.
    pub fn build(self) -> Result<SdkCredentialsProvider, Error> {
        let from_sdk = self.sdk.as_ref().and_then(SdkConfig::credentials_provider);
        let provider = self.credentials.or(from_sdk).ok_or_else(|| {
            ConfigError::new(
                "SdkCredentialsProvider::builder()",
                "needs credentials: an SdkConfig with a credentials provider, or credentials_provider(...)",
            )
        })?;
        let region = self.region.or_else(|| {
            self.sdk
                .as_ref()
                .and_then(SdkConfig::region)
                .map(|r| r.to_string())
        });
        let sdk = match self.sdk {
            Some(sdk) => SdkBase::given(sdk, self.options),
            None => SdkBase::new(self.options),
        };
        let base = Given::new(provider, "the embedder's AWS credentials provider", None);
        let credentials =
            AssumeRoleLayer::over(Box::new(base), self.assume_role, sdk.endpoint_for("STS"));
        Ok(SdkCredentialsProvider {
            inner: EcrTokens::new(credentials, region, sdk),
        })
    }
}

ecr_tokens_provider!(SdkCredentialsProvider);

/// Credentials from an opaque SDK provider, filed under a random instance id.
#[derive(Debug)]
pub(crate) struct Given {
    provider: SharedCredentialsProvider,
    label: &'static str,
    instance: String,
    region: Option<String>,
}

impl Given {
    pub(crate) fn new(
        provider: SharedCredentialsProvider,
        label: &'static str,
        region: Option<String>,
    ) -> Self {
        Self {
            provider,
            label,
            instance: instance_id(),
            region,
        }
    }
}

#[async_trait]
impl AwsCredentials for Given {
    async fn credentials(&self, _call: &CallFor<'_>) -> Result<Signed, Error> {
        from_sdk_provider(&self.provider, self.label).await
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("aws-sdk").with("instance", &self.instance)
    }

    async fn default_region(&self) -> Option<String> {
        self.region.clone()
    }
}

/// 16 random hex digits: an identity no other provider, process or run shares.
pub(crate) fn instance_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS random source: the process id and the time still tell processes apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        bytes = (nanos ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The embedder's SDK configuration as a resolver's default for every AWS entry, with one
/// instance id, so that entries taking credentials from it share tokens.
#[derive(Debug, Clone)]
pub(crate) struct SharedSdk {
    pub(crate) config: SdkConfig,
    instance: String,
}

impl SharedSdk {
    pub(crate) fn new(config: SdkConfig) -> Self {
        Self {
            config,
            instance: instance_id(),
        }
    }

    /// Its credentials provider as a source, if it holds one.
    pub(crate) fn given(&self) -> Option<Given> {
        Some(Given {
            provider: self.config.credentials_provider()?,
            label: "the embedder's SdkConfig",
            instance: self.instance.clone(),
            region: self.config.region().map(|r| r.to_string()),
        })
    }
}
