//! The Azure provider: an Entra ID access token (client secret, client certificate or managed
//! identity), exchanged at the registry's `/oauth2/exchange` for an ACR refresh token, which is
//! the password of `00000000-0000-0000-0000-000000000000`.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::error::{code, entra_number, entra_reason, exchange_reason, guid};
use super::{AcrHost, Azure, AzureCloud, AzureCredential, AzureError, USERNAME};
use crate::config::{FieldError, SecretSource};
use crate::http::{is_loopback, status_failure, Http, HttpFailure};
use crate::jwt::RsaKey;
use crate::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use crate::{Error, RegistryCredential};

/// The instance metadata service's managed-identity endpoint (VMs, scale sets, AKS nodes).
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
/// App Service's and Container Apps' managed-identity protocol.
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid: Entra ID takes up to an hour; ten minutes is MSAL's.
const ASSERTION_LIFETIME: u64 = 600;
const MAX_REPLY: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// ACR refresh tokens for an Entra ID identity.
///
/// Built from an [`Azure`] source (a configuration's `[registry.azure]`); the secret or the
/// certificate file is read by [`AzureProvider::new`]. Each
/// [`fetch`](CredentialProvider::fetch) gets an Entra ID token (one token-endpoint or
/// managed-identity request) and exchanges it at the registry (one `/oauth2/exchange`). The
/// Entra ID token is sent only to ACR hosts ([`AcrHost`]) and to registries on this machine:
/// any registry of the tenant accepts it, so another host asking for it is refused.
pub struct AzureProvider {
    login: Login,
    tenant: Option<String>,
    client_id: Option<String>,
    /// `authority_host`, else `AZURE_AUTHORITY_HOST`, read when the provider is made.
    authority: Option<String>,
    scope: Option<String>,
    http: OnceLock<Http>,
}

enum Login {
    Secret(SecretString),
    Certificate {
        key: RsaKey,
        /// base64url SHA-1 of the certificate: the assertion's `x5t`.
        x5t: String,
        /// Upper-case hex SHA-1, as the portal shows a certificate's thumbprint.
        thumbprint: String,
        /// The key as the file holds it: hashed into the cache identity, never shown.
        material: SecretString,
    },
    Managed(Managed),
}

/// What a service principal proves itself with at the token endpoint.
enum Proof<'a> {
    Secret(&'a SecretString),
    Certificate { key: &'a RsaKey, x5t: &'a str },
}

enum Managed {
    /// IMDS style: `Metadata: true`, API 2018-02-01.
    Imds { endpoint: String },
    /// App Service style: `X-IDENTITY-HEADER`, API 2019-08-01.
    AppService {
        endpoint: String,
        header: SecretString,
    },
}

