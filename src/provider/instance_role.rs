//! Seed option 2: the worker's EC2 instance role, optionally with a dedicated role on top.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ecr::config::Credentials;
use aws_sdk_ecr::error::DisplayErrorContext;

use super::aws::{ecr_token, map_sdk_error, AwsOptions, Call, Caller};
use super::{CredentialProvider, EcrTarget};
use crate::config::{AssumeRole, InstanceRole};
use crate::{Error, RegistryCredential};

/// Where IMDS is when nothing says otherwise.
const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";

/// Gets ECR tokens with the instance role's credentials from the EC2 instance metadata service
/// (IMDSv2), pinned to the role name the entry gives; optionally assumes a dedicated role
/// through STS on top (the seed's "restrict access to specific environments" case).
///
/// ```
/// use registry_auth::config::AssumeRole;
/// use registry_auth::provider::InstanceRoleProvider;
///
/// let provider = InstanceRoleProvider::builder("ValohaiWorkerRole")
///     .assume_role(AssumeRole::new("arn:aws:iam::123456789012:role/ecr-pull").with_external_id("team-a"))
///     .build()?;
/// # Ok::<(), registry_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct InstanceRoleProvider {
    role_name: String,
    assume_role: Option<AssumeRole>,
    imds_endpoint: String,
    imds: ImdsCredentialsProvider,
    options: AwsOptions,
}

/// Builds an [`InstanceRoleProvider`].
#[derive(Debug)]
pub struct InstanceRoleProviderBuilder {
    role_name: String,
    assume_role: Option<AssumeRole>,
    imds_endpoint: Option<String>,
    options: AwsOptions,
}

impl InstanceRoleProvider {
    /// A builder for the instance role `role_name`.
    pub fn builder(role_name: impl Into<String>) -> InstanceRoleProviderBuilder {
        InstanceRoleProviderBuilder {
            role_name: role_name.into(),
            assume_role: None,
            imds_endpoint: None,
            options: AwsOptions::default(),
        }
    }

    /// A provider for a configured instance role, with `options`.
    pub fn from_config(role: &InstanceRole, options: AwsOptions) -> Result<Self, Error> {
        let mut b = Self::builder(&role.role_name).options(options);
        if let Some(a) = &role.assume_role {
            b = b.assume_role(a.clone());
        }
        b.build()
    }

    async fn base_credentials(&self) -> Result<Credentials, Error> {
        super::quiet::without_sdk_trace(self.imds.provide_credentials())
            .await
            .map_err(|e| Error::Imds {
                role: self.role_name.clone(),
                endpoint: self.imds_endpoint.clone(),
                detail: DisplayErrorContext(&e).to_string(),
            })
    }

    async fn assume(
        &self,
        role: &AssumeRole,
        base: Credentials,
        region: &str,
    ) -> Result<Credentials, Error> {
        let caller_key = base.access_key_id().to_owned();
        let sdk = self.options.sdk_config(region, base).await;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let send = sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(role.session_name.as_deref().unwrap_or("registry-auth"))
            .set_external_id(role.external_id.clone())
            .send();
        let out = super::quiet::without_sdk_trace(send).await.map_err(|e| {
            map_sdk_error(
                e,
                &Call {
                    service: "STS",
                    operation: "AssumeRole",
                    action: "sts:AssumeRole",
                    resource: &role.role_arn,
                },
                &Caller {
                    who: &format!("instance role {}", self.role_name),
                    access_key_id: &caller_key,
                },
            )
        })?;
        let c = out.credentials().ok_or_else(|| Error::InvalidToken {
            service: "STS",
            detail: format!("AssumeRole of {} returned no credentials", role.role_arn),
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
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
        if self.role_name.trim().is_empty() {
            return Err(Error::Builder(
                "InstanceRoleProvider::builder() needs a role name, e.g. ValohaiWorkerRole".into(),
            ));
        }
        let mut client = aws_config::imds::Client::builder();
        if let Some(url) = &self.imds_endpoint {
            client = client.endpoint(url).map_err(|e| {
                Error::Builder(format!("IMDS endpoint {url:?} is not a usable URL: {e}"))
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
            assume_role: self.assume_role,
            imds_endpoint: endpoint,
            imds,
            options: self.options,
        })
    }
}

#[async_trait]
impl CredentialProvider for InstanceRoleProvider {
    async fn fetch(&self, target: &EcrTarget) -> Result<RegistryCredential, Error> {
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
        ecr_token(&self.options, credentials, target, &caller).await
    }

    fn identity(&self) -> String {
        match &self.assume_role {
            None => format!("instance-role/{}", self.role_name),
            Some(a) => format!(
                "instance-role/{}/assume/{}/{}",
                self.role_name,
                a.role_arn,
                a.external_id.as_deref().unwrap_or("")
            ),
        }
    }
}
