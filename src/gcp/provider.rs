//! The Google provider: an access token from a service-account key or the metadata server,
//! optionally traded for another account's through IAM Credentials, handed to Google's
//! registries as the password of `oauth2accesstoken`.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::error::{code, grant_refusal};
use super::{Gcp, GcpCredential, GcpError, GcpHost, SCOPE, USERNAME};
use crate::config::FieldError;
use crate::http::{status_failure, Http, HttpFailure, Reply};
use crate::jwt::RsaKey;
use crate::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use crate::{Error, RegistryCredential};

/// Google's token endpoint, for key files that name none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The IAM Credentials API.
pub(crate) const DEFAULT_IAM_ENDPOINT: &str = "https://iamcredentials.googleapis.com";
/// The metadata server's address on every Google compute product.
const DEFAULT_METADATA_HOST: &str = "169.254.169.254";
/// The name Google gives the metadata server; it always stands for the address above.
const METADATA_NAME: &str = "metadata.google.internal";
/// The grant type of a service account's signed assertion (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long an assertion, and an impersonated token, are asked to live: Google's maximum.
const LIFETIME: u64 = 3600;
/// Token replies are small; anything bigger is refused.
const MAX_REPLY: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Google access tokens for Artifact Registry and Container Registry.
///
/// Built from a [`Gcp`] source (a configuration's `[registry.gcp]`); the key file is read by
/// [`GcpProvider::new`]. Each [`fetch`](CredentialProvider::fetch) asks for a new token: one
/// signed grant at the key file's `token_uri` (or one metadata-server request), plus one
/// `generateAccessToken` call when impersonating. The token is handed only to Google's registry
/// hosts ([`GcpHost`]) and to registries on this machine: it opens every Google Cloud API the
/// account may use, so another host asking for it is refused.
pub struct GcpProvider {
    source: Source,
    impersonate: Option<Impersonate>,
    http: OnceLock<Http>,
}

enum Source {
    Key(ServiceAccountKey),
    Metadata { host: String },
}

struct ServiceAccountKey {
    client_email: String,
    key_id: String,
    token_uri: String,
    key: RsaKey,
    /// The key as the file holds it: hashed into the cache identity, never shown.
    material: SecretString,
}

struct Impersonate {
    target: String,
    endpoint: String,
}

impl fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("GcpProvider");
        match &self.source {
            Source::Key(k) => d
                .field("client_email", &k.client_email)
                .field("key_id", &k.key_id)
                .field("token_uri", &k.token_uri),
            Source::Metadata { host } => d.field("metadata_host", host),
        };
        if let Some(i) = &self.impersonate {
            d.field("impersonate", &i.target)
                .field("iam_endpoint", &i.endpoint);
        }
        d.finish_non_exhaustive()
    }
}

impl GcpProvider {
    /// The provider for `source`, reading its key file now.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the key file cannot be read or is not a service-account key.
    pub fn new(source: &Gcp) -> Result<Self, Error> {
        Self::from_source(source).map_err(|e| {
            crate::config::ConfigError::new("GcpProvider::new", e.within("gcp").to_string()).into()
        })
    }

    pub(crate) fn from_source(gcp: &Gcp) -> Result<Self, FieldError> {
        gcp.validate()?;
        let source = match &gcp.credential {
            GcpCredential::KeyFile(file) => Source::Key(ServiceAccountKey::read(file)?),
            GcpCredential::MetadataServer { host } => Source::Metadata {
                host: metadata_host(host.as_deref()),
            },
        };
        let impersonate = gcp
            .impersonate_service_account
            .as_ref()
            .map(|target| Impersonate {
                target: target.clone(),
                endpoint: gcp
                    .iam_endpoint
                    .as_deref()
                    .unwrap_or(DEFAULT_IAM_ENDPOINT)
                    .trim_end_matches('/')
                    .to_owned(),
            });
        Ok(Self {
            source,
            impersonate,
            http: OnceLock::new(),
        })
    }

    fn http(&self) -> &Http {
        self.http
            .get_or_init(|| Http::new(CONNECT_TIMEOUT, REQUEST_TIMEOUT))
    }

    /// Who the first token belongs to, for messages.
    fn source_identity(&self) -> String {
        match &self.source {
            Source::Key(k) => format!("service account {} (key {})", k.client_email, k.key_id),
            Source::Metadata { host } => {
                format!("the metadata server's service account (metadata server {host})")
            }
        }
    }