impl fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureProvider")
            .field("identity", &self.identity_name())
            .field("authority", &self.authority)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl AzureProvider {
    /// The provider for `source`, reading its secret or certificate now.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the secret or the certificate file cannot be read or used.
    pub fn new(source: &Azure) -> Result<Self, Error> {
        Self::from_source(source).map_err(|e| {
            crate::config::ConfigError::new("AzureProvider::new", e.within("azure").to_string())
                .into()
        })
    }

    pub(crate) fn from_source(azure: &Azure) -> Result<Self, FieldError> {
        azure.validate()?;
        let login = match &azure.credential {
            AzureCredential::ClientSecret(s) => Login::Secret(s.read("client_secret")?),
            AzureCredential::ClientCertificate(file) => certificate(file)?,
            AzureCredential::ManagedIdentity => Login::Managed(managed(azure)?),
        };
        let authority = azure
            .authority_host
            .clone()
            .or_else(|| env("AZURE_AUTHORITY_HOST"))
            .map(|a| a.trim_end_matches('/').to_owned());
        if let Some(a) = &authority {
            if azure.authority_host.is_none() {
                crate::http::check_endpoint("AZURE_AUTHORITY_HOST", a)?;
            }
        }
        Ok(Self {
            login,
            tenant: azure.tenant_id.clone(),
            client_id: azure.client_id.clone(),
            authority,
            scope: azure.scope.clone(),
            http: OnceLock::new(),
        })
    }

    fn http(&self) -> &Http {
        self.http
            .get_or_init(|| Http::new(CONNECT_TIMEOUT, REQUEST_TIMEOUT))
    }

    /// Who signs in, for messages.
    fn identity_name(&self) -> String {
        let tenant = self.tenant.as_deref().unwrap_or("?");
        let client = self.client_id.as_deref().unwrap_or("?");
        match &self.login {
            Login::Secret(_) => format!("service principal {client} in tenant {tenant}"),
            Login::Certificate { thumbprint, .. } => {
                format!("service principal {client} in tenant {tenant} (certificate {thumbprint})")
            }
            Login::Managed(m) => {
                let which = match &self.client_id {
                    Some(c) => format!("managed identity {c}"),
                    None => "the system-assigned managed identity".to_owned(),
                };
                let endpoint = match m {
                    Managed::Imds { endpoint } | Managed::AppService { endpoint, .. } => endpoint,
                };
                format!("{which} (endpoint {endpoint})")
            }
        }
    }

    /// An Entra ID token from the token endpoint, signed in with the secret or certificate.
    async fn client_credentials(
        &self,
        proof: Proof<'_>,
        cloud: AzureCloud,
        scope: &str,
    ) -> Result<SecretString, Error> {
        let identity = self.identity_name();
        let tenant = self.tenant.as_deref().unwrap_or_default();
        let client_id = self.client_id.as_deref().unwrap_or_default();
        let authority = self.authority(cloud)?;
        let endpoint = format!("{authority}/{tenant}/oauth2/v2.0/token");
        let unavailable = |status, what: String, retryable| AzureError::Unavailable {
            identity: identity.clone(),
            endpoint: endpoint.clone(),
            status,
            what,
            retryable,
        };
        let assertion;
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", scope),
        ];
        match proof {
            Proof::Secret(secret) => form.push(("client_secret", secret.expose_secret())),
            Proof::Certificate { key, x5t } => {
                let now = crate::time::unix_secs(SystemTime::now());
                let jti = crate::jwt::random_hex(16).map_err(|e| unavailable(None, e, false))?;
                let claims = json!({
                    "aud": endpoint, "iss": client_id, "sub": client_id, "jti": jti,
                    "nbf": now, "iat": now, "exp": now + ASSERTION_LIFETIME,
                });
                let mut header = Map::new();
                header.insert("x5t".into(), Value::String(x5t.to_owned()));
                assertion = key
                    .sign(header, &claims)
                    .map_err(|e| unavailable(None, e, false))?;
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
                form.push(("client_assertion", &assertion));
            }
        }
        let reply = self
            .http()
            .post_form(
                &endpoint,
                &[("accept", "application/json")],
                &form,
                MAX_REPLY,
            )
            .await
            .map_err(|f| unavailable(None, f.to_string(), f.is_retryable()))?;
        let json = reply.json();
        match reply.status {
            200 => access_token(&json).map_err(|what| unavailable(Some(200), what, false).into()),
            400 | 401 | 403 => {
                let codes: Vec<u64> = json["error_codes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let number = entra_number(&codes);
                let certificate = match &self.login {
                    Login::Certificate { thumbprint, .. } => {
                        Some(format!("certificate {thumbprint}"))
                    }
                    _ => None,
                };
                Err(AzureError::Refused {
                    identity: identity.clone(),
                    endpoint: endpoint.clone(),
                    status: reply.status,
                    code: number
                        .map(|n| format!("AADSTS{n}"))
                        .or_else(|| code(json["error"].as_str())),
                    trace_id: guid(json["trace_id"].as_str()),
                    reason: entra_reason(number, client_id, tenant, scope, certificate.as_deref()),
                }
                .into())
            }
            s => Err(status_failure(s, unavailable).into()),
        }
    }

    /// An Entra ID token from the machine's managed-identity endpoint.
    async fn managed_identity(
        &self,
        managed: &Managed,
        scope: &str,
    ) -> Result<SecretString, Error> {
        let identity = self.identity_name();
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let (endpoint, api_version) = match managed {
            Managed::Imds { endpoint } => (endpoint, IMDS_API_VERSION),
            Managed::AppService { endpoint, .. } => (endpoint, APP_SERVICE_API_VERSION),
        };
        let unavailable = |status, what: String, retryable| AzureError::Unavailable {
            identity: identity.clone(),
            endpoint: endpoint.clone(),
            status,
            what,
            retryable,
        };
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("api-version", api_version);
            query.append_pair("resource", resource);
            if let Some(id) = &self.client_id {
                query.append_pair("client_id", id);
            }
            query.finish()
        };
        let join = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{endpoint}{join}{query}");
        let headers: Vec<(&str, &str)> = match managed {
            Managed::Imds { .. } => vec![("metadata", "true")],
            Managed::AppService { header, .. } => {
                vec![("x-identity-header", header.expose_secret())]
            }
        };
        let reply = self.http().get(&url, &headers, MAX_REPLY).await.map_err(|f| {
            let what = match f {
                HttpFailure::Connection(_) | HttpFailure::Timeout(_) => format!(
                    "no managed-identity endpoint answered ({f}): one runs on Azure VMs, scale sets and AKS nodes (the instance metadata service) and in App Service and Container Apps (IDENTITY_ENDPOINT); elsewhere use a service principal"
                ),
                _ => f.to_string(),
            };
            unavailable(None, what, f.is_retryable())
        })?;
        let json = reply.json();
        match reply.status {
            200 => access_token(&json).map_err(|what| unavailable(Some(200), what, false).into()),
            400 | 401 | 403 | 404 => {
                let description = json["error_description"]
                    .as_str()
                    .or(json["message"].as_str())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let reason = if description.contains("identity not found")
                    || description.contains("not found")
                {
                    match &self.client_id {
                        Some(c) => format!("no managed identity with client id {c} is assigned to this machine: assign it to the VM, scale set or app, or fix client_id"),
                        None => "this machine has no system-assigned managed identity: turn it on, or give the client_id of an assigned user-assigned identity".to_owned(),
                    }
                } else if description.contains("header") {
                    "the endpoint wants the header of another managed-identity protocol: set managed_identity_endpoint only to an instance-metadata-style endpoint".to_owned()
                } else {
                    format!("the managed-identity endpoint refused the request for resource {resource}: check client_id and scope")
                };
                Err(AzureError::Refused {
                    identity: identity.clone(),
                    endpoint: endpoint.clone(),
                    status: reply.status,
                    code: code(json["error"].as_str()),
                    trace_id: None,
                    reason,
                }
                .into())
            }
            s => Err(status_failure(s, unavailable).into()),
        }
    }

    /// The ACR refresh token for `aad`, from the registry's `/oauth2/exchange`.
    async fn exchange(
        &self,
        target: &RegistryTarget<'_>,
        aad: &SecretString,
        scope: &str,
    ) -> Result<SecretString, Error> {
        let identity = self.identity_name();
        let registry = target.registry();
        // Registries on this machine are reached over plain HTTP, as docker reaches them.
        let scheme = if is_loopback(target.host()) {
            "http"
        } else {
            "https"
        };
        let endpoint = format!("{scheme}://{registry}/oauth2/exchange");
        let unavailable = |status, what: String, retryable| AzureError::Unavailable {
            identity: identity.clone(),
            endpoint: endpoint.clone(),
            status,
            what,
            retryable,
        };
        // ACR names itself by its login server; a registry on this machine by HOST:PORT.
        let service = match AcrHost::parse(target.host()) {
            Some(h) => h.host().to_owned(),
            None => registry.clone(),
        };
        let mut form = vec![
            ("grant_type", "access_token"),
            ("service", service.as_str()),
            ("access_token", aad.expose_secret()),
        ];
        // The directory the token was issued in, as ACR wants it (an id, where tenant_id may
        // be a domain): the token's own `tid`, read unverified, else the configured tenant.
        let tid = crate::jwt::claims_unverified(aad.expose_secret())
            .and_then(|c| c.get("tid").and_then(Value::as_str).map(str::to_owned));
        if let Some(tenant) = tid.as_deref().or(self.tenant.as_deref()) {
            form.push(("tenant", tenant));
        }
        let reply = self
            .http()
            .post_form(
                &endpoint,
                &[("accept", "application/json")],
                &form,
                MAX_REPLY,
            )
            .await
            .map_err(|f| unavailable(None, f.to_string(), f.is_retryable()))?;
        let json = reply.json();
        match reply.status {
            200 => json["refresh_token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(|t| SecretString::from(t.to_owned()))
                .ok_or_else(|| unavailable(Some(200), "the reply holds no refresh_token".into(), false).into()),
            400 | 401 | 403 => {
                let error = &json["errors"][0];
                Err(AzureError::Refused {
                    identity: identity.clone(),
                    endpoint: endpoint.clone(),
                    status: reply.status,
                    code: code(error["code"].as_str()),
                    trace_id: None,
                    reason: exchange_reason(
                        error["message"].as_str().unwrap_or_default(),
                        &registry,
                        scope,
                        self.tenant.as_deref(),
                    ),
                }
                .into())
            }
            404 => Err(unavailable(
                Some(404),
                format!("{registry} has no /oauth2/exchange, so it is not an Azure Container Registry: narrow the entry's pattern to ACR hosts"),
                false,
            )
            .into()),
            s => Err(status_failure(s, unavailable).into()),
        }
    }

    /// The authority for `cloud`: the configured or environment one, else the cloud's.
    fn authority(&self, cloud: AzureCloud) -> Result<String, Error> {
        self.authority
            .clone()
            .or_else(|| cloud.authority_host().map(str::to_owned))
            .ok_or_else(|| {
                Error::unsupported(
                    cloud.suffix(),
                    format!("registries in the {cloud} cloud need authority_host (or AZURE_AUTHORITY_HOST) and scope set: this crate knows no public value for them"),
                )
            })
    }
}

