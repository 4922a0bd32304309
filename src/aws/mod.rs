//! The AWS wing: ECR authorization tokens with an IAM user's key or an EC2 instance role.
//!
//! Everything AWS-specific lives here, behind the registry-neutral
//! [`CredentialProvider`](crate::provider::CredentialProvider) seam:
//!
//! - [`EcrHost`]: what an ECR hostname tells (account, region, partition, FIPS, dual-stack);
//! - [`EcrTarget`] and [`get_authorization_token`]: the ECR call, a building block for
//!   providers of your own;
//! - [`IamUserProvider`] and [`InstanceRoleProvider`]: the two credential sources, each with a
//!   builder, and their configuration schema ([`IamUser`], [`InstanceRole`], [`AssumeRole`]);
//! - [`AwsOptions`]: endpoint, timeouts and retries for every call;
//! - [`AwsError`]: failures in words a user can act on (reached through
//!   [`Error::detail`](crate::Error::detail));
//! - [`policy`]: the least-privilege IAM pull policy for a set of patterns.
//!
//! Every provider loads its SDK configuration (environment, profile files, HTTP client and its
//! connection pool) once, on its first call; each call after that is a cheap client over it.
//! Every call runs under a log filter that keeps the SDK's TRACE dumps of replies (tokens,
//! keys) out of the embedder's logs.
//!
//! The providers need a Tokio runtime with the time driver (`enable_time`, or `enable_all`):
//! the SDK's timeouts and retries run on it.

mod ecr;
mod error;
mod host;
mod iam_user;
mod instance_role;
mod log_filter;
pub mod policy;
mod source;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use ecr::{get_authorization_token, EcrTarget};
pub use error::AwsError;
pub use host::{is_region, EcrHost, Partition};
pub use iam_user::{IamUserProvider, IamUserProviderBuilder};
pub use instance_role::{InstanceRoleProvider, InstanceRoleProviderBuilder};
pub use source::{AssumeRole, IamUser, InstanceRole};

pub(crate) use log_filter::without_sdk_trace;

/// SDK settings shared by the AWS providers: endpoint override, timeouts, retries.
///
/// The defaults bound every call: 3 s to connect, 10 s per attempt, 30 s per operation, and the
/// SDK's standard retry mode (which backs off on throttling) with 3 attempts.
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
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 3,
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
        loader.load().await
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The SDK configuration of one provider, loaded on first use and kept.
#[derive(Debug)]
pub(crate) struct SdkBase {
    options: AwsOptions,
    loaded: tokio::sync::OnceCell<SdkConfig>,
}

impl SdkBase {
    pub(crate) fn new(options: AwsOptions) -> Self {
        Self {
            options,
            loaded: tokio::sync::OnceCell::new(),
        }
    }

    pub(crate) fn options(&self) -> &AwsOptions {
        &self.options
    }

    pub(crate) async fn get(&self) -> &SdkConfig {
        self.loaded.get_or_init(|| self.options.sdk_config()).await
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
