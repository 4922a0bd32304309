//! Seed option 1: an IAM user's access key.

use async_trait::async_trait;
use aws_sdk_ecr::config::Credentials;
use secrecy::{ExposeSecret, SecretString};

use super::aws::{ecr_token, AwsOptions, Caller};
use super::{CredentialProvider, EcrTarget};
use crate::config::IamUser;
use crate::{Error, RegistryCredential};

/// Gets ECR tokens with an IAM user's static access key.
///
/// ```
/// use registry_auth::provider::IamUserProvider;
///
/// let provider = IamUserProvider::builder()
///     .access_key_id("AKIAIOSFODNN7EXAMPLE")
///     .secret_access_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into())
///     .build()?;
/// assert!(!format!("{provider:?}").contains("wJalr"));
/// # Ok::<(), registry_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct IamUserProvider {
    access_key_id: String,
    secret_access_key: SecretString,
    options: AwsOptions,
}

/// Builds an [`IamUserProvider`].
#[derive(Debug, Default)]
pub struct IamUserProviderBuilder {
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    options: AwsOptions,
}

impl IamUserProvider {
    /// A builder with default [`AwsOptions`].
    pub fn builder() -> IamUserProviderBuilder {
        IamUserProviderBuilder::default()
    }

    /// A provider for a configured IAM user, with `options`.
    pub fn from_config(user: &IamUser, options: AwsOptions) -> Self {
        Self {
            access_key_id: user.access_key_id.clone(),
            secret_access_key: user.secret_access_key.clone(),
            options,
        }
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

    /// Endpoint, timeouts and retries.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// The provider; fails when the key id or the secret is missing.
    pub fn build(self) -> Result<IamUserProvider, Error> {
        let missing = |what: &str| {
            Error::Builder(format!(
                "IamUserProvider::builder() needs {what}; set it before build()"
            ))
        };
        Ok(IamUserProvider {
            access_key_id: self.access_key_id.ok_or_else(|| missing("access_key_id"))?,
            secret_access_key: self
                .secret_access_key
                .ok_or_else(|| missing("secret_access_key"))?,
            options: self.options,
        })
    }
}

#[async_trait]
impl CredentialProvider for IamUserProvider {
    async fn fetch(&self, target: &EcrTarget) -> Result<RegistryCredential, Error> {
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
        ecr_token(&self.options, credentials, target, &caller).await
    }

    fn identity(&self) -> String {
        format!("iam-user/{}", self.access_key_id)
    }
}