    /// A token from the key's signed grant.
    async fn grant(&self, key: &ServiceAccountKey) -> Result<(SecretString, SystemTime), Error> {
        let identity = self.source_identity();
        let unavailable = |status, what: String, retryable| GcpError::Unavailable {
            identity: identity.clone(),
            endpoint: key.token_uri.clone(),
            status,
            what,
            retryable,
        };
        let now = crate::time::unix_secs(SystemTime::now());
        let claims = json!({
            "iss": key.client_email,
            "scope": SCOPE,
            "aud": key.token_uri,
            "iat": now,
            "exp": now + LIFETIME,
        });
        let mut header = Map::new();
        header.insert("kid".into(), Value::String(key.key_id.clone()));
        let assertion = key
            .key
            .sign(header, &claims)
            .map_err(|e| unavailable(None, e, false))?;
        let started = SystemTime::now();
        let reply = self
            .http()
            .post_form(
                &key.token_uri,
                &[("accept", "application/json")],
                &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
                MAX_REPLY,
            )
            .await
            .map_err(|f| unavailable(None, f.to_string(), f.is_retryable()))?;
        match reply.status {
            200 => oauth_token(&reply, started)
                .map_err(|what| unavailable(Some(200), what, false).into()),
            400 | 401 | 403 => {
                let body = reply.json();
                let oauth_code = body["error"].as_str().unwrap_or_default();
                let description = body["error_description"].as_str().unwrap_or_default();
                Err(GcpError::Refused {
                    identity: identity.clone(),
                    endpoint: key.token_uri.clone(),
                    status: reply.status,
                    code: code(Some(oauth_code)),
                    reason: grant_refusal(
                        oauth_code,
                        description,
                        &key.client_email,
                        &key.token_uri,
                    ),
                }
                .into())
            }
            s => Err(status_failure(s, unavailable).into()),
        }
    }

    /// A token from the metadata server.
    async fn metadata(&self, host: &str) -> Result<(SecretString, SystemTime), Error> {
        let identity = self.source_identity();
        let endpoint =
            format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
        let unavailable = |status, what: String, retryable| GcpError::Unavailable {
            identity: identity.clone(),
            endpoint: endpoint.clone(),
            status,
            what,
            retryable,
        };
        let started = SystemTime::now();
        let reply = self
            .http()
            .get(&endpoint, &[("metadata-flavor", "Google")], MAX_REPLY)
            .await
            .map_err(|f| {
                let what = match f {
                    HttpFailure::Connection(_) | HttpFailure::Timeout(_) => format!(
                        "no metadata server answered ({f}): it runs on GCE, GKE and Cloud Run; elsewhere use key_file, or set GCE_METADATA_HOST (or metadata_host) to the server's address"
                    ),
                    _ => f.to_string(),
                };
                unavailable(None, what, f.is_retryable())
            })?;
        let flavored = reply
            .header("metadata-flavor")
            .is_some_and(|v| v.eq_ignore_ascii_case("Google"));
        // Google's metadata server marks every reply, errors included.
        if !flavored {
            return Err(unavailable(
                Some(reply.status),
                "the server that answered is not a Google metadata server (its reply lacks Metadata-Flavor: Google); check GCE_METADATA_HOST / metadata_host".into(),
                false,
            )
            .into());
        }
        match reply.status {
            200 => oauth_token(&reply, started).map_err(|what| unavailable(Some(200), what, false).into()),
            403 | 404 => Err(GcpError::Refused {
                identity: identity.clone(),
                endpoint: endpoint.clone(),
                status: reply.status,
                code: None,
                reason: "the metadata server has no service account for this machine (none is attached to the instance, or GKE Workload Identity maps this pod's Kubernetes service account to none): attach a service account, or use key_file".into(),
            }
            .into()),
            s => Err(status_failure(s, unavailable).into()),
        }
    }

