//! ECR tokens with aws-config's standard credentials chain: environment variables, the shared
//! config and credentials files (profiles, SSO, `credential_process`, `role_arn` with a source
//! profile), a web identity token file, ECS/EKS container credentials, and IMDS.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::default_provider::region::DefaultRegionChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::Region;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde::Deserialize;

use super::assume_role::AssumeRoleLayer;
use super::credentials::{from_sdk_provider, AwsCredentials, CallFor, Signed};
use super::instance_role::imds_client;
use super::sdk::SharedSdk;
use super::source::check_region;
use super::tokens::{ecr_tokens_provider, EcrTokens};
use super::{AssumeRole, AwsOptions, SdkBase};
use crate::config::{check_text, FieldError};
use crate::provider::{CacheIdentity, CredentialProvider};
use crate::Error;

/// The most of a shared config or credentials file read to fingerprint it.
const MAX_PROFILE_FILE: u64 = 1024 * 1024;

/// aws-config's standard credentials chain: `[registry.aws_chain]`.
///
/// ```toml
/// [registry.aws_chain]
/// profile = "ci"          # optional: a profile of ~/.aws/config (else AWS_PROFILE, else default)
/// region = "us-east-1"    # optional: else the chain's (AWS_REGION, the profile's region)
/// ```
///
/// Whatever the AWS CLI would use, this uses: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
/// `AWS_SESSION_TOKEN`, the profile (static keys, `credential_process`, SSO, `role_arn` over a
/// `source_profile` or `credential_source`), `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`
/// (IRSA), `AWS_CONTAINER_CREDENTIALS_FULL_URI`/`_RELATIVE_URI` (ECS task roles, EKS Pod
/// Identity), then the instance role from IMDS.
///
/// **Cache identity.** The chain's principal is known only once it has answered, so its tokens
/// are filed under what steers it: the profile name, and keyed hashes of every `AWS_*`
/// environment variable and of the shared config and credentials files. A process with another
/// profile, other keys or another role in its environment never gets this one's tokens from a
/// shared disk cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AwsChain {
    /// The profile to use instead of `AWS_PROFILE` (or `default`).
    pub profile: Option<String>,
    /// The region for hosts that are not ECR hostnames and for the chain's own STS calls;
    /// else the chain's region.
    pub region: Option<String>,
    /// A role to assume with the chain's credentials.
    pub assume_role: Option<AssumeRole>,
}

impl AwsChain {
    /// The chain as the environment sets it up.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this profile.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Use this region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Assume this role with the chain's credentials.
    pub fn with_assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        if let Some(p) = &self.profile {
            check_text("profile", p)?;
        }
        if let Some(r) = &self.region {
            check_region(r)?;
        }
        if let Some(a) = &self.assume_role {
            a.validate("role_arn")
                .map_err(|e| e.within("assume_role"))?;
        }
        Ok(())
    }

    pub(crate) fn provider(
        &self,
        options: &AwsOptions,
        sdk: Option<&SharedSdk>,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let mut builder = AwsChainProvider::builder().options(options.clone());
        if let Some(p) = &self.profile {
            builder = builder.profile(p);
        }
        if let Some(r) = &self.region {
            builder = builder.region(r);
        }
        if let Some(a) = &self.assume_role {
            builder = builder.assume_role(a.clone());
        }
        builder.shared = sdk.cloned();
        let provider = builder
            .build()
            .map_err(|e| FieldError::new("", e.to_string()))?;
        Ok(Arc::new(provider))
    }
}

/// Gets ECR tokens with credentials from aws-config's standard chain (see [`AwsChain`]).
///
/// ```
/// use registry_auth::aws::AwsChainProvider;
///
/// let provider = AwsChainProvider::builder().profile("ci").region("eu-west-1").build()?;
/// # Ok::<(), registry_auth::Error>(())
/// ```
///
/// The chain's own STS calls (a profile's `role_arn`, a web identity token file) follow
/// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` and the profile's `endpoint_url`, as aws-config
/// decides; [`AwsOptions::endpoint_url`] applies to this crate's own calls.
#[derive(Debug)]
pub struct AwsChainProvider {
    inner: EcrTokens,
}

/// Builds an [`AwsChainProvider`].
#[derive(Debug, Default)]
pub struct AwsChainProviderBuilder {
    profile: Option<String>,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    options: AwsOptions,
    shared: Option<SharedSdk>,
}

impl AwsChainProvider {
    /// A builder: the chain as the environment sets it up.
    pub fn builder() -> AwsChainProviderBuilder {
        AwsChainProviderBuilder::default()
    }
}

