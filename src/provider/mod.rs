//! Credential providers: where a registry entry's credentials come from.
//!
//! A [`CredentialProvider`] makes one upstream call per [`fetch`](CredentialProvider::fetch):
//! it never caches. The [`DefaultResolver`](crate::resolver::DefaultResolver) puts every
//! provider behind one [`TokenCache`](crate::cache::TokenCache) keyed by the provider's
//! [`identity`](CredentialProvider::identity) and the [`EcrTarget`], so the tokens callers see
//! are cached and expiry-aware whatever the provider.
//!
//! The two built-in providers are the seed's two options, [`IamUserProvider`] and
//! [`InstanceRoleProvider`]; both end in ECR `GetAuthorizationToken`. An embedding tool adds its
//! own kind of source by implementing the trait (see `examples/custom_provider.rs`).

mod aws;
mod iam_user;
mod instance_role;
mod quiet;

use std::fmt;

use async_trait::async_trait;

pub use aws::AwsOptions;
pub use iam_user::IamUserProvider;
pub use instance_role::InstanceRoleProvider;

use crate::ecr::EcrHost;
use crate::reference::ImageReference;
use crate::{Error, RegistryCredential};

/// A source of registry credentials for one registry entry.
#[async_trait]
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// Gets a fresh credential for `target` from upstream. Called only on a cache miss or a
    /// refresh, at most once at a time per cache key.
    async fn fetch(&self, target: &EcrTarget) -> Result<RegistryCredential, Error>;

    /// Who the credentials belong to, for the cache key: an access key id, a role name and the
    /// ARN of a role assumed on top. Never a secret.
    fn identity(&self) -> String;
}

/// Where an ECR token is asked for: what the image's host says, with the entry's region as the
/// fallback for hosts that are not ECR hostnames.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EcrTarget {
    /// The image's registry host, lowercased, with the port if it has one.
    pub registry: String,
    /// The account id, sent as `registryIds`; `None` for a host that is not an ECR hostname
    /// (the caller's own registry is meant).
    pub registry_id: Option<String>,
    /// The region the call goes to.
    pub region: String,
    /// Use the FIPS endpoint.
    pub fips: bool,
    /// Use the dual-stack endpoint.
    pub dual_stack: bool,
    /// The host is ECR Public (`public.ecr.aws`), whose tokens the private ECR API cannot give.
    pub public: bool,
}

impl EcrTarget {
    /// The target for `image`, served by an entry whose region is `entry_region`.
    ///
    /// An ECR hostname decides the account, the region and the endpoint variant; the entry's
    /// region is used only for other hosts (a pull-through cache behind a custom DNS name).
    pub fn for_image(image: &ImageReference, entry_region: &str) -> Self {
        let registry = image.domain().to_ascii_lowercase();
        match EcrHost::parse(image.domain()) {
            Some(h) => Self {
                registry,
                registry_id: h.account_id().map(str::to_owned),
                region: h.region().unwrap_or(entry_region).to_owned(),
                fips: h.fips(),
                dual_stack: h.dual_stack(),
                public: h.is_public(),
            },
            None => Self {
                registry,
                registry_id: None,
                region: entry_region.to_owned(),
                fips: false,
                dual_stack: false,
                public: false,
            },
        }
    }
}
