//! ECR tokens with an IAM user's access key (or any static key, with its session token).

use secrecy::SecretString;

use super::assume_role::AssumeRoleLayer;
use super::credentials::StaticKeys;
use super::tokens::{ecr_tokens_provider, EcrTokens};
use super::{AssumeRole, AwsOptions, SdkBase};
use crate::config::ConfigError;
use crate::Error;

/// Gets ECR tokens with an IAM user's static access key, optionally assuming a role with it.
///
/// ```
/// use registry_auth::aws::{AssumeRole, IamUserProvider};
///
/// let provider = IamUserProvider::builder()
///     .access_key_id("AKIAIOSFODNN7EXAMPLE")
///     .secret_access_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into())
///     .region("us-east-1")
///     .assume_role(AssumeRole::new("arn:aws:iam::123456789012:role/ecr-pull"))
///     .build()?;
/// assert!(!format!("{provider:?}").contains("wJalr"));
/// # Ok::<(), registry_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct IamUserProvider {
    inner: EcrTokens,
}

/// Builds an [`IamUserProvider`].
#[derive(Debug, Default)]
pub struct IamUserProviderBuilder {
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    session_token: Option<SecretString>,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    options: AwsOptions,
    sdk: Option<aws_config::SdkConfig>,
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

    /// The session token, for a temporary key (`ASIA…`).
    pub fn session_token(mut self, token: SecretString) -> Self {
        self.session_token = Some(token);
        self
    }

    /// Where calls go for registry hosts that are not ECR hostnames (an ECR hostname names its
    /// own region). Without it, such hosts are an error.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Assume this role with the key, and get tokens as the role.
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    /// Endpoint, timeouts and retries.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// Make the calls over this SDK configuration (its HTTP client, endpoint, timeouts,
    /// retries, app name) instead of one loaded from the [`options`](Self::options); its
    /// credentials are not used.
    pub fn sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.sdk = Some(sdk);
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
        let keys = StaticKeys {
            access_key_id: self.access_key_id.ok_or_else(|| missing("access_key_id"))?,
            secret_access_key: self
                .secret_access_key
                .ok_or_else(|| missing("secret_access_key"))?,
            session_token: self.session_token,
        };
        let sdk = match self.sdk {
            Some(sdk) => SdkBase::given(sdk, self.options),
            None => SdkBase::new(self.options),
        };
        let credentials =
            AssumeRoleLayer::over(Box::new(keys), self.assume_role, sdk.endpoint_for("STS"));
        Ok(IamUserProvider {
            inner: EcrTokens::new(credentials, self.region, sdk),
        })
    }
}

ecr_tokens_provider!(IamUserProvider);
