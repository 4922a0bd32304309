//! One AWS entry's provider: credentials from its source (with a role on top, if any), then
//! the registry's token from ECR, or ECR Public for its hosts. Every AWS provider type is this,
//! with its own builder.

use aws_credential_types::provider::SharedCredentialsProvider;

use super::credentials::{AwsCredentials, CallFor};
use super::ecr::ecr_token;
use super::error::Caller;
use super::{EcrHost, EcrTarget, SdkBase};
use crate::provider::{CacheIdentity, RegistryTarget, RequestAttributes};
use crate::{Error, RegistryCredential};

/// Credentials, then a registry token.
#[derive(Debug)]
pub(crate) struct EcrTokens {
    credentials: Box<dyn AwsCredentials>,
    /// Where calls go for hosts that are not ECR hostnames.
    region: Option<String>,
    sdk: SdkBase,
}

impl EcrTokens {
    pub(crate) fn new(
        credentials: Box<dyn AwsCredentials>,
        region: Option<String>,
        sdk: SdkBase,
    ) -> Self {
        Self {
            credentials,
            region: region.filter(|r| !r.trim().is_empty()),
            sdk,
        }
    }

    pub(crate) async fn fetch(
        &self,
        target: &RegistryTarget<'_>,
    ) -> Result<RegistryCredential, Error> {
        let ecr = match EcrTarget::resolve(target, self.region.as_deref()) {
            // No region on the entry, a host that names none: the source's own (the chain's).
            Err(e) if self.region.is_none() && EcrHost::parse(target.host()).is_none() => {
                match self.credentials.default_region().await {
                    Some(region) => EcrTarget::resolve(target, Some(&region))?,
                    None => return Err(e),
                }
            }
            other => other?,
        };
        let call = CallFor {
            region: &ecr.region,
            request: target.request(),
            sdk: &self.sdk,
        };
        let signed = self.credentials.credentials(&call).await?;
        let key = signed.credentials.access_key_id().to_owned();
        let caller = Caller {
            who: &signed.who,
            access_key_id: &key,
        };
        let sdk = self.sdk.get().await;
        ecr_token(
            sdk,
            SharedCredentialsProvider::new(signed.credentials),
            &ecr,
            &caller,
        )
        .await
    }

    pub(crate) fn identity(&self) -> CacheIdentity {
        self.credentials
            .identity()
            .with("region", self.region.as_deref().unwrap_or("-"))
            .with("ecr", self.sdk.endpoint_for("ECR"))
    }

    pub(crate) fn request_identity(&self, request: &RequestAttributes) -> Option<CacheIdentity> {
        self.credentials.request_identity(request)
    }
}

/// Implements [`CredentialProvider`](crate::CredentialProvider) for a wrapper around
/// [`EcrTokens`] in its `inner` field.
macro_rules! ecr_tokens_provider {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::provider::CredentialProvider for $ty {
            async fn fetch(
                &self,
                target: &$crate::provider::RegistryTarget<'_>,
            ) -> Result<$crate::RegistryCredential, $crate::Error> {
                self.inner.fetch(target).await
            }

            fn identity(&self) -> $crate::provider::CacheIdentity {
                self.inner.identity()
            }

            fn request_identity(
                &self,
                request: &$crate::provider::RequestAttributes,
            ) -> Option<$crate::provider::CacheIdentity> {
                self.inner.request_identity(request)
            }
        }
    };
}

pub(crate) use ecr_tokens_provider;
