//! The AWS wing: ECR and ECR Public authorization tokens with credentials from wherever AWS
//! users keep them.
//!
//! Everything AWS-specific lives here, behind the registry-neutral
//! [`CredentialProvider`](crate::provider::CredentialProvider) seam:
//!
//! - [`EcrHost`]: what an ECR hostname tells (account, region, partition, FIPS, dual-stack);
//! - [`EcrTarget`] and [`get_authorization_token`]: the ECR call (ECR Public's for
//!   `public.ecr.aws`), a building block for providers of your own;
//! - the credential sources, each a provider with a builder and a configuration schema:
//!   [`IamUserProvider`] ([`IamUser`]), [`InstanceRoleProvider`] ([`InstanceRole`]),
//!   [`AwsChainProvider`] ([`AwsChain`]: aws-config's standard chain, profiles, SSO,
//!   `credential_process`, container credentials), [`WebIdentityProvider`] ([`WebIdentity`]:
//!   IRSA token files and the kubelet's service-account tokens), and [`SdkCredentialsProvider`]
//!   for an embedder's own `SdkConfig` or credentials provider;
//! - [`AssumeRole`]: a role assumed on top of any of them, as aws-config's
//!   `AssumeRoleProvider` wraps a base provider;
//! - [`AwsOptions`]: endpoint, timeouts, retries, IMDS endpoint and app name for every call;
//! - [`AwsError`]: failures in words a user can act on (reached through
//!   [`Error::detail`](crate::Error::detail));
//! - [`policy`]: the least-privilege IAM pull policy for a set of patterns;
//! - the live pull check of every AWS provider: ECR's `BatchGetImage` with the entry's AWS
//!   credentials, naming a missing permission with the statement [`policy`] would add (see
//!   [`live`](crate::live)).
//!
//! Every provider loads its SDK configuration (environment, profile files, HTTP client and its
//! connection pool) once, on its first call; each call after that is a cheap client over it.
//! Every call runs under a log filter that keeps the SDK's TRACE dumps of replies (tokens,
//! keys) out of the embedder's logs.
//!
//! The providers need a Tokio runtime with the time driver (`enable_time`, or `enable_all`):
//! the SDK's timeouts and retries run on it.

mod assume_role;
mod chain;
mod credentials;
mod ecr;
mod error;
mod host;
mod http_client;
mod iam_user;
mod instance_role;
mod log_filter;
pub mod policy;
pub(crate) mod probe;
mod public;
mod sdk;
mod source;
mod tokens;
mod web_identity;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};

pub use assume_role::AssumeRole;
pub use chain::{AwsChain, AwsChainProvider, AwsChainProviderBuilder};
pub use ecr::{get_authorization_token, EcrTarget};
pub use error::AwsError;
pub use host::{is_region, EcrHost, Partition};
pub(crate) use http_client::https_client;
pub use iam_user::{IamUserProvider, IamUserProviderBuilder};
#[cfg(feature = "cli")]
pub(crate) use instance_role::imds_client;
pub use instance_role::{InstanceRoleProvider, InstanceRoleProviderBuilder};
pub(crate) use sdk::SharedSdk;
pub use sdk::{SdkCredentialsProvider, SdkCredentialsProviderBuilder};
pub use source::{IamUser, InstanceRole};
pub use web_identity::{WebIdentity, WebIdentityProvider, WebIdentityProviderBuilder};

pub(crate) use log_filter::without_sdk_trace;
pub(crate) use probe::pull_check_for_error;

/// SDK settings shared by the AWS providers: endpoint override, timeouts, retries, the IMDS
/// endpoint and the app name.
///
/// The defaults bound every call: 3 s to connect, 10 s per attempt, 30 s per operation, and the
/// SDK's standard retry mode (which backs off on throttling) with 3 attempts.
///
/// An embedder that hands in its own `SdkConfig`
/// ([`DefaultResolverBuilder::aws_sdk_config`](crate::DefaultResolverBuilder::aws_sdk_config))
/// brings its own endpoint, timeouts, retries and app name with it; only
/// [`imds_endpoint`](Self::imds_endpoint) applies on top.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsOptions {
    /// Send every AWS call here (an emulator, a VPC endpoint). `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL_STS` are honoured when this is unset.
    pub endpoint_url: Option<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of a call.
    pub attempt_timeout: Duration,
    /// Time allowed for a call, retries included.
    pub operation_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Where the EC2 instance metadata service is (instance roles, and the standard chain's
    /// last step); else `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else `http://169.254.169.254`.
    pub imds_endpoint: Option<String>,
    /// The application name AWS sees in the user agent of every call.
    pub app_name: Option<AppName>,
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 3,
            imds_endpoint: None,
            app_name: None,
        }
    }
}

