//! Add your own kind of credential source without forking: implement `CredentialProvider`,
//! register it for a pattern, and the resolver caches its tokens like the built-in ones.
//!
//! Here: a registry on the local network whose tokens a (pretend) vault hands out for an hour.
//!
//! ```text
//! cargo run --example custom_provider
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::{CredentialProvider, EcrTarget};
use registry_auth::resolver::{DefaultResolver, RegistryResolver};
use registry_auth::{Error, RegistryCredential};

/// Hands out one-hour tokens; counts how often it is asked.
#[derive(Debug, Default)]
struct VaultProvider {
    calls: AtomicUsize,
}

#[async_trait]
impl CredentialProvider for VaultProvider {
    async fn fetch(&self, target: &EcrTarget) -> Result<RegistryCredential, Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(RegistryCredential::new(
            "robot",
            format!("token-{n}").into(),
            format!("https://{}", target.registry),
            SystemTime::now() + Duration::from_secs(3600),
        ))
    }

    fn identity(&self) -> String {
        "vault/robot".to_owned()
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let vault = Arc::new(VaultProvider::default());
    let resolver = DefaultResolver::builder()
        .entry(
            MatchPattern::parse("registry.internal.example:5000/*")?,
            "us-east-1",
            vault.clone(),
        )
        .build()?;

    for _ in 0..3 {
        let login = resolver
            .resolve_str("registry.internal.example:5000/team/app:v1")
            .await?;
        println!("{} for {}", login.username, login.server);
    }
    // Three resolves, one upstream call: the other two were cache hits.
    assert_eq!(vault.calls.load(Ordering::SeqCst), 1);
    println!("upstream calls: {}", vault.calls.load(Ordering::SeqCst));
    Ok(())
}
