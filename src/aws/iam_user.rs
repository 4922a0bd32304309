//! ECR tokens with an IAM user's static access key.

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use secrecy::{ExposeSecret, SecretString};

use super::ecr::ecr_token;
use super::error::Caller;
use super::{AwsOptions, EcrTarget, SdkBase};
use crate::config::ConfigError;
use crate::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use crate::{Error, RegistryCredential};

/// Gets ECR tokens with an IAM user's static access key.
///
/// ```
/// use registry_auth::aws::IamUserProvider;
///
/// let provider = IamUserProvider::builder()
///     .access_key_id("AKIAIOSFODNN7EXAMPLE")
///     .secret_access_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into())
///     .region("us-east-1")
///     .build()?;
/// assert!(!format!("{provider:?}").contains("wJalr"));
/// # Ok::<(), registry_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct IamUserProvider {
    access_key_id: String,
    secret_access_key: SecretString,
    region: Option<String>,
    sdk: SdkBase,
}

/// Builds an [`IamUserProvider`].
#[derive(Debug, Default)]
pub struct IamUserProviderBuilder {
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    region: Option<String>,
    options: AwsOptions,
}

impl IamUserProvider {
    /// A builder with default [`AwsOptions`].
    pub fn builder() -> IamUserProviderBuilder {
        IamUserProviderBuilder::default()
    }
}

impl IamUserProviderBuilder {
    /// The access key id (required).
    pub fn access_key_id(mut self, id: impl Into<String>) -> Self {
        self.access_key_id = Some(id.into());
        self
    }

    /// The secret access key (required).
    pub fn secret_access_key(mut self, secret: SecretString) -> Self {
        self.secret_access_key = Some(secret);
        self
    }

    /// Where calls go for registry hosts that are not ECR hostnames (an ECR hostname names its
    /// own region). Without it, such hosts are an error.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Endpoint, timeouts and retries.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// The provider; fails when the key id or the secret is missing.
    pub fn build(self) -> Result<IamUserProvider, Error> {
        let missing = |what: &str| {
            Error::Config(ConfigError::new(
                "IamUserProvider::builder()",
                format!("needs {what}; set it before build()"),
            ))
        };
        Ok(IamUserProvider {
            access_key_id: self.access_key_id.ok_or_else(|| missing("access_key_id"))?,
            secret_access_key: self
                .secret_access_key
                .ok_or_else(|| missing("secret_access_key"))?,
            region: self.region,
            sdk: SdkBase::new(self.options),
        })
    }
}

#[async_trait]
impl CredentialProvider for IamUserProvider {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        let target = EcrTarget::resolve(target, self.region.as_deref())?;
        let credentials = Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose_secret(),
            None,
            None,
            "registry-auth-iam-user",
        );
        let caller = Caller {
            who: &self.access_key_id,
            access_key_id: &self.access_key_id,
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
        CacheIdentity::new("iam-user")
            .with("key", &self.access_key_id)
            .with("region", self.region.as_deref().unwrap_or("-"))
            .with("ecr", self.sdk.options().endpoint_for("ECR"))
            .with_secret(&self.secret_access_key)
    }
}
