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

    /// Where calls for `target` go: what its host says, else the entry's region, else the
    /// source's own (the chain's).
    pub(crate) async fn ecr_target(&self, target: &RegistryTarget<'_>) -> Result<EcrTarget, Error> {
        match EcrTarget::resolve(target, self.region.as_deref()) {
            Err(e) if self.region.is_none() && EcrHost::parse(target.host()).is_none() => {
                match self.credentials.default_region().await {
                    Some(region) => EcrTarget::resolve(target, Some(&region)),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// The source's AWS credentials, for a call to `region`.
    pub(crate) async fn signed(
        &self,
        region: &str,
        request: &RequestAttributes,
    ) -> Result<super::credentials::Signed, Error> {
        let call = CallFor {
            region,
            request,
            sdk: &self.sdk,
        };
        self.credentials.credentials(&call).await
    }

    /// The SDK settings calls go over.
    pub(crate) fn sdk(&self) -> &SdkBase {
        &self.sdk
    }

    pub(crate) async fn fetch(
        &self,
        target: &RegistryTarget<'_>,
    ) -> Result<RegistryCredential, Error> {
        let ecr = self.ecr_target(target).await?;
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

            async fn check_pull(
                &self,
                image: &$crate::ImageReference,
                credential: &$crate::RegistryCredential,
            ) -> $crate::live::PullCheck {
                $crate::aws::probe::check_pull(&self.inner, image, credential).await
            }
        }
    };
}

pub(crate) use ecr_tokens_provider;