    /// `token` traded for the impersonated account's.
    async fn impersonate(
        &self,
        imp: &Impersonate,
        token: &SecretString,
    ) -> Result<(SecretString, SystemTime), Error> {
        let source = self.source_identity();
        let identity = format!("service account {} impersonated by {source}", imp.target);
        let endpoint = format!(
            "{}/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            imp.endpoint, imp.target
        );
        let unavailable = |status, what: String, retryable| GcpError::Unavailable {
            identity: identity.clone(),
            endpoint: endpoint.clone(),
            status,
            what,
            retryable,
        };
        let bearer = SecretString::from(format!("Bearer {}", token.expose_secret()));
        let reply = self
            .http()
            .post_json(
                &endpoint,
                &[
                    ("authorization", bearer.expose_secret()),
                    ("accept", "application/json"),
                ],
                &json!({ "scope": [SCOPE], "lifetime": format!("{LIFETIME}s") }),
                MAX_REPLY,
            )
            .await
            .map_err(|f| unavailable(None, f.to_string(), f.is_retryable()))?;
        let body = reply.json();
        let refused = |reason: String| GcpError::Refused {
            identity: identity.clone(),
            endpoint: endpoint.clone(),
            status: reply.status,
            code: code(body["error"]["status"].as_str()),
            reason,
        };
        match reply.status {
            200 => {
                let token = body["accessToken"].as_str().filter(|t| !t.is_empty());
                let expires = body["expireTime"].as_str().and_then(parse_rfc3339);
                match (token, expires) {
                    (Some(t), Some(at)) => Ok((SecretString::from(t.to_owned()), at)),
                    _ => Err(unavailable(
                        Some(200),
                        "the reply holds no accessToken and expireTime".into(),
                        false,
                    )
                    .into()),
                }
            }
            401 => Err(refused(format!(
                "the IAM Credentials API did not accept the token of {source}: the account was deleted or disabled since the token was issued; check it"
            ))
            .into()),
            403 => Err(refused(format!(
                "{source} may not impersonate {target}, or {target} does not exist: grant it the Service Account Token Creator role on {target} (gcloud iam service-accounts add-iam-policy-binding {target} --member=serviceAccount:EMAIL --role=roles/iam.serviceAccountTokenCreator), and check impersonate_service_account",
                target = imp.target
            ))
            .into()),
            404 => Err(refused(format!(
                "service account {} does not exist: check impersonate_service_account",
                imp.target
            ))
            .into()),
            s => Err(status_failure(s, unavailable).into()),
        }
    }
}

impl ServiceAccountKey {
    /// Reads and checks a key file; errors name `key_file` and the file, never its content.
    fn read(file: &crate::config::SecretSource) -> Result<Self, FieldError> {
        const FIELD: &str = "key_file";
        let text = file.read(FIELD)?;
        let place = match file {
            crate::config::SecretSource::File(path) => {
                crate::files::warn_if_shared(path, "a service account's private key");
                path.display().to_string()
            }
            _ => "the key".to_owned(),
        };
        let bad = |what: &str| FieldError::new(FIELD, format!("{place}: {what}"));
        let json: Value = serde_json::from_str(text.expose_secret()).map_err(|e| {
            bad(&format!(
                "is not a JSON service-account key (line {}, column {}); download a key with gcloud iam service-accounts keys create",
                e.line(),
                e.column()
            ))
        })?;
        match json["type"].as_str() {
            None | Some("service_account") => {}
            Some("external_account") => return Err(bad("holds a workload identity federation configuration (type external_account), which this source does not read; use a service-account key, or metadata_server = true where a metadata server runs")),
            Some("authorized_user") => return Err(bad("holds a user's credentials (gcloud auth application-default login), not a service account's; use a service-account key")),
            Some(_) => return Err(bad("is not a service-account key (its type is not service_account)")),
        }
        let field = |name: &str| {
            json[name]
                .as_str()
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("has no {name}; download a complete key with gcloud iam service-accounts keys create")))
        };
        let client_email = field("client_email")?;
        let key_id = field("private_key_id")?;
        let private_key = SecretString::from(field("private_key")?);
        let token_uri = json["token_uri"]
            .as_str()
            .unwrap_or(DEFAULT_TOKEN_URI)
            .to_owned();
        crate::http::checked_uri(&token_uri).map_err(|e| bad(&format!("token_uri: {e}")))?;
        if !is_printable_id(&client_email) || !is_printable_id(&key_id) {
            return Err(bad("holds a client_email or private_key_id with spaces or control characters; download the key again"));
        }
        let key = RsaKey::from_pem(private_key.expose_secret().as_bytes())
            .map_err(|e| bad(&format!("private_key {e}")))?;
        Ok(Self {
            client_email,
            key_id,
            token_uri,
            key,
            material: private_key,
        })
    }
}

/// No whitespace or control characters, and short: safe to show in messages and cache keys.
fn is_printable_id(s: &str) -> bool {
    s.len() <= 256 && s.chars().all(|c| c.is_ascii_graphic())
}

