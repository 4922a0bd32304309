//! Short-lived credentials for private container registries, starting with AWS Elastic
//! Container Registry.
//!
//! An organisation keeps a list of **registry entries**. Each entry is a **match pattern**
//! (`123456789012.dkr.ecr.us-east-1.amazonaws.com/*`, or narrower, `…/my-repo/*`) and a
//! **credential source**: an IAM user's access key, the worker's EC2 instance role, the standard
//! AWS chain, a web identity token (any of those with a dedicated role assumed on top), a Google
//! service account, an Azure service principal or managed identity, or a plain registry's
//! username and password. Given an image reference, this crate picks the entry whose pattern fits best, gets a credential with
//! that entry's source (for ECR, an authorization token), caches it until shortly before it
//! expires, and hands back username / password / server / expiry.
//!
//! ```text
//! "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0"
//!    │ reference   parse and normalise (distribution grammar)        → ImageReference
//!    │ index       best permitted entry among N patterns             → entry
//!    │ cache       fresh token? served without a lock; else one upstream call per key,
//!    │             through an optional second tier (disk) for short-lived processes
//!    │ provider    the entry's CredentialProvider, given only the registry (and image)
//!    ▼
//! Resolved { credential: RegistryCredential, entry, pattern }
//! ```
//!
//! # Which entry serves an image
//!
//! Patterns are matched against the normalised image reference, and the most specific pattern
//! wins. This part works offline and reads no secret:
//!
//! ```
//! use registry_auth::{DefaultResolver, ImageReference, RegistryConfig};
//!
//! let config = RegistryConfig::from_toml_str(r#"
//!     [[registry]]
//!     pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
//!     iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = { env = "ECR_SECRET" }, region = "us-east-1" }
//!
//!     [[registry]]
//!     pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*"
//!     instance_role = { role_name = "ValohaiWorkerRole", region = "us-east-1" }
//! "#, "registries.toml")?;
//! let resolver = DefaultResolver::builder().config(&config).build()?;
//! let anyone = registry_auth::ResolveContext::unscoped();
//!
//! let image = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/train:v1")?;
//! assert_eq!(resolver.select_in(&anyone, &image)?.map(|(i, _)| i), Some(1));
//!
//! // Why: every candidate, the winner, and the rule that decided.
//! let why = resolver.explain_in(&anyone, &image);
//! assert_eq!(why.candidates.len(), 2);
//! assert!(why.candidates[1].reason.starts_with("won over [0]: longer literal path prefix"));
//! # Ok::<(), registry_auth::Error>(())
//! ```
//!
//! The pattern language and the best-match rules are in [`pattern`]; image references follow the
//! distribution grammar ([`mod@reference`]); what an ECR hostname tells (account, region, FIPS,
//! dual-stack) is in [`aws::EcrHost`].
//!
//! # Getting a credential
//!
//! ```no_run
//! use registry_auth::{DefaultResolver, RegistryConfig, RegistryResolver};
//!
//! # async fn run() -> Result<(), registry_auth::Error> {
//! let config = RegistryConfig::load("registries.toml")?;
//! let resolver = DefaultResolver::builder().config(&config).build()?;
//! let login = resolver
//!     .resolve_str("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0")
//!     .await?;
//! assert_eq!(login.credential.username(), "AWS");
//! // The password stays wrapped (Debug shows `[REDACTED]`) until it is sent:
//! let _password: &str = login.credential.expose_password();
//! println!("entry {} served it, until {:?}", login.entry, login.credential.expires_at());
//! # Ok(()) }
//! ```
//!
//! **Runtime.** Resolving runs on a Tokio runtime with the time driver
//! (`#[tokio::main]`, or a runtime built with `enable_all()`): the AWS SDK's timeouts and the
//! cache's file locks need it, and a plain `futures::executor::block_on` panics inside the SDK.
//! The crate asks Tokio only for `sync` and `time`; the binaries add the runtime.
//!
//! For ECR, the call goes to the region, account (`registryIds`) and endpoint variant (FIPS,
//! dual-stack) that the image's host names; the entry's region is the fallback for hosts that
//! are not ECR hostnames. Tokens are refreshed ahead, at half their remaining lifetime; a
//! refresh that fails while the token is still valid keeps serving it; an expired token is
//! never served. See [`cache`].
//!
//! # Credential sources
//!
//! | configuration table | provider | registries |
//! | --- | --- | --- |
//! | `iam_user` | [`aws::IamUserProvider`] | ECR, ECR Public |
//! | `instance_role` | [`aws::InstanceRoleProvider`] (IMDSv2, the named role checked) | ECR, ECR Public |
//! | `aws_chain` | aws-config's standard chain: environment, profiles, SSO, `credential_process`, IRSA, ECS and EKS Pod Identity, IMDS | ECR, ECR Public |
//! | `web_identity` | STS `AssumeRoleWithWebIdentity` with a token file, or the kubelet's service-account token ([`RequestAttributes`]) | ECR, ECR Public |
//! | `assume_role = {…}` on any AWS source | STS `AssumeRole` on top of the base credentials | ECR, ECR Public |
//! | `gcp` (feature `gcp`) | a service account key or the metadata server, optionally impersonating | Artifact Registry, Container Registry |
//! | `azure` (feature `azure`) | a service principal (secret or certificate) or a managed identity, exchanged for an ACR refresh token | Azure Container Registry |
//! | `basic` | [`basic::BasicProvider`]: a username and a password that does not expire | any registry |
//!
//! An embedder that already has AWS set up hands its `SdkConfig` to
//! [`DefaultResolverBuilder::aws_sdk_config`];
//! every AWS entry then uses its credentials, region, HTTP client and endpoints unless the entry
//! says otherwise. The field-by-field schema of every table is in [`config`].
//!
//! # Who may use an entry
//!
//! An entry may name an `owner` organisation and the `environments` it may be used in; a
//! [`ResolveContext`] says who asks. Entries another organisation owns are never candidates,
//! and a request that names nobody gets only unscoped entries (fail closed). See [`scope`].
//!
//! # Writing a provider
//!
//! A new kind of registry is one [`CredentialProvider`]: two methods, `fetch` (one upstream
//! call, no caching) and `identity` (what the cache files its tokens under), and optionally
//! `check_pull` (how the registry proves a pull, for the [`live`] check). The resolver and
//! the cache know nothing of AWS; the AWS sources are one backend among others, in [`aws`].
//! The [`provider`] module has the whole recipe and an example; `examples/custom_provider.rs`
//! is a tested one.
//!
//! # Errors
//!
//! Every failure is an [`Error`] whose [`kind`](Error::kind) says what the caller does about it
//! (fix the input, add an entry, fix the credentials, retry later, check a file), and whose
//! message names the input, where it went wrong, and what to do. No error, `Debug` output or log
//! line carries a secret or an upstream reply's body.
//!
//! # Features
//!
//! - `cli` (default): the two binaries and the front ends they run (the `front` module:
//!   docker helper, kubelet plugin, configuration search, logging); pulls in clap, its
//!   completion and man-page generators, a log subscriber, and a Tokio runtime.
//! - `valohai` (default, with `cli`): checking a `valohai.yaml`'s images (the `valohai`
//!   module); pulls in the YAML parser.
//! - `gcp` (default, with `cli`): Google Artifact Registry and Container Registry
//!   (`[registry.gcp]`, the `gcp` module).
//! - `azure` (default, with `cli`): Azure Container Registry (`[registry.azure]`, the `azure`
//!   module).
//!
//! An embedder that only resolves turns default features off, and gets none of those:
//! `registry-auth = { version = "…", default-features = false }` (add
//! `features = ["valohai"]` for the check, `"gcp"` or `"azure"` for those clouds). The library then asks Tokio for `sync` and `time`
//! only; the embedder brings the runtime.
//!
//! # Platforms
//!
//! The library and both binaries build for Unix and Windows. The disk token store
//! ([`cache`]'s second tier) and the configuration's file-mode warning need Unix modes and
//! owners and exist only there; on Windows every process asks upstream (the in-memory cache
//! still serves repeated requests within one).
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod aws;
#[cfg(feature = "azure")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure")))]
pub mod azure;
pub mod basic;
pub mod cache;
pub mod config;
mod credential;
mod error;
mod files;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod front;
#[cfg(feature = "gcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "gcp")))]
pub mod gcp;
mod http;
pub mod index;
#[cfg(any(feature = "gcp", feature = "azure"))]
mod jwt;
pub mod live;
pub mod pattern;
pub mod provider;
pub mod reference;
pub mod resolver;
pub mod scope;
mod time;
#[cfg(feature = "valohai")]
#[cfg_attr(docsrs, doc(cfg(feature = "valohai")))]
pub mod valohai;

pub use async_trait::async_trait;
pub use secrecy;

pub use config::{RegistryConfig, RegistryEntry};
pub use credential::RegistryCredential;
pub use error::{Error, ErrorKind, NoEntry};
pub use pattern::MatchPattern;
pub use provider::{CredentialProvider, RegistryTarget, RequestAttributes};
pub use reference::{ImageRef, ImageReference};
pub use resolver::{DefaultResolver, DefaultResolverBuilder, RegistryResolver, Resolved};
pub use scope::ResolveContext;

/// Formats a time as RFC 3339 in UTC, whole seconds: `2026-11-27T19:42:52Z`.
pub fn format_time(t: std::time::SystemTime) -> String {
    time::rfc3339(t)
}
