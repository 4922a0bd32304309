//! The Google wing: Artifact Registry and Container Registry with a service account's key, the
//! metadata server, and optionally an impersonated service account (feature `gcp`).
//!
//! - [`GcpHost`]: what a Google registry hostname tells (service, location; the project from
//!   an image's path);
//! - [`Gcp`]: the `[registry.gcp]` source, and [`GcpProvider`], its provider;
//! - [`GcpError`]: failures naming the cloud, the identity and the fix (reached through
//!   [`Error::detail`](crate::Error::detail)).
//!
//! ```toml
//! [[registry]]
//! pattern = "europe-west4-docker.pkg.dev/my-project/*"
//! [registry.gcp]
//! key_file = "puller-key.json"     # or: metadata_server = true
//! ```
//!
//! In code, the same entry (the key file is read when it first serves):
//!
//! ```
//! use registry_auth::config::{CredentialSource, RegistryConfig, RegistryEntry};
//! use registry_auth::gcp::Gcp;
//! use registry_auth::MatchPattern;
//!
//! let entry = RegistryEntry::new(
//!     MatchPattern::parse("europe-west4-docker.pkg.dev/my-project/*")?,
//!     CredentialSource::Gcp(Gcp::key_file("puller-key.json")),
//! );
//! let config = RegistryConfig::from_entries(vec![entry])?;
//! assert_eq!(config.entries()[0].source.kind(), "gcp");
//! # Ok::<(), registry_auth::Error>(())
//! ```
//!
//! The registry takes the user name `oauth2accesstoken` and an OAuth2 access token (scope
//! `cloud-platform`) as the password, good for the `expires_in` Google gave (an hour).
//!
//! # Flows
//!
//! - **Key file**: a JWT signed RS256 with the key (`iss` the account's email, `aud` the key
//!   file's `token_uri`, an hour long, `kid` the key id) is exchanged at `token_uri`
//!   (JWT-bearer grant, RFC 7523).
//! - **Metadata server**: `GET /computeMetadata/v1/instance/service-accounts/default/token`
//!   with `Metadata-Flavor: Google`, at `metadata_host`, else `GCE_METADATA_HOST`, else
//!   `169.254.169.254`; a reply without `Metadata-Flavor: Google` is not believed.
//! - **Impersonation** (`impersonate_service_account`): the first token calls IAM Credentials
//!   `generateAccessToken` for the named account (`iam_endpoint`, default
//!   `https://iamcredentials.googleapis.com`), whose token then goes to the registry; the first
//!   account needs `roles/iam.serviceAccountTokenCreator` on it.
//!
//! The token opens every Google Cloud API the account may call, so it is handed only to
//! Google's registry hosts and to registries on this machine (loopback); an entry whose
//! pattern reaches another host gets [`Error::Unsupported`](crate::Error::Unsupported) there.
//!
//! # Why the flows are written here
//!
//! Google's maintained crate was the first choice. `google-cloud-auth` (1.19, default features
//! off) adds 29 crates to the build, among them reqwest, a second certificate verifier
//! (`rustls-platform-verifier`) and `aws-lc-rs`, and it could not be pointed at a token
//! endpoint over plain HTTP on loopback without them, which is how the tests here check what
//! is sent. `gcp_auth` and `yup-oauth2` bring `aws-lc-rs`, a second crypto library beside
//! `ring`, and so does `jsonwebtoken` for what is one RS256 signature. The flows are three
//! small HTTP exchanges, so they are written here, over the crate's one HTTP client (hyper and
//! rustls) with `ring`, the crypto provider rustls already runs on; no crate is added. The
//! loopback servers in the tests check every byte they send: the signature against the key's
//! public half, the audience, the scope, the lifetime, the metadata header.

mod error;
mod host;
mod provider;
mod source;

pub use error::GcpError;
pub use host::{GcpHost, GcpService};
pub use provider::GcpProvider;
pub use source::{Gcp, GcpCredential};

/// The user name Google's registries take with an access token.
pub const USERNAME: &str = "oauth2accesstoken";

/// The OAuth2 scope asked for: what `gcloud` and Google's docker credential helper ask for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
