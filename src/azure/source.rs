//! The Azure credential source as a configuration file writes it, validated, and turned into a
//! provider.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::error::is_guid;
use super::AzureProvider;
use crate::config::{check_text, FieldError, SecretSource};
use crate::http::check_endpoint;
use crate::provider::CredentialProvider;

/// An Entra ID service principal (secret or certificate) or a managed identity:
/// `[registry.azure]`.
///
/// ```toml
/// [registry.azure]
/// tenant_id = "contoso.onmicrosoft.com"                  # or the directory id (a GUID)
/// client_id = "11111111-2222-3333-4444-555555555555"     # the application (client) id
/// client_secret = { env = "AZURE_CLIENT_SECRET" }         # or "inline", or { file = "..." }
/// # client_certificate = "sp.pem"                        # instead: a PEM key and certificate
/// # managed_identity = true                              # instead: the machine's identity
/// #                                                      #   (client_id picks a user-assigned one)
/// # authority_host = "https://login.microsoftonline.us"  # else AZURE_AUTHORITY_HOST, else by cloud
/// # scope = "https://containerregistry.azure.net/.default"   # else by the registry's cloud
/// ```
///
/// Secrets (the client secret, the certificate's key) are read when the entry first serves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Azure {
    /// The directory (tenant) id or domain; required for a service principal.
    pub tenant_id: Option<String>,
    /// The application (client) id; required for a service principal, picks a user-assigned
    /// managed identity.
    pub client_id: Option<String>,
    /// How the identity signs in.
    pub credential: AzureCredential,
    /// The Entra ID authority (`https://login.microsoftonline.com`); else
    /// `AZURE_AUTHORITY_HOST`, else the registry's cloud's.
    pub authority_host: Option<String>,
    /// An IMDS-style managed-identity endpoint; else App Service's `IDENTITY_ENDPOINT` (with
    /// `IDENTITY_HEADER`), else the instance metadata service.
    pub managed_identity_endpoint: Option<String>,
    /// The scope of the Entra ID token; else the registry's cloud's (see
    /// [`AzureCloud::scope`](super::AzureCloud::scope)).
    pub scope: Option<String>,
}

/// How an Azure source signs in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AzureCredential {
    /// A service principal's client secret.
    ClientSecret(SecretSource),
    /// A service principal's certificate: a PEM file holding the private key and the
    /// certificate, as the Azure CLI writes it (`az ad sp create-for-rbac --create-cert`).
    ClientCertificate(SecretSource),
    /// The machine's managed identity (system-assigned, or the user-assigned one `client_id`
    /// names).
    ManagedIdentity,
}

/// The file shape of [`Azure`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AzureFile {
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretSource>,
    client_certificate: Option<PathBuf>,
    managed_identity: Option<bool>,
    authority_host: Option<String>,
    managed_identity_endpoint: Option<String>,
    scope: Option<String>,
}

impl<'de> Deserialize<'de> for Azure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let file = AzureFile::deserialize(d)?;
        let managed = file.managed_identity == Some(true);
        let mut given: Vec<(&str, AzureCredential)> = Vec::new();
        if let Some(secret) = file.client_secret {
            given.push(("client_secret", AzureCredential::ClientSecret(secret)));
        }
        if let Some(path) = file.client_certificate {
            given.push((
                "client_certificate",
                AzureCredential::ClientCertificate(SecretSource::File(path)),
            ));
        }
        if managed {
            given.push(("managed_identity", AzureCredential::ManagedIdentity));
        }
        let credential = match given.len() {
            0 => return Err(D::Error::custom(
                "field `client_secret` is missing: give client_secret or client_certificate = \"PATH\" (with tenant_id and client_id), or managed_identity = true",
            )),
            1 => given.remove(0).1,
            _ => return Err(D::Error::custom(format!(
                "field `{}` cannot be set with {}: an entry signs in one way; keep one of client_secret, client_certificate or managed_identity = true",
                given[1].0, given[0].0
            ))),
        };
        if !managed {
            for (name, value) in [
                ("tenant_id", &file.tenant_id),
                ("client_id", &file.client_id),
            ] {
                if value.is_none() {
                    return Err(D::Error::custom(format!(
                        "field `{name}` is required with a client secret or certificate: copy it from the app registration's Overview"
                    )));
                }
            }
            if file.managed_identity_endpoint.is_some() {
                return Err(D::Error::custom(
                    "field `managed_identity_endpoint` only applies with managed_identity = true; remove it",
                ));
            }
        }
        Ok(Self {
            tenant_id: file.tenant_id,
            client_id: file.client_id,
            credential,
            authority_host: file.authority_host,
            managed_identity_endpoint: file.managed_identity_endpoint,
            scope: file.scope,
        })
    }
}

