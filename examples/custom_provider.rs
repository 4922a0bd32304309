//! Add your own kind of credential source without forking: implement `CredentialProvider`,
//! register it for a pattern, and the resolver caches its credentials like the built-in ones.
//!
//! Here: a registry's robot account (as Harbor, Quay or GitLab hand them out), whose password
//! the process gets from its environment. Nothing about AWS: the provider sees the registry
//! host and port, and answers username, password, server and (no) expiry.
//!
//! ```text
//! ROBOT_PASSWORD=... cargo run --example custom_provider -- localhost:5000/team/app:v1
//! ```
//!
//! The integration tests use [`RobotAccount`] against a real `docker-registry` checking the
//! password with htpasswd.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use registry_auth::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use registry_auth::secrecy::SecretString;
use registry_auth::{
    async_trait, DefaultResolver, Error, MatchPattern, RegistryCredential, RegistryResolver,
};

/// A robot account: a fixed username and password; counts how often it is asked.
#[derive(Debug)]
pub struct RobotAccount {
    name: String,
    password: SecretString,
    calls: AtomicUsize,
}

impl RobotAccount {
    /// The robot `name` with `password`.
    pub fn new(name: impl Into<String>, password: SecretString) -> Self {
        Self {
            name: name.into(),
            password,
            calls: AtomicUsize::new(0),
        }
    }

    /// How many times the resolver asked for a credential.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CredentialProvider for RobotAccount {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // No expiry: the cache keeps it until it is invalidated.
        Ok(RegistryCredential::new(
            &self.name,
            self.password.clone(),
            target.server(),
            None,
        ))
    }

    fn identity(&self) -> CacheIdentity {
        // The password is part of the identity only as a keyed hash.
        CacheIdentity::new("robot")
            .with("name", &self.name)
            .with_secret(&self.password)
    }
}

/// A resolver that serves every image of `registry` (`HOST[:PORT]`) with `robot`.
pub fn resolver_for(registry: &str, robot: Arc<RobotAccount>) -> Result<DefaultResolver, Error> {
    DefaultResolver::builder()
        .provider_entry(MatchPattern::parse(&format!("{registry}/*"))?, robot)
        .build()
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:5000/team/app:v1".to_owned());
    let password = std::env::var("ROBOT_PASSWORD").map_err(|_| "set ROBOT_PASSWORD")?;
    let robot = Arc::new(RobotAccount::new("robot", password.into()));
    let reference = registry_auth::ImageReference::parse(&image)?;
    let resolver = resolver_for(reference.domain(), robot.clone())?;

    for _ in 0..3 {
        let login = resolver.resolve(&reference).await?.credential;
        println!("{} for {}", login.username(), login.server());
    }
    // Three resolves, one call to the provider: the other two were cache hits.
    assert_eq!(robot.calls(), 1);
    Ok(())
}
