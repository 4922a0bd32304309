//! ECR tokens with the worker's EC2 instance role, read from IMDS by name.

use async_trait::async_trait;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials;

use super::assume_role::AssumeRoleLayer;
use super::credentials::{AwsCredentials, CallFor, Signed};
use super::error::imds_detail;
use super::tokens::{ecr_tokens_provider, EcrTokens};
use super::{AssumeRole, AwsError, AwsOptions, SdkBase};
use crate::config::ConfigError;
use crate::provider::CacheIdentity;
use crate::Error;

/// Gets ECR tokens with the instance role's credentials from the EC2 instance metadata service
/// (IMDSv2), pinned to the role name the entry gives; optionally assumes a dedicated role
/// through STS on top (to keep a role to some environments, say).
///
/// ```
/// use registry_auth::aws::{AssumeRole, InstanceRoleProvider};
///
/// let provider = InstanceRoleProvider::builder("ValohaiWorkerRole")
///     .assume_role(AssumeRole::new("arn:aws:iam::123456789012:role/ecr-pull").with_external_id("team-a"))
///     .build()?;
/// # Ok::<(), registry_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct InstanceRoleProvider {
    inner: EcrTokens,
}

/// Builds an [`InstanceRoleProvider`].
#[derive(Debug)]
pub struct InstanceRoleProviderBuilder {
    role_name: String,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    imds_endpoint: Option<String>,
    options: AwsOptions,
    sdk: Option<aws_config::SdkConfig>,
}

/// The instance role's credentials, from IMDS.
#[derive(Debug)]
pub(crate) struct Imds {
    role_name: String,
    endpoint: String,
    provider: ImdsCredentialsProvider,
}

impl Imds {
    /// The role `role_name` from the IMDS at `endpoint` (else the options', the environment's or
    /// the default one).
    pub(crate) fn new(
        role_name: &str,
        endpoint: Option<&str>,
        options: &AwsOptions,
        origin: &str,
    ) -> Result<Self, Error> {
        let (client, endpoint) = imds_client(endpoint, options, origin)?;
        let provider = ImdsCredentialsProvider::builder()
            .profile(role_name)
            .imds_client(client)
            .build();
        Ok(Self {
            role_name: role_name.to_owned(),
            endpoint,
            provider,
        })
    }
}

/// An IMDS client for `endpoint` (else the options', else the SDK's own choice), and the
/// endpoint as messages name it.
pub(crate) fn imds_client(
    endpoint: Option<&str>,
    options: &AwsOptions,
    origin: &str,
) -> Result<(aws_config::imds::Client, String), Error> {
    let mut client = aws_config::imds::Client::builder().configure(
        &aws_config::provider_config::ProviderConfig::without_region()
            .with_http_client(super::https_client()),
    );
    let chosen = endpoint.or(options.imds_endpoint.as_deref());
    if let Some(url) = chosen {
        client = client.endpoint(url).map_err(|_| {
            ConfigError::new(origin, format!("IMDS endpoint {url:?} is not a usable URL"))
        })?;
    }
    let shown = match chosen {
        Some(url) => url.to_owned(),
        None => options.imds_endpoint_or_default(),
    };
    Ok((client.build(), shown))
}

#[async_trait]
impl AwsCredentials for Imds {
    async fn credentials(&self, _call: &CallFor<'_>) -> Result<Signed, Error> {
        let credentials = super::without_sdk_trace(self.provider.provide_credentials())
            .await
            .map_err(|e| {
                Error::from(AwsError::Imds {
                    role: self.role_name.clone(),
                    endpoint: self.endpoint.clone(),
                    detail: imds_detail(&e),
                })
            })?;
        Ok(Signed {
            credentials,
            who: format!("instance role {}", self.role_name),
        })
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("instance-role")
            .with("role", &self.role_name)
            .with("imds", &self.endpoint)
    }
}

impl InstanceRoleProvider {
    /// A builder for the instance role `role_name`.
    pub fn builder(role_name: impl Into<String>) -> InstanceRoleProviderBuilder {
        InstanceRoleProviderBuilder {
            role_name: role_name.into(),
            region: None,
            assume_role: None,
            imds_endpoint: None,
            options: AwsOptions::default(),
            sdk: None,
        }
    }
}

impl InstanceRoleProviderBuilder {
    /// Assume this dedicated role with the instance role's credentials.
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    /// Where calls go for registry hosts that are not ECR hostnames (an ECR hostname names its
    /// own region), and where STS is asked when the image names no region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Ask this IMDS endpoint instead of the options' [`imds_endpoint`](AwsOptions::imds_endpoint),
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` or `http://169.254.169.254`.
    pub fn imds_endpoint(mut self, url: impl Into<String>) -> Self {
        self.imds_endpoint = Some(url.into());
        self
    }

    /// Endpoint, timeouts and retries for the STS and ECR calls.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// Make the STS and ECR calls over this SDK configuration instead of one loaded from the
    /// [`options`](Self::options); its credentials are not used.
    pub fn sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.sdk = Some(sdk);
        self
    }

    /// The provider; fails on an empty role name or an IMDS endpoint that is not a URL.
    pub fn build(self) -> Result<InstanceRoleProvider, Error> {
        let origin = "InstanceRoleProvider::builder()";
        if self.role_name.trim().is_empty() {
            return Err(
                ConfigError::new(origin, "needs a role name, e.g. ValohaiWorkerRole").into(),
            );
        }
        let imds = Imds::new(
            &self.role_name,
            self.imds_endpoint.as_deref(),
            &self.options,
            origin,
        )?;
        let sdk = match self.sdk {
            Some(sdk) => SdkBase::given(sdk, self.options),
            None => SdkBase::new(self.options),
        };
        let credentials =
            AssumeRoleLayer::over(Box::new(imds), self.assume_role, sdk.endpoint_for("STS"));
        Ok(InstanceRoleProvider {
            inner: EcrTokens::new(credentials, self.region, sdk),
        })
    }
}

ecr_tokens_provider!(InstanceRoleProvider);