impl AwsChainProviderBuilder {
    /// Use this profile instead of `AWS_PROFILE` (or `default`).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The region for hosts that are not ECR hostnames, and for the chain's STS calls.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Assume this role with the chain's credentials.
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    /// Endpoint, timeouts, retries and IMDS endpoint.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// The embedder's SDK configuration stands for "the default AWS credentials": without a
    /// [`profile`](Self::profile), credentials (and the fallback region) come from it instead of
    /// aws-config's chain, and every call goes over it.
    pub fn sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.shared = Some(SharedSdk::new(sdk));
        self
    }

    /// The provider.
    pub fn build(self) -> Result<AwsChainProvider, Error> {
        let (sdk, base): (SdkBase, Box<dyn AwsCredentials>) = match self.shared {
            Some(shared) => {
                let sdk = SdkBase::given(shared.config.clone(), self.options.clone());
                let base: Box<dyn AwsCredentials> = match (&self.profile, shared.given()) {
                    (None, Some(given)) => Box::new(given),
                    _ => Box::new(Chain::new(self.profile, self.region.clone(), &self.options)),
                };
                (sdk, base)
            }
            None => (
                SdkBase::new(self.options.clone()),
                Box::new(Chain::new(self.profile, self.region.clone(), &self.options)),
            ),
        };
        let credentials = AssumeRoleLayer::over(base, self.assume_role, sdk.endpoint_for("STS"));
        Ok(AwsChainProvider {
            inner: EcrTokens::new(credentials, self.region, sdk),
        })
    }
}

ecr_tokens_provider!(AwsChainProvider);

/// aws-config's chain, built on first use.
#[derive(Debug)]
struct Chain {
    profile: Option<String>,
    region: Option<String>,
    options: AwsOptions,
    label: String,
    built: tokio::sync::OnceCell<SharedCredentialsProvider>,
    fingerprint: CacheIdentity,
}

impl Chain {
    fn new(profile: Option<String>, region: Option<String>, options: &AwsOptions) -> Self {
        let label = match &profile {
            Some(p) => format!("the standard AWS chain (profile {p})"),
            None => "the standard AWS chain".to_owned(),
        };
        Self {
            fingerprint: fingerprint(profile.as_deref()),
            profile,
            region,
            options: options.clone(),
            label,
            built: tokio::sync::OnceCell::new(),
        }
    }

    /// The chain, with the entry's region (else the first call's) for its own STS calls, so it
    /// never probes for one.
    async fn build(&self, call_region: &str) -> Result<SharedCredentialsProvider, Error> {
        let o = &self.options;
        let conf = ProviderConfig::without_region()
            .with_http_client(super::https_client())
            .with_timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(o.connect_timeout)
                    .operation_attempt_timeout(o.attempt_timeout)
                    .operation_timeout(o.operation_timeout)
                    .build(),
            )
            .with_retry_config(RetryConfig::standard().with_max_attempts(o.max_attempts));
        let region = self.region.as_deref().unwrap_or(call_region).to_owned();
        let mut builder = DefaultCredentialsChain::builder()
            .configure(conf)
            .region(Region::new(region));
        if let Some(p) = &self.profile {
            builder = builder.profile_name(p);
        }
        if o.imds_endpoint.is_some() {
            let (client, _) = imds_client(None, o, "aws_chain")?;
            builder = builder.imds_client(client);
        }
        let chain = super::without_sdk_trace(builder.build()).await;
        Ok(SharedCredentialsProvider::new(chain))
    }
}

#[async_trait]
impl AwsCredentials for Chain {
    async fn credentials(&self, call: &CallFor<'_>) -> Result<Signed, Error> {
        let provider = self
            .built
            .get_or_try_init(|| self.build(call.region))
            .await?;
        from_sdk_provider(provider, &self.label).await
    }

    fn identity(&self) -> CacheIdentity {
        self.fingerprint.clone()
    }

    async fn default_region(&self) -> Option<String> {
        let mut chain = DefaultRegionChain::builder();
        if let Some(p) = &self.profile {
            chain = chain.profile_name(p);
        }
        let region = super::without_sdk_trace(async { chain.build().region().await }).await;
        region.map(|r| r.to_string())
    }
}

/// What steers the chain: the profile in the clear; every `AWS_*` variable and the shared
/// files' contents as secrets (keyed hashes only).
fn fingerprint(profile: Option<&str>) -> CacheIdentity {
    let env_profile = std::env::var("AWS_PROFILE").ok();
    let shown = profile
        .map(str::to_owned)
        .or(env_profile)
        .unwrap_or_else(|| "default".to_owned());
    let mut id = CacheIdentity::new("aws-chain").with("profile", shown);
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        id = id.with_secret(&format!("{k}={v}").into());
    }
    for path in shared_files() {
        let text = crate::files::read_text(&path, MAX_PROFILE_FILE).unwrap_or_default();
        id = id.with_secret(&format!("{}\n{text}", path.display()).into());
    }
    id
}

/// The shared config and credentials files the chain reads.
fn shared_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let pick = |var: &str, default: &str| -> Option<PathBuf> {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        pick("AWS_CONFIG_FILE", "config"),
        pick("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
    .into_iter()
    .flatten()
    .collect()
}