impl AwsOptions {
    /// Sends every AWS call to `url`.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets the connect, per-attempt and per-operation timeouts.
    pub fn with_timeouts(
        mut self,
        connect: Duration,
        attempt: Duration,
        operation: Duration,
    ) -> Self {
        self.connect_timeout = connect;
        self.attempt_timeout = attempt;
        self.operation_timeout = operation;
        self
    }

    /// Sets the attempts per call (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Asks the instance metadata service at `url` (`http://127.0.0.1:8111`, say).
    pub fn with_imds_endpoint(mut self, url: impl Into<String>) -> Self {
        self.imds_endpoint = Some(url.into());
        self
    }

    /// Names the application in the user agent of every AWS call.
    ///
    /// ```
    /// use registry_auth::aws::AwsOptions;
    ///
    /// let options = AwsOptions::default().with_app_name(aws_config::AppName::new("my-tool").unwrap());
    /// assert_eq!(options.app_name.unwrap().to_string(), "my-tool");
    /// ```
    pub fn with_app_name(mut self, name: AppName) -> Self {
        self.app_name = Some(name);
        self
    }

    /// Where calls to `service` (`ECR`, `STS`) go, for cache identities and messages: the
    /// endpoint URL set here, else the service's or the general `AWS_ENDPOINT_URL*` variable,
    /// else `default`.
    pub(crate) fn endpoint_for(&self, service: &str) -> String {
        self.endpoint_url
            .clone()
            .or_else(|| non_empty_env(&format!("AWS_ENDPOINT_URL_{service}")))
            .or_else(|| non_empty_env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| "default".to_owned())
    }

    /// An `SdkConfig` with these settings and no credentials: providers give credentials per
    /// client. The region is a placeholder every client replaces; giving one keeps the loader
    /// from probing IMDS for it.
    pub(crate) async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .region(Region::from_static("us-east-1"))
            .no_credentials()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(name) = &self.app_name {
            loader = loader.app_name(name.clone());
        }
        loader.load().await
    }

    /// The IMDS endpoint these options name, else the environment's, else the default: for
    /// cache identities and messages.
    pub(crate) fn imds_endpoint_or_default(&self) -> String {
        self.imds_endpoint
            .clone()
            .or_else(|| non_empty_env("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned())
    }
}

/// Where IMDS is when nothing says otherwise.
const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The SDK configuration of one provider: the embedder's, or one loaded from [`AwsOptions`] on
/// first use and kept.
#[derive(Debug)]
pub(crate) struct SdkBase {
    options: AwsOptions,
    loaded: tokio::sync::OnceCell<SdkConfig>,
    given: bool,
}

impl SdkBase {
    pub(crate) fn new(options: AwsOptions) -> Self {
        Self {
            options,
            loaded: tokio::sync::OnceCell::new(),
            given: false,
        }
    }

    /// Calls go over the embedder's `sdk` (its HTTP client, endpoint, timeouts, retries, app
    /// name); its credentials provider is not used here. An `SdkConfig` without an HTTP client
    /// (aws-config built without its default features, as this crate builds it) gets this
    /// crate's.
    pub(crate) fn given(sdk: SdkConfig, options: AwsOptions) -> Self {
        let sdk = if sdk.http_client().is_none() {
            sdk.into_builder().http_client(https_client()).build()
        } else {
            sdk
        };
        Self {
            options,
            loaded: tokio::sync::OnceCell::new_with(Some(sdk)),
            given: true,
        }
    }

    pub(crate) async fn get(&self) -> &SdkConfig {
        self.loaded.get_or_init(|| self.options.sdk_config()).await
    }

    /// Where calls to `service` (`ECR`, `STS`) go, for cache identities and messages.
    pub(crate) fn endpoint_for(&self, service: &str) -> String {
        let given = self.loaded.get().filter(|_| self.given);
        match given {
            Some(sdk) => sdk
                .endpoint_url()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the SdkConfig's {service} endpoint")),
            None => self.options.endpoint_for(service),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[tokio::test]
    async fn the_bounds_reach_the_sdk_configuration_every_client_is_built_from() {
        let sdk = AwsOptions::default().sdk_config().await;
        let timeouts = sdk.timeout_config().expect("timeouts");
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(30)));
        let retry = sdk.retry_config().expect("retries");
        assert_eq!(
            (retry.mode(), retry.max_attempts()),
            (RetryMode::Standard, 3)
        );
        assert_eq!(sdk.endpoint_url(), None);

        // And what an embedder sets instead, as the ECR client sees it.
        let options = AwsOptions::default()
            .with_timeouts(
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(300),
            )
            .with_max_attempts(5)
            .with_endpoint_url("http://127.0.0.1:9");
        let ecr = aws_sdk_ecr::Config::from(&options.sdk_config().await);
        let timeouts = ecr.timeout_config().expect("timeouts");
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(100)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_millis(300))
        );
        assert_eq!(ecr.retry_config().map(|r| r.max_attempts()), Some(5));
    }
}
