//! The Google credential source as a configuration file writes it, validated, and turned into a
//! provider.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::GcpProvider;
use crate::config::{check_text, FieldError, SecretSource};
use crate::http::{check_endpoint, check_host_port};
use crate::provider::CredentialProvider;

/// A Google service account, by its key file or through the metadata server, optionally
/// impersonating another: `[registry.gcp]`.
///
/// ```toml
/// [registry.gcp]
/// key_file = "puller-key.json"        # a service-account key (relative to this file), or:
/// # metadata_server = true            # the GCE / GKE / Cloud Run metadata server
/// # metadata_host = "169.254.169.254" # optional, with metadata_server; else GCE_METADATA_HOST
/// impersonate_service_account = "ci-pull@my-project.iam.gserviceaccount.com"   # optional
/// # iam_endpoint = "https://iamcredentials.googleapis.com"                     # optional
/// ```
///
/// The key file is read when the entry first serves, like every secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Gcp {
    /// Where the first access token comes from.
    pub credential: GcpCredential,
    /// A service account to impersonate with that token (IAM Credentials
    /// `generateAccessToken`); the registry then sees this account.
    pub impersonate_service_account: Option<String>,
    /// The IAM Credentials API, `https://iamcredentials.googleapis.com` when unset.
    pub iam_endpoint: Option<String>,
}

/// Where a Google source's first access token comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum GcpCredential {
    /// A service-account key file (JSON, as `gcloud iam service-accounts keys create` writes
    /// it): a JWT signed with its key is exchanged at its `token_uri`.
    KeyFile(SecretSource),
    /// The metadata server of the machine (GCE, GKE with Workload Identity, Cloud Run).
    MetadataServer {
        /// `HOST[:PORT]` of the server; else `GCE_METADATA_HOST`, else `169.254.169.254`.
        host: Option<String>,
    },
}

/// The file shape of [`Gcp`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GcpFile {
    key_file: Option<PathBuf>,
    metadata_server: Option<bool>,
    metadata_host: Option<String>,
    impersonate_service_account: Option<String>,
    iam_endpoint: Option<String>,
}

impl<'de> Deserialize<'de> for Gcp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let file = GcpFile::deserialize(d)?;
        let metadata = file.metadata_server == Some(true);
        let credential = match (file.key_file, metadata) {
            (Some(_), true) => return Err(D::Error::custom(
                "field `metadata_server` cannot be set with key_file: an entry takes its token from one place; keep key_file (a service-account key) or metadata_server = true",
            )),
            (Some(path), false) => GcpCredential::KeyFile(SecretSource::File(path)),
            (None, true) => GcpCredential::MetadataServer {
                host: file.metadata_host.clone(),
            },
            (None, false) => return Err(D::Error::custom(
                "field `key_file` is missing: give key_file = \"PATH\" (a service-account key file) or metadata_server = true (the GCE/GKE metadata server)",
            )),
        };
        if file.metadata_host.is_some() && !metadata {
            return Err(D::Error::custom(
                "field `metadata_host` only applies with metadata_server = true; remove it",
            ));
        }
        Ok(Self {
            credential,
            impersonate_service_account: file.impersonate_service_account,
            iam_endpoint: file.iam_endpoint,
        })
    }
}

impl Gcp {
    /// A source that exchanges the service-account key in `path`.
    pub fn key_file(path: impl Into<PathBuf>) -> Self {
        Self {
            credential: GcpCredential::KeyFile(SecretSource::File(path.into())),
            impersonate_service_account: None,
            iam_endpoint: None,
        }
    }

    /// A source that asks the machine's metadata server (`GCE_METADATA_HOST`, else
    /// `169.254.169.254`).
    pub fn metadata_server() -> Self {
        Self {
            credential: GcpCredential::MetadataServer { host: None },
            impersonate_service_account: None,
            iam_endpoint: None,
        }
    }

    /// Impersonates `service_account` with the first token.
    pub fn with_impersonation(mut self, service_account: impl Into<String>) -> Self {
        self.impersonate_service_account = Some(service_account.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        match &self.credential {
            GcpCredential::KeyFile(SecretSource::File(path)) => {
                if path.as_os_str().is_empty() {
                    return Err(FieldError::new("key_file", "is empty"));
                }
            }
            GcpCredential::KeyFile(_) => {}
            GcpCredential::MetadataServer { host: Some(host) } => {
                check_host_port("metadata_host", host)?
            }
            GcpCredential::MetadataServer { host: None } => {}
        }
        if let Some(account) = &self.impersonate_service_account {
            check_service_account(account)?;
        }
        if let Some(url) = &self.iam_endpoint {
            check_endpoint("iam_endpoint", url)?;
        }
        Ok(())
    }

    pub(crate) fn secrets_mut(&mut self) -> Vec<&mut SecretSource> {
        match &mut self.credential {
            GcpCredential::KeyFile(key) => vec![key],
            GcpCredential::MetadataServer { .. } => Vec::new(),
        }
    }

    /// The provider, with the key file read now; a field error names `key_file`.
    pub(crate) fn provider(&self) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        Ok(Arc::new(GcpProvider::from_source(self)?))
    }
}

/// A service account's email (`NAME@PROJECT.iam.gserviceaccount.com`) or unique id (digits).
fn check_service_account(account: &str) -> Result<(), FieldError> {
    const FIELD: &str = "impersonate_service_account";
    check_text(FIELD, account)?;
    let email = account.split_once('@').is_some_and(|(name, domain)| {
        !name.is_empty()
            && domain.contains('.')
            && account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'))
    });
    let unique_id = account.bytes().all(|b| b.is_ascii_digit());
    if email || unique_id {
        Ok(())
    } else {
        Err(FieldError::new(
            FIELD,
            format!(
                "{:?} is not a service account; write its email, e.g. ci-pull@my-project.iam.gserviceaccount.com",
                crate::error::cut(account, 100)
            ),
        ))
    }
}
