//! ECR tokens with the worker's EC2 instance role, optionally with a dedicated role on top.

use async_trait::async_trait;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::Region;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

use super::ecr::ecr_token;
use super::error::{imds_detail, map_sdk_error, Call, Caller};
use super::{AssumeRole, AwsError, AwsOptions, EcrTarget, SdkBase};
use crate::config::ConfigError;
use crate::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use crate::time::from_unix_f64;
use crate::{Error, RegistryCredential};

/// Where IMDS is when nothing says otherwise.
const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";

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
    role_name: String,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    imds_endpoint: String,
    imds: ImdsCredentialsProvider,
    sdk: SdkBase,
}

/// Builds an [`InstanceRoleProvider`].
#[derive(Debug)]
pub struct InstanceRoleProviderBuilder {
    role_name: String,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    imds_endpoint: Option<String>,
    options: AwsOptions,
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
        }
    }

    async fn base_credentials(&self) -> Result<Credentials, Error> {
        super::without_sdk_trace(self.imds.provide_credentials())
            .await
            .map_err(|e| {
                AwsError::Imds {
                    role: self.role_name.clone(),
                    endpoint: self.imds_endpoint.clone(),
                    detail: imds_detail(&e),
                }
                .into()
            })
    }

    async fn assume(
        &self,
        role: &AssumeRole,
        base: Credentials,
        region: &str,
    ) -> Result<Credentials, Error> {
        let caller_key = base.access_key_id().to_owned();
        let sdk = self.sdk.get().await;
        let conf = aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(base))
            .build();
        let sts = aws_sdk_sts::Client::from_conf(conf);
        let send = sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(role.session_name.as_deref().unwrap_or("registry-auth"))
            .set_external_id(role.external_id.clone())
            .send();
        let endpoint = self.sdk.options().endpoint_for("STS");
        let out = super::without_sdk_trace(send).await.map_err(|e| {
            map_sdk_error(
                e,
                &Call {
                    service: "STS",
                    operation: "AssumeRole",
                    action: "sts:AssumeRole",
                    resource: &role.role_arn,
                    endpoint: &endpoint,
                },
                &Caller {
                    who: &format!("instance role {}", self.role_name),
                    access_key_id: &caller_key,
                },
            )
        })?;
        let c = out.credentials().ok_or_else(|| {
            Error::from(AwsError::Service {
                service: "STS",
                operation: "AssumeRole",
                what: format!("the reply for {} held no credentials", role.role_arn),
                status: Some(200),
                code: None,
                request_id: None,
            })
        })?;
        let expiry = from_unix_f64(c.expiration().as_secs_f64());
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            expiry,
            "registry-auth-assumed-role",
        ))
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

    /// Ask this IMDS endpoint instead of `AWS_EC2_METADATA_SERVICE_ENDPOINT` or
    /// `http://169.254.169.254`.
    pub fn imds_endpoint(mut self, url: impl Into<String>) -> Self {
        self.imds_endpoint = Some(url.into());
        self
    }

    /// Endpoint, timeouts and retries for the STS and ECR calls.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
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
        let mut client = aws_config::imds::Client::builder();
        if let Some(url) = &self.imds_endpoint {
            client = client.endpoint(url).map_err(|_| {
                ConfigError::new(origin, format!("IMDS endpoint {url:?} is not a usable URL"))
            })?;
        }
        let endpoint = self
            .imds_endpoint
            .or_else(|| std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT").ok())
            .unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned());
        let imds = ImdsCredentialsProvider::builder()
            .profile(&self.role_name)
            .imds_client(client.build())
            .build();
        Ok(InstanceRoleProvider {
            role_name: self.role_name,
            region: self.region,
            assume_role: self.assume_role,
            imds_endpoint: endpoint,
            imds,
            sdk: SdkBase::new(self.options),
        })
    }
}

#[async_trait]
impl CredentialProvider for InstanceRoleProvider {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        let target = EcrTarget::resolve(target, self.region.as_deref())?;
        let base = self.base_credentials().await?;
        let (credentials, who) = match &self.assume_role {
            None => (base, format!("instance role {}", self.role_name)),
            Some(role) => (
                self.assume(role, base, &target.region).await?,
                format!(
                    "role {} (assumed from instance role {})",
                    role.role_arn, self.role_name
                ),
            ),
        };
        let key = credentials.access_key_id().to_owned();
        let caller = Caller {
            who: &who,
            access_key_id: &key,
        };
        let sdk = self.sdk.get().await;
        ecr_token(
            sdk,
            SharedCredentialsProvider::new(credentials),
            &target,
            &caller,
        )
        .await
    }

    fn identity(&self) -> CacheIdentity {
        let options = self.sdk.options();
        let mut id = CacheIdentity::new("instance-role")
            .with("role", &self.role_name)
            .with("imds", &self.imds_endpoint)
            .with("region", self.region.as_deref().unwrap_or("-"))
            .with("ecr", options.endpoint_for("ECR"));
        if let Some(a) = &self.assume_role {
            id = id
                .with("assume", &a.role_arn)
                .with("external-id", a.external_id.as_deref().unwrap_or("-"))
                .with("sts", options.endpoint_for("STS"));
        }
        id
    }
}