impl Azure {
    /// A service principal signing in with a client secret.
    pub fn client_secret(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: secrecy::SecretString,
    ) -> Self {
        Self::with(
            Some(tenant_id.into()),
            Some(client_id.into()),
            AzureCredential::ClientSecret(SecretSource::Inline(secret)),
        )
    }

    /// A service principal signing in with the key and certificate in the PEM file `path`.
    pub fn client_certificate(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self::with(
            Some(tenant_id.into()),
            Some(client_id.into()),
            AzureCredential::ClientCertificate(SecretSource::File(path.into())),
        )
    }

    /// The machine's managed identity: system-assigned, or the user-assigned one with
    /// `client_id`.
    pub fn managed_identity(client_id: Option<String>) -> Self {
        Self::with(None, client_id, AzureCredential::ManagedIdentity)
    }

    fn with(
        tenant_id: Option<String>,
        client_id: Option<String>,
        credential: AzureCredential,
    ) -> Self {
        Self {
            tenant_id,
            client_id,
            credential,
            authority_host: None,
            managed_identity_endpoint: None,
            scope: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        let service_principal = !matches!(self.credential, AzureCredential::ManagedIdentity);
        match &self.tenant_id {
            Some(t) => check_tenant(t)?,
            None if service_principal => return Err(FieldError::new("tenant_id", "is required")),
            None => {}
        }
        match &self.client_id {
            Some(c) => check_client_id(c)?,
            None if service_principal => return Err(FieldError::new("client_id", "is required")),
            None => {}
        }
        if let AzureCredential::ClientCertificate(SecretSource::File(path)) = &self.credential {
            if path.as_os_str().is_empty() {
                return Err(FieldError::new("client_certificate", "is empty"));
            }
        }
        if let Some(url) = &self.authority_host {
            check_endpoint("authority_host", url)?;
        }
        if let Some(url) = &self.managed_identity_endpoint {
            check_endpoint("managed_identity_endpoint", url)?;
        }
        if let Some(scope) = &self.scope {
            check_scope(scope)?;
        }
        Ok(())
    }

    pub(crate) fn secrets_mut(&mut self) -> Vec<&mut SecretSource> {
        match &mut self.credential {
            AzureCredential::ClientSecret(s) | AzureCredential::ClientCertificate(s) => vec![s],
            AzureCredential::ManagedIdentity => Vec::new(),
        }
    }

    /// Whether the configuration itself holds a secret (an inline client secret).
    pub(crate) fn has_inline_secret(&self) -> bool {
        matches!(&self.credential, AzureCredential::ClientSecret(s) if s.is_inline())
    }

    /// The provider, with the secret or certificate read now; a field error names it.
    pub(crate) fn provider(&self) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        Ok(Arc::new(AzureProvider::from_source(self)?))
    }
}

/// A directory id (GUID) or a verified domain; never `common`, `organizations` or
/// `consumers`, which cannot sign a service in.
fn check_tenant(tenant: &str) -> Result<(), FieldError> {
    const FIELD: &str = "tenant_id";
    check_text(FIELD, tenant)?;
    if ["common", "organizations", "consumers"].contains(&tenant.to_ascii_lowercase().as_str()) {
        return Err(FieldError::new(
            FIELD,
            format!("{tenant:?} names no directory, and a service signs in to one: give the directory (tenant) id from the app registration's Overview"),
        ));
    }
    let domain = tenant.contains('.')
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if is_guid(tenant) || domain {
        Ok(())
    } else {
        Err(FieldError::new(
            FIELD,
            format!(
                "{:?} is neither a directory id (a GUID) nor a domain like contoso.onmicrosoft.com",
                crate::error::cut(tenant, 100)
            ),
        ))
    }
}

/// An application (client) id: a GUID.
fn check_client_id(id: &str) -> Result<(), FieldError> {
    check_text("client_id", id)?;
    if is_guid(id) {
        Ok(())
    } else {
        Err(FieldError::new(
            "client_id",
            format!(
                "{:?} is not an application (client) id; copy the GUID from the app registration's or managed identity's Overview",
                crate::error::cut(id, 100)
            ),
        ))
    }
}

/// `RESOURCE/.default`: the only scope form the client-credentials grant takes.
fn check_scope(scope: &str) -> Result<(), FieldError> {
    check_text("scope", scope)?;
    let resource = scope.strip_suffix("/.default").unwrap_or_default();
    if !resource.is_empty() && !scope.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err(FieldError::new(
            "scope",
            format!(
                "{:?} is not RESOURCE/.default; write e.g. https://containerregistry.azure.net/.default",
                crate::error::cut(scope, 100)
            ),
        ))
    }
}