/// The metadata server: the configured host, else `GCE_METADATA_HOST`, else its address.
/// `metadata.google.internal` always names `169.254.169.254`, so it is replaced by the
/// address: plain HTTP goes to link-local addresses only, never to a name DNS could redirect.
fn metadata_host(configured: Option<&str>) -> String {
    let host = configured
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("GCE_METADATA_HOST")
                .ok()
                .filter(|h| !h.trim().is_empty())
        })
        .unwrap_or_else(|| DEFAULT_METADATA_HOST.to_owned());
    let host = host.trim().trim_end_matches('/').to_owned();
    // `NAME:PORT` with exactly one colon; bracketed IPv6 addresses never name the server.
    let (name, port) = match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => (name, Some(port)),
        _ => (host.as_str(), None),
    };
    if name
        .trim_end_matches('.')
        .eq_ignore_ascii_case(METADATA_NAME)
    {
        match port {
            Some(p) => format!("{DEFAULT_METADATA_HOST}:{p}"),
            None => DEFAULT_METADATA_HOST.to_owned(),
        }
    } else {
        host
    }
}

/// The access token and expiry of an OAuth token reply (`access_token`, `expires_in`).
fn oauth_token(reply: &Reply, started: SystemTime) -> Result<(SecretString, SystemTime), String> {
    let body = reply.json();
    let token = body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the reply holds no access_token")?;
    let expires_in = body["expires_in"]
        .as_u64()
        .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .ok_or("the reply holds no expires_in")?;
    if expires_in == 0 {
        return Err("the token it gave has already expired (expires_in 0): retry, and check this machine's clock".into());
    }
    let at = started
        .checked_add(Duration::from_secs(expires_in))
        .ok_or("the reply's expires_in is out of range")?;
    Ok((SecretString::from(token.to_owned()), at))
}

#[async_trait]
impl CredentialProvider for GcpProvider {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        if GcpHost::parse(target.host()).is_none() && !crate::http::is_loopback(target.host()) {
            return Err(Error::unsupported(
                target.registry(),
                "is not a Google registry (LOCATION-docker.pkg.dev, gcr.io, *.gcr.io): a [registry.gcp] entry hands its access token, which opens the account's Google Cloud APIs, only to Google's registries and to registries on this machine; narrow the entry's pattern, or serve this host with another source",
            ));
        }
        let (mut token, mut expires_at) = match &self.source {
            Source::Key(key) => self.grant(key).await?,
            Source::Metadata { host } => self.metadata(host).await?,
        };
        if let Some(imp) = &self.impersonate {
            (token, expires_at) = self.impersonate(imp, &token).await?;
        }
        tracing::debug!(identity = %self.identity().public(), registry = %target.registry(), "gcp: access token");
        Ok(RegistryCredential::new(
            USERNAME,
            token,
            target.server(),
            Some(expires_at),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        let mut id = match &self.source {
            Source::Key(k) => CacheIdentity::new("gcp-key")
                .with("account", &k.client_email)
                .with("key", &k.key_id)
                .with("token_uri", &k.token_uri)
                .with_secret(&k.material),
            Source::Metadata { host } => CacheIdentity::new("gcp-metadata").with("host", host),
        };
        if let Some(i) = &self.impersonate {
            id = id.with("impersonate", &i.target).with("iam", &i.endpoint);
        }
        id
    }
}

/// `2014-10-02T15:01:23Z`, with optional fractional seconds and a `+HH:MM` offset, as Google's
/// APIs write timestamps; `None` for anything else.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    crate::time::from_unix_secs(u64::try_from(secs).ok()?)
}

/// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn google_timestamps_parse_and_anything_else_does_not() {
        let at = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(parse_rfc3339("2014-10-02T15:01:23Z"), at(1_412_262_083));
        assert_eq!(
            parse_rfc3339("2014-10-02T15:01:23.045123456Z"),
            at(1_412_262_083)
        );
        assert_eq!(
            parse_rfc3339("2014-10-02T17:01:23+02:00"),
            at(1_412_262_083)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), at(951_782_400));
        for bad in [
            "",
            "2014-10-02",
            "2014-10-02T15:01:23",
            "2014-13-02T15:01:23Z",
            "2014-10-02T15:01:23.Z",
            "１９７０-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_metadata_name_becomes_its_address() {
        assert_eq!(
            metadata_host(Some("metadata.google.internal")),
            "169.254.169.254"
        );
        assert_eq!(
            metadata_host(Some("metadata.google.internal.:8080")),
            "169.254.169.254:8080"
        );
        assert_eq!(metadata_host(Some("127.0.0.1:9000")), "127.0.0.1:9000");
        assert_eq!(metadata_host(Some("[::1]:9000")), "[::1]:9000");
    }
}
