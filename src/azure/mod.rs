//! The Azure wing: Azure Container Registry with an Entra ID service principal (client secret
//! or certificate) or a managed identity (feature `azure`).
//!
//! - [`AcrHost`]: what an ACR hostname tells (the registry's name, its cloud, and so the
//!   authority and token scope to use);
//! - [`Azure`]: the `[registry.azure]` source, and [`AzureProvider`], its provider;
//! - [`AzureError`]: failures naming the cloud, the identity and the fix (reached through
//!   [`Error::detail`](crate::Error::detail)).
//!
//! ```toml
//! [[registry]]
//! pattern = "contoso.azurecr.io/*"
//! [registry.azure]
//! tenant_id = "contoso.onmicrosoft.com"
//! client_id = "11111111-2222-3333-4444-555555555555"
//! client_secret = { env = "AZURE_CLIENT_SECRET" }   # or client_certificate, or managed_identity = true
//! ```
//!
//! In code, a user-assigned managed identity (nothing is read until the entry serves):
//!
//! ```
//! use registry_auth::azure::Azure;
//! use registry_auth::config::{CredentialSource, RegistryConfig, RegistryEntry};
//! use registry_auth::MatchPattern;
//!
//! let identity = Azure::managed_identity(Some("33333333-4444-4555-8666-777777777777".into()));
//! let entry = RegistryEntry::new(
//!     MatchPattern::parse("contoso.azurecr.io/*")?,
//!     CredentialSource::Azure(identity),
//! );
//! let config = RegistryConfig::from_entries(vec![entry])?;
//! assert_eq!(config.entries()[0].source.kind(), "azure");
//! # Ok::<(), registry_auth::Error>(())
//! ```
//!
//! The registry takes the user name `00000000-0000-0000-0000-000000000000` with an ACR refresh
//! token as the password (what `az acr login --expose-token` hands out), good until the
//! token's `exp` claim (about three hours).
//!
//! # Flows
//!
//! 1. **An Entra ID access token**, for the scope of the registry's cloud
//!    ([`AzureCloud::scope`]):
//!    - *client secret* or *certificate*: the client-credentials grant at
//!      `AUTHORITY/TENANT/oauth2/v2.0/token`, the certificate as a client assertion (a JWT
//!      signed RS256 with its key, its SHA-1 thumbprint as `x5t`, ten minutes long). AUTHORITY
//!      is `authority_host`, else `AZURE_AUTHORITY_HOST`, else the registry's cloud's;
//!    - *managed identity*: `managed_identity_endpoint` (instance-metadata style, with
//!      `Metadata: true`), else App Service's and Container Apps' `IDENTITY_ENDPOINT` with
//!      `IDENTITY_HEADER`, else the instance metadata service at `169.254.169.254`.
//! 2. **The exchange**: `POST https://REGISTRY/oauth2/exchange` (`grant_type=access_token`,
//!    the registry as `service`, the token's directory id, `tid`, as `tenant`) answers an ACR
//!    refresh token.
//! 3. **Its expiry** is the refresh token's `exp`, read without verifying the signature: ACR
//!    signed the token for itself and verifies it on every use, and nothing here trusts the
//!    token for more than when to fetch the next. A token already expired by this machine's
//!    clock is an error saying the clock is off.
//!
//! The Entra ID token is good at every registry of the tenant, so it is sent only to ACR hosts
//! and to registries on this machine (reached over plain HTTP, as docker reaches them); an
//! entry whose pattern reaches another host gets
//! [`Error::Unsupported`](crate::Error::Unsupported) there.
//!
//! # Why the flows are written here
//!
//! Microsoft's maintained crate was the first choice. `azure_identity` 1.0 (with `azure_core`
//! 1.1) adds 24 crates with its default features off, and then has no HTTP client: its
//! defaults bring reqwest 0.13 beside our hyper client, its certificate credential brings
//! OpenSSL (a second TLS and crypto stack), and it could not be pointed at plain-HTTP loopback
//! endpoints, which is how the tests here check what is sent. The flows are three small HTTP
//! exchanges, so they are written here over the crate's one HTTP client (hyper and rustls)
//! with `ring`, which rustls already runs on, and PEM read by `rustls-pki-types`; no crate is
//! added. The loopback servers in the tests check what they receive: the secret, the
//! assertion's signature against the certificate, its `x5t`, audience and lifetime, the
//! managed-identity headers, and the exchange in front of a real registry.

mod error;
mod host;
mod provider;
mod source;

pub use error::AzureError;
pub use host::{AcrHost, AzureCloud};
pub use provider::AzureProvider;
pub use source::{Azure, AzureCredential};

/// The user name ACR takes with a refresh token.
pub const USERNAME: &str = "00000000-0000-0000-0000-000000000000";
