//! Short-lived credentials for private container registries, starting with AWS Elastic
//! Container Registry.
//!
//! An organisation keeps a list of registry entries. Each entry is a **match pattern**
//! (`123456789012.dkr.ecr.us-east-1.amazonaws.com/*`, or narrower,
//! `…/my-repo/*`) and a **credential source**: an IAM user's access key, or the worker's EC2
//! instance role (optionally with a dedicated role assumed on top). Given an image reference,
//! this crate picks the entry whose pattern fits best, gets an ECR authorization token with that
//! entry's credentials, caches it until shortly before it expires, and hands back
//! `AWS` / password / server / expiry.
//!
//! # Which entry serves an image
//!
//! Patterns are matched against the normalised image reference, and the most specific pattern
//! wins. This part works offline:
//!
//! ```
//! use registry_auth::config::RegistryConfig;
//! use registry_auth::pattern;
//! use registry_auth::reference::ImageReference;
//!
//! let config = RegistryConfig::from_toml_str(r#"
//!     [[registry]]
//!     pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
//!     iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = "example", region = "us-east-1" }
//!
//!     [[registry]]
//!     pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*"
//!     instance_role = { role_name = "ValohaiWorkerRole", region = "us-east-1" }
//! "#, "registries.toml")?;
//! let patterns: Vec<_> = config.entries().iter().map(|e| &e.pattern).collect();
//!
//! let image = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/train:v1")?;
//! assert_eq!(pattern::best_match(patterns.iter().copied(), &image), Some(1));
//!
//! let image = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:v1")?;
//! assert_eq!(pattern::best_match(patterns.iter().copied(), &image), Some(0));
//!
//! // Why: every candidate, the winner, and the rule that decided.
//! let why = pattern::explain(patterns.iter().copied(), &image);
//! assert_eq!(why.candidates.len(), 1);
//! # Ok::<(), registry_auth::Error>(())
//! ```
//!
//! The pattern rules are in [`pattern`]; image references follow the distribution grammar
//! ([`mod@reference`]); what an ECR hostname tells (account, region, FIPS, dual-stack) is in
//! [`ecr`].
//!
//! # Getting a credential
//!
//! A [`DefaultResolver`](resolver::DefaultResolver) holds the entries, compiled into a
//! [`PatternIndex`](index::PatternIndex), one [`CredentialProvider`](provider::CredentialProvider)
//! per entry, and one [`TokenCache`](cache::TokenCache):
//!
//! ```no_run
//! use registry_auth::config::RegistryConfig;
//! use registry_auth::resolver::{DefaultResolver, RegistryResolver};
//!
//! # async fn run() -> Result<(), registry_auth::Error> {
//! let config = RegistryConfig::load("registries.toml")?;
//! let resolver = DefaultResolver::builder().config(&config)?.build()?;
//! let login = resolver
//!     .resolve_str("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0")
//!     .await?;
//! assert_eq!(login.username, "AWS");
//! // `login.password` is a `secrecy::SecretString`: Debug and Display never show it.
//! println!("{} until {}", login.server, registry_auth::format_time(login.expires_at));
//! # Ok(()) }
//! ```
//!
//! The call goes to the region, account (`registryIds`) and endpoint variant (FIPS,
//! dual-stack) that the image's host names; the entry's region is the fallback for hosts that
//! are not ECR hostnames. Tokens are refreshed ahead, at half their remaining lifetime; a
//! refresh that fails while the token is still valid keeps serving it; an expired token is
//! never served. See [`cache`].
//!
//! # Your own credential source
//!
//! Implement [`CredentialProvider`](provider::CredentialProvider) and add it with
//! [`DefaultResolverBuilder::entry`](resolver::DefaultResolverBuilder::entry): the resolver
//! caches its tokens like the built-in ones. `examples/custom_provider.rs` shows one.
//!
//! # Errors
//!
//! Every failure is an [`Error`] whose message names the input, where it went wrong, and what to
//! do: an `AccessDenied` names the principal and prints the policy statement to add. No error,
//! `Debug` output or log line carries a secret.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cache;
#[doc(hidden)]
pub mod cli;
pub mod config;
mod credential;
pub mod disk_cache;
pub mod docker_helper;
pub mod ecr;
mod error;
pub mod index;
pub mod kubelet;
pub mod pattern;
pub mod policy;
pub mod provider;
pub mod reference;
pub mod resolver;
pub mod scope;
mod time;
pub mod valohai;

pub use credential::RegistryCredential;
pub use error::Error;

/// Formats a time as RFC 3339 in UTC, whole seconds: `2026-11-27T19:42:52Z`.
pub fn format_time(t: std::time::SystemTime) -> String {
    time::rfc3339(t)
}