/// The certificate login: the first private key and the first certificate of the PEM file.
fn certificate(file: &SecretSource) -> Result<Login, FieldError> {
    const FIELD: &str = "client_certificate";
    let pem = file.read(FIELD)?;
    let place = match file {
        SecretSource::File(path) => {
            crate::files::warn_if_shared(path, "a service principal's private key");
            path.display().to_string()
        }
        _ => "the certificate".to_owned(),
    };
    let key = RsaKey::from_pem(pem.expose_secret().as_bytes())
        .map_err(|e| FieldError::new(FIELD, format!("{place}: {e}")))?;
    let cert = crate::jwt::certificates(pem.expose_secret().as_bytes())
        .into_iter()
        .next()
        .ok_or_else(|| {
            FieldError::new(
                FIELD,
                format!("{place}: holds no certificate (-----BEGIN CERTIFICATE-----); put the certificate uploaded to the app registration in the same file, after its key"),
            )
        })?;
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
    Ok(Login::Certificate {
        key,
        x5t: crate::jwt::base64url(sha1.as_ref()),
        thumbprint: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
        material: pem,
    })
}

/// Which managed-identity endpoint: the configured one, App Service's, or IMDS.
fn managed(azure: &Azure) -> Result<Managed, FieldError> {
    if let Some(endpoint) = &azure.managed_identity_endpoint {
        return Ok(Managed::Imds {
            endpoint: endpoint.clone(),
        });
    }
    match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
        (Some(endpoint), Some(header)) => {
            crate::http::check_endpoint("IDENTITY_ENDPOINT", &endpoint)
                .map_err(|e| e.within("managed_identity"))?;
            Ok(Managed::AppService {
                endpoint,
                header: SecretString::from(header),
            })
        }
        _ => Ok(Managed::Imds {
            endpoint: IMDS_ENDPOINT.to_owned(),
        }),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The `access_token` of an Entra ID or managed-identity reply.
fn access_token(json: &Value) -> Result<SecretString, String> {
    json["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(|t| SecretString::from(t.to_owned()))
        .ok_or_else(|| "the reply holds no access_token".to_owned())
}

#[async_trait]
impl CredentialProvider for AzureProvider {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        let acr = AcrHost::parse(target.host());
        if acr.is_none() && !is_loopback(target.host()) {
            return Err(Error::unsupported(
                target.registry(),
                "is not an Azure Container Registry host (NAME.azurecr.io, .azurecr.cn, .azurecr.us, ...): a [registry.azure] entry sends its Entra ID token, which every registry of the tenant accepts, only to ACR hosts and to registries on this machine; narrow the entry's pattern, or serve this host with another source",
            ));
        }
        let cloud = acr.map_or(AzureCloud::Public, |h| h.cloud());
        let scope = match self.scope.as_deref().or(cloud.scope()) {
            Some(s) => s.to_owned(),
            None => {
                return Err(Error::unsupported(
                    target.registry(),
                    format!("is in the {cloud} cloud: set scope and authority_host on the entry, since this crate knows no public value for them"),
                ))
            }
        };
        let aad = match &self.login {
            Login::Secret(secret) => {
                self.client_credentials(Proof::Secret(secret), cloud, &scope)
                    .await?
            }
            Login::Certificate { key, x5t, .. } => {
                self.client_credentials(Proof::Certificate { key, x5t }, cloud, &scope)
                    .await?
            }
            Login::Managed(m) => self.managed_identity(m, &scope).await?,
        };
        let refresh = self.exchange(target, &aad, &scope).await?;
        // ACR signed the token for itself; only its expiry is read, and it is not verified.
        let exp = crate::jwt::claims_unverified(refresh.expose_secret())
            .and_then(|c| c.get("exp").and_then(Value::as_u64))
            .and_then(crate::time::from_unix_secs);
        let identity = self.identity_name();
        let registry = target.registry();
        let Some(expires_at) = exp else {
            return Err(AzureError::Unavailable {
                identity,
                endpoint: format!("{registry}/oauth2/exchange"),
                status: Some(200),
                what: "the refresh token is not a JWT with an exp claim, so when it expires is unknown".into(),
                retryable: false,
            }
            .into());
        };
        let now = SystemTime::now();
        if expires_at <= now {
            return Err(AzureError::Expired {
                identity,
                endpoint: format!("{registry}/oauth2/exchange"),
                expired_at: expires_at,
                now,
            }
            .into());
        }
        tracing::debug!(identity = %self.identity().public(), %registry, "azure: ACR refresh token");
        Ok(RegistryCredential::new(
            USERNAME,
            refresh,
            target.server(),
            Some(expires_at),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        let tenant = self.tenant.as_deref().unwrap_or("none");
        let client = self.client_id.as_deref().unwrap_or("system");
        let common = |id: CacheIdentity| {
            id.with("authority", self.authority.as_deref().unwrap_or("default"))
                .with("scope", self.scope.as_deref().unwrap_or("default"))
        };
        match &self.login {
            Login::Secret(secret) => common(
                CacheIdentity::new("azure-secret")
                    .with("tenant", tenant)
                    .with("client", client),
            )
            .with_secret(secret),
            Login::Certificate {
                thumbprint,
                material,
                ..
            } => common(
                CacheIdentity::new("azure-certificate")
                    .with("tenant", tenant)
                    .with("client", client)
                    .with("thumbprint", thumbprint),
            )
            .with_secret(material),
            Login::Managed(m) => {
                let endpoint = match m {
                    Managed::Imds { endpoint } | Managed::AppService { endpoint, .. } => endpoint,
                };
                common(
                    CacheIdentity::new("azure-managed")
                        .with("tenant", tenant)
                        .with("client", client)
                        .with("endpoint", endpoint),
                )
            }
        }
    }
}
