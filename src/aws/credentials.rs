//! Where an AWS entry's credentials come from: the seam every source implements and every
//! layer (a role assumed on top) wraps, the static-key source, and a credentials provider from
//! the AWS SDK.

use std::error::Error as StdError;
use std::fmt;

use async_trait::async_trait;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::result::ConnectorError;
use secrecy::{ExposeSecret, SecretString};

use super::{AwsError, SdkBase};
use crate::provider::{CacheIdentity, RequestAttributes};
use crate::Error;

/// AWS credentials for one call, and who they belong to in error messages.
pub(crate) struct Signed {
    pub(crate) credentials: Credentials,
    /// `access key AKIA…`, `instance role NAME`, `role ARN (assumed by …)`.
    pub(crate) who: String,
}

/// What a source may need to know about the call its credentials are for.
pub(crate) struct CallFor<'a> {
    /// The region the registry call goes to; STS calls go there too.
    pub(crate) region: &'a str,
    /// The request's attributes, when the source's `request_identity` asked for them.
    pub(crate) request: &'a RequestAttributes,
    /// The provider's SDK settings.
    pub(crate) sdk: &'a SdkBase,
}

/// A source of AWS credentials: static keys, IMDS, the standard chain, a web identity, or a
/// role assumed over another source.
#[async_trait]
pub(crate) trait AwsCredentials: Send + Sync + fmt::Debug {
    /// Credentials for `call`; one upstream round (or none) per call: the token cache above
    /// decides how often that is.
    async fn credentials(&self, call: &CallFor<'_>) -> Result<Signed, Error>;

    /// Who the credentials belong to, for cache keys.
    fn identity(&self) -> CacheIdentity;

    /// What of a request's attributes the credentials depend on (see
    /// [`CredentialProvider::request_identity`](crate::CredentialProvider::request_identity)).
    fn request_identity(&self, request: &RequestAttributes) -> Option<CacheIdentity> {
        let _ = request;
        None
    }

    /// The region this source's own configuration names (the standard chain's), for hosts
    /// that are not ECR hostnames when the entry names none.
    async fn default_region(&self) -> Option<String> {
        None
    }
}

/// An access key, with a session token when the key is temporary.
#[derive(Debug)]
pub(crate) struct StaticKeys {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: SecretString,
    pub(crate) session_token: Option<SecretString>,
}

#[async_trait]
impl AwsCredentials for StaticKeys {
    async fn credentials(&self, _call: &CallFor<'_>) -> Result<Signed, Error> {
        Ok(Signed {
            credentials: Credentials::new(
                &self.access_key_id,
                self.secret_access_key.expose_secret(),
                self.session_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_owned()),
                None,
                "registry-auth-iam-user",
            ),
            who: self.access_key_id.clone(),
        })
    }

    fn identity(&self) -> CacheIdentity {
        let mut id = CacheIdentity::new("iam-user")
            .with("key", &self.access_key_id)
            .with_secret(&self.secret_access_key);
        if let Some(token) = &self.session_token {
            id = id.with_secret(token);
        }
        id
    }
}

/// Credentials from an AWS SDK credentials provider: the embedder's, or aws-config's chain.
pub(crate) async fn from_sdk_provider(
    provider: &SharedCredentialsProvider,
    source: &str,
) -> Result<Signed, Error> {
    let credentials = super::without_sdk_trace(provider.provide_credentials())
        .await
        .map_err(|e| credentials_error(&e, source))?;
    let who = format!("{source} (access key {})", credentials.access_key_id());
    Ok(Signed { credentials, who })
}

/// A failure of an SDK credentials provider in words a user can act on. Only the error's kind
/// and a few typed errors known to hold no secret (profile-file problems, connection kinds) are
/// looked at: the rest of the chain's text may quote a process's output or a reply.
pub(crate) fn credentials_error(err: &CredentialsError, source: &str) -> Error {
    let (detail, retryable) = match err {
        CredentialsError::CredentialsNotLoaded(_) => (
            "none of its sources had credentials (environment variables, the shared config and credentials files, a web identity token file, container credentials, the instance metadata service)".to_owned(),
            false,
        ),
        CredentialsError::ProviderTimedOut(_) => {
            ("it did not answer in time".to_owned(), true)
        }
        CredentialsError::InvalidConfiguration(_) => (
            known_cause(err).unwrap_or_else(|| "its configuration is invalid".to_owned()),
            false,
        ),
        CredentialsError::ProviderError(_) => (
            known_cause(err).unwrap_or_else(|| {
                "one of its sources failed (REGISTRY_AUTH_LOG=debug shows which)".to_owned()
            }),
            true,
        ),
        _ => (
            known_cause(err).unwrap_or_else(|| "it gave no usable credentials".to_owned()),
            false,
        ),
    };
    AwsError::NoCredentials {
        origin: source.to_owned(),
        detail,
        retryable,
    }
    .into()
}

/// The first cause in `err`'s chain whose text is known to be safe and useful.
fn known_cause(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = err.source();
    while let Some(e) = next {
        if let Some(p) = e.downcast_ref::<aws_config::profile::credentials::ProfileFileError>() {
            return Some(format!("the profile configuration: {p}"));
        }
        if let Some(p) = e.downcast_ref::<aws_config::profile::ProfileFileLoadError>() {
            return Some(format!("the shared config files: {p}"));
        }
        if let Some(c) = e.downcast_ref::<ConnectorError>() {
            let how = if c.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            return Some(format!("a connection it needed {how}"));
        }
        next = e.source();
    }
    None
}
