//! An embedding tool that already has its AWS set up hands it in: its own `SdkConfig`
//! (credentials, region, HTTP client, endpoint, timeouts, app name) as the default of every AWS
//! entry, one entry with a credentials provider of its own, and the crate's options for the
//! rest, in any order.
//!
//! ```text
//! cargo run --example embed_sdk_config -- 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1
//! ```
//!
//! The SDK configuration comes from the environment here (`aws_config::load_defaults`), as a
//! tool would load it anyway; the integration tests build one pointing at the emulator and call
//! [`resolver`] with it.

use std::time::Duration;

use aws_config::{AppName, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use registry_auth::aws::AwsOptions;
use registry_auth::{DefaultResolver, Error, MatchPattern, RegistryConfig, RegistryResolver};

/// Entries: every private ECR registry through the standard chain, which with an `SdkConfig`
/// given means the embedder's credentials; a second account's registry with its own
/// credentials provider (a CI role, say).
pub const CONFIG: &str = r#"
[[registry]]
pattern = "*.dkr.ecr.*.amazonaws.com/*"
aws_chain = {}
"#;

/// A resolver over [`CONFIG`] with `sdk` as the default of every AWS entry, and `other`
/// serving the registry `other_registry` (`HOST`).
pub fn resolver(
    sdk: SdkConfig,
    other_registry: &str,
    other: SharedCredentialsProvider,
) -> Result<DefaultResolver, Error> {
    let config = RegistryConfig::from_toml_str(CONFIG, "embedded")?;
    // The order does not matter: providers are made at first use, with the final settings.
    DefaultResolver::builder()
        .config(&config)
        .aws_credentials_entry(
            MatchPattern::parse(&format!("{other_registry}/*"))?,
            other,
            "us-east-1",
        )
        .aws_sdk_config(sdk)
        // Only what an SdkConfig cannot say (the IMDS endpoint) applies on top of it.
        .aws_options(AwsOptions::default().with_timeouts(
            Duration::from_secs(2),
            Duration::from_secs(5),
            Duration::from_secs(15),
        ))
        .build()
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1".to_owned());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .app_name(AppName::new("embed-example")?)
        .load()
        .await;
    let ci = sdk
        .credentials_provider()
        .ok_or("no AWS credentials in the environment")?;
    let resolver = resolver(sdk, "210987654321.dkr.ecr.eu-west-1.amazonaws.com", ci)?;
    let login = resolver.resolve_str(&image).await?;
    println!(
        "entry {} ({}): {} for {}, until {:?}",
        login.entry,
        login.pattern,
        login.credential.username(),
        login.credential.server(),
        login.credential.expires_at()
    );
    Ok(())
}
