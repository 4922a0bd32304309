//! Plain registries: a username and a password that does not expire.
//!
//! Docker Hub, GitHub's and GitLab's registries, Harbor, Quay and a self-hosted `registry`
//! take a fixed username and password (or a personal access token as the password). A
//! `[registry.basic]` entry serves them through the same patterns, scopes and cache as every
//! other source:
//!
//! ```toml
//! [[registry]]
//! pattern = "ghcr.io/acme/*"
//! [registry.basic]
//! username = "acme-ci"
//! password = { env = "GHCR_TOKEN" }      # or "inline", or { file = "token.txt" }
//! ```
//!
//! The credential has no expiry. It is kept in memory like any other, and **never written to
//! the disk cache**: a short-lived process reads the password from the configuration (its
//! environment variable or file) each time.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

use crate::config::{FieldError, SecretSource};
use crate::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use crate::{Error, RegistryCredential};

/// A plain registry's username and password: `[registry.basic]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Basic {
    /// The user name, e.g. `acme-ci`.
    pub username: String,
    /// The password or access token.
    pub password: SecretSource,
}

impl Basic {
    /// A basic source from its parts.
    pub fn new(username: impl Into<String>, password: SecretString) -> Self {
        Self {
            username: username.into(),
            password: SecretSource::Inline(password),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        if self.username.trim().is_empty() {
            return Err(FieldError::new("username", "is empty"));
        }
        if self.username.contains(':') || self.username.chars().any(char::is_control) {
            return Err(FieldError::new(
                "username",
                "holds `:` or a control character, which a registry login cannot carry",
            ));
        }
        Ok(())
    }

    pub(crate) fn secrets_mut(&mut self) -> Vec<&mut SecretSource> {
        vec![&mut self.password]
    }

    pub(crate) fn provider(&self) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        Ok(Arc::new(BasicProvider::new(
            &self.username,
            self.password.read("password")?,
        )))
    }
}

/// Hands out a fixed username and password, with no expiry.
///
/// ```
/// use registry_auth::basic::BasicProvider;
/// use registry_auth::provider::{CredentialProvider, RegistryTarget};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), registry_auth::Error> {
/// let provider = BasicProvider::new("acme-ci", "t0ken".into());
/// let login = provider.fetch(&RegistryTarget::for_host("ghcr.io", None)).await?;
/// assert_eq!((login.username(), login.server()), ("acme-ci", "https://ghcr.io"));
/// assert_eq!(login.expires_at(), None);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BasicProvider {
    username: String,
    password: SecretString,
}

impl BasicProvider {
    /// A provider of this login.
    pub fn new(username: impl Into<String>, password: SecretString) -> Self {
        Self {
            username: username.into(),
            password,
        }
    }
}

#[async_trait]
impl CredentialProvider for BasicProvider {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        Ok(RegistryCredential::new(
            &self.username,
            self.password.clone(),
            target.server(),
            None,
        ))
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("basic")
            .with("user", &self.username)
            .with_secret(&self.password)
    }
}
