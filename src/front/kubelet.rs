//! The kubelet credential provider protocol, spoken by `registry-auth kubelet`.
//!
//! The kubelet runs an exec plugin for every image that its `matchImages` cover, writes a
//! `CredentialProviderRequest` on the plugin's stdin and reads a `CredentialProviderResponse`
//! from its stdout (`credentialprovider.kubelet.k8s.io/v1`; `v1beta1` and `v1alpha1`, same
//! shape, are answered too, in the version they were asked in):
//!
//! ```json
//! {"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest",
//!  "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0"}
//! ```
//!
//! ```json
//! {"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderResponse",
//!  "cacheKeyType": "Registry", "cacheDuration": "6h0m0s",
//!  "auth": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": {"username": "AWS", "password": "…"}}}
//! ```
//!
//! - The entry is the image's best match, as everywhere in this crate (the kubelet sends the
//!   whole image, unlike docker).
//! - `auth` is keyed by the image's registry `HOST[:PORT]`.
//! - `cacheDuration` is half the token's remaining lifetime (a fresh 12-hour ECR token gives
//!   `6h0m0s`), the same refresh-ahead point as the [token cache](crate::cache); `0s` (the kubelet
//!   does not cache) for a token that has already expired; one hour for a password that does not
//!   expire (a plain registry's), so that a changed password is picked up within the hour.
//! - `cacheKeyType` is `Registry` when every entry whose host fits the image's registry serves
//!   the whole host, so one answer is right for every image there. When an entry on that host
//!   narrows by path (`HOST/team/*`), it is `Image`: a per-registry cache would hand one
//!   repository's credentials to images another entry serves.
//! - An image no entry serves gets a response without `auth` and `cacheDuration: 0s`, as the
//!   protocol asks ("set this field to null if no valid credentials can be returned"), and a
//!   warning on stderr. Failures (bad request, configuration, AWS) exit 1 with the reason on
//!   stderr, which the kubelet logs.
//! - A `serviceAccountToken` and the `serviceAccountAnnotations` in the request go to the
//!   entry's provider ([`RequestAttributes`]): a `web_identity` entry without a token file
//!   assumes its role with the token, the role optionally named by an annotation. The token is
//!   never logged, and kept only as a keyed hash in cache keys.
//! - **Who asks**: the kubelet names no job, so the context comes from `--owner`,
//!   `--environment` (or `--personal`) in the `CredentialProviderConfig`'s `args`, else from
//!   `REGISTRY_AUTH_OWNER` and `REGISTRY_AUTH_ENVIRONMENT` in its `env`. Without one, entries
//!   scoped to an organisation or environments are never used (fail closed), and an image only
//!   they match is an error naming the settings.
//! - **Tag and digest pins** (`HOST/app:release-*`) cannot be honoured here: the kubelet asks
//!   for the repository without its tag, and caches the answer per image. A configuration with
//!   such an entry is refused, naming the entry; give the kubelet a configuration without pins.
//!
//! The configuration comes from `--config`, else `REGISTRY_AUTH_CONFIG`, else the per-user
//! file, else `/etc/registry-auth/registries.toml` ([`find_config`](super::find_config));
//! tokens are shared with other runs through the disk store of the [token cache](crate::cache)
//! (`--cache-dir` or `REGISTRY_AUTH_CACHE_DIR` to move it, `--no-disk-cache` or
//! `REGISTRY_AUTH_NO_DISK_CACHE=1` to go without). With `REGISTRY_AUTH_LOG_FILE` set, failures
//! and warnings are appended to that file as well as written to stderr.
//!
//! # Kubelet configuration
//!
//! Put the `registry-auth` binary in the kubelet's `--image-credential-provider-bin-dir` and point
//! `--image-credential-provider-config` at:
//!
//! ```yaml
//! apiVersion: kubelet.config.k8s.io/v1
//! kind: CredentialProviderConfig
//! providers:
//!   - name: registry-auth            # the binary's file name in the bin dir
//!     apiVersion: credentialprovider.kubelet.k8s.io/v1
//!     args: ["kubelet"]
//!     matchImages:                   # the hosts your registries.toml serves
//!       - "*.dkr.ecr.*.amazonaws.com"
//!       - "*.dkr.ecr.*.amazonaws.com.cn"
//!     defaultCacheDuration: "6h"     # used only when a response carries none
//!     env:                           # /etc/registry-auth/registries.toml is found unnamed
//!       - name: REGISTRY_AUTH_CACHE_DIR
//!         value: /var/cache/registry-auth
//!       - name: REGISTRY_AUTH_LOG_FILE # optional: failures also land here
//!         value: /var/log/registry-auth.log
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Setup;
use crate::config::{ConfigError, RegistryConfig};
use crate::provider::RequestAttributes;
use crate::reference::{ImageReference, ReferenceError};
use crate::scope::ResolveContext;
use crate::{DefaultResolver, Error};

/// The protocol version this module speaks first.
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
/// Versions with the same request and response shape, answered in kind.
const ACCEPTED_VERSIONS: [&str; 3] = [
    API_VERSION,
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];
/// How long the kubelet may keep a password that does not expire.
const NO_EXPIRY_CACHE: Duration = Duration::from_secs(3600);
const REQUEST_KIND: &str = "CredentialProviderRequest";
const RESPONSE_KIND: &str = "CredentialProviderResponse";
/// More than any request the kubelet sends (a service account token included).
const MAX_REQUEST: u64 = 1024 * 1024;

/// A request the kubelet sent that cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Not a JSON object of the expected shape.
    #[error("the request on stdin is not a CredentialProviderRequest (JSON error at line {line}, column {column})")]
    NotJson {
        /// Where the JSON broke, from 1.
        line: usize,
        /// Where the JSON broke, from 1.
        column: usize,
    },
    /// An `apiVersion` this module does not speak.
    #[error("unsupported apiVersion {0:?}: set the provider's apiVersion to credentialprovider.kubelet.k8s.io/v1 in the kubelet's CredentialProviderConfig")]
    ApiVersion(String),
    /// A `kind` other than `CredentialProviderRequest`.
    #[error("unexpected kind {0:?}: expected CredentialProviderRequest")]
    Kind(String),
    /// The image is not a valid reference.
    #[error("the request's image: {0}")]
    Image(#[from] ReferenceError),
}

/// The wire form. The service account token is read as a secret and only its presence kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    image: String,
    #[serde(default)]
    service_account_token: Option<SecretString>,
    #[serde(default)]
    service_account_annotations: Option<BTreeMap<String, String>>,
}

/// A parsed `CredentialProviderRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialProviderRequest {
    /// The version asked in, and answered in.
    pub api_version: String,
    /// The image being pulled, normalised.
    pub image: ImageReference,
    /// Whether the kubelet sent a service account token.
    pub has_service_account_token: bool,
    /// The service account token and annotations, for the entry's provider.
    pub attributes: RequestAttributes,
}

impl CredentialProviderRequest {
    /// Parses the JSON the kubelet writes on stdin. A missing `apiVersion` or `kind` is taken
    /// as v1's.
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        // serde_json's messages can quote the input, which may hold a token: say only where.
        let wire: WireRequest = serde_json::from_str(text).map_err(|e| RequestError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let api_version = wire.api_version.unwrap_or_else(|| API_VERSION.to_owned());
        if !ACCEPTED_VERSIONS.contains(&api_version.as_str()) {
            return Err(RequestError::ApiVersion(api_version));
        }
        if let Some(kind) = wire.kind.filter(|k| k != REQUEST_KIND) {
            return Err(RequestError::Kind(kind));
        }
        let image = ImageReference::parse(wire.image.trim())?;
        let mut attributes = RequestAttributes::new()
            .with_annotations(wire.service_account_annotations.unwrap_or_default());
        if let Some(token) = wire.service_account_token {
            attributes = attributes.with_service_account_token(token);
        }
        Ok(Self {
            api_version,
            image,
            has_service_account_token: attributes.service_account_token().is_some(),
            attributes,
        })
    }
}

/// How the kubelet keys its in-memory cache of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKeyType {
    /// Per image (registry and repository, without tag or digest).
    Image,
    /// Per registry host and port.
    Registry,
}

impl CacheKeyType {
    /// The protocol's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKeyType::Image => "Image",
            CacheKeyType::Registry => "Registry",
        }
    }
}

/// A `CredentialProviderResponse`. `Debug` never shows the password.
#[derive(Clone)]
#[non_exhaustive]
pub struct CredentialProviderResponse {
    /// The request's version.
    pub api_version: String,
    /// How the kubelet should key its cache.
    pub cache_key_type: CacheKeyType,
    /// How long the kubelet should cache the response.
    pub cache_duration: Duration,
    /// `HOST[:PORT]`, user name and password; `None` when no entry serves the image.
    pub auth: Option<(String, String, SecretString)>,
}

impl fmt::Debug for CredentialProviderResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialProviderResponse")
            .field("api_version", &self.api_version)
            .field("cache_key_type", &self.cache_key_type)
            .field("cache_duration", &go_duration(self.cache_duration))
            .field(
                "auth",
                &self.auth.as_ref().map(|(h, u, _)| (h, u, "[REDACTED]")),
            )
            .finish()
    }
}

impl CredentialProviderResponse {
    /// The response as the kubelet reads it. The text holds the password.
    pub fn to_json(&self) -> SecretString {
        let mut v = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": RESPONSE_KIND,
            "cacheKeyType": self.cache_key_type.as_str(),
            "cacheDuration": go_duration(self.cache_duration),
        });
        if let Some((host, username, password)) = &self.auth {
            let mut auth = BTreeMap::new();
            auth.insert(
                host.as_str(),
                serde_json::json!({ "username": username, "password": password.expose_secret() }),
            );
            v["auth"] = serde_json::json!(auth);
        }
        SecretString::from(v.to_string())
    }
}

/// The response to `request` for a job in `context`, with credentials from `resolver` and
/// time from its clock.
///
/// # Errors
///
/// Whatever resolving the image's credential fails with, except an image that no entry matches
/// at all, which is a response without `auth`.
pub async fn respond(
    resolver: &DefaultResolver,
    context: &ResolveContext,
    request: &CredentialProviderRequest,
) -> Result<CredentialProviderResponse, Error> {
    let image = &request.image;
    let mut response = CredentialProviderResponse {
        api_version: request.api_version.clone(),
        cache_key_type: CacheKeyType::Image,
        cache_duration: Duration::ZERO,
        auth: None,
    };
    let login = match resolver
        .resolve_with(context, image, &request.attributes)
        .await
    {
        Ok(resolved) => resolved.credential,
        Err(Error::NoEntry(e)) if e.ruled_out.is_empty() && !e.personal => {
            tracing::warn!(image = %image, "no registry entry serves this image; answering without credentials");
            return Ok(response);
        }
        Err(e) => return Err(e),
    };
    let now = resolver.cache().clock().now();
    response.cache_duration = match login.remaining(now) {
        Some(left) => Duration::from_secs(left.as_secs() / 2),
        None => NO_EXPIRY_CACHE,
    };
    response.cache_key_type = if resolver.host_narrows_by_path(image.host(), image.port()) {
        CacheKeyType::Image
    } else {
        CacheKeyType::Registry
    };
    response.auth = Some((
        image.domain().to_owned(),
        login.username().to_owned(),
        login.password().clone(),
    ));
    Ok(response)
}

/// Refuses a configuration with an entry that pins tags or digests, which the kubelet path
/// cannot honour (see the [module documentation](self)).
pub fn check_config(config: &RegistryConfig) -> Result<(), ConfigError> {
    match config
        .entries()
        .iter()
        .enumerate()
        .find(|(_, e)| e.pattern.pins_version())
    {
        Some((i, e)) => Err(crate::config::FieldError::new(
            "pattern",
            "pins a tag or digest, which the kubelet cannot honour (it asks for the repository without its tag, and caches per image): use a configuration without pins for the kubelet, or drop the tag from the pattern",
        )
        .at(config.origin(), i, e.pattern.to_string())),
        None => Ok(()),
    }
}

/// A duration as Go's `time.Duration.String` writes it, in whole seconds: `6h0m0s`, `1m30s`,
/// `45s`, `0s`. The kubelet parses `cacheDuration` with Go's `time.ParseDuration`.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Why `registry-auth kubelet` could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeletError {
    /// The request was not one to answer.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Reading the request or writing the response failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Loading the configuration or getting the credential failed.
    #[error(transparent)]
    Resolve(#[from] Error),
}

/// Reads a request from `input`, answers it with the configuration, disk store and context of
/// `setup`, and writes the response to `output`.
pub async fn serve(
    setup: &Setup,
    mut input: impl Read,
    mut output: impl Write,
) -> Result<(), KubeletError> {
    let mut text = String::new();
    (&mut input).take(MAX_REQUEST).read_to_string(&mut text)?;
    let request = CredentialProviderRequest::parse(&text)?;
    drop(text);
    let image = &request.image;
    let (config, resolver) = setup.resolver_for_registry(image.host(), image.port())?;
    check_config(&config).map_err(Error::from)?;
    let response = respond(&resolver, &setup.context, &request).await?;
    writeln!(output, "{}", response.to_json().expose_secret())?;
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        let cases = [
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m0s"),
            (90, "1m30s"),
            (3600, "1h0m0s"),
            (6 * 3600, "6h0m0s"),
            (6 * 3600 - 1, "5h59m59s"),
            (49 * 3600 + 61, "49h1m1s"),
        ];
        for (secs, text) in cases {
            assert_eq!(go_duration(Duration::from_secs(secs)), text);
        }
        assert_eq!(go_duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn requests_parse() {
        let r = CredentialProviderRequest::parse(
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/app"}"#,
        )
        .unwrap();
        assert_eq!(r.api_version, API_VERSION);
        assert_eq!(
            r.image.as_str(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"
        );
        assert!(!r.has_service_account_token);

        let r = CredentialProviderRequest::parse(
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","image":"localhost:5000/a:b","serviceAccountToken":"eyJhbGciOi.secret.sig"}"#,
        )
        .unwrap();
        assert_eq!(r.api_version, "credentialprovider.kubelet.k8s.io/v1beta1");
        assert!(r.has_service_account_token);
        assert!(!format!("{r:?}").contains("secret"));
    }

    #[test]
    fn bad_requests_say_what_is_wrong_without_quoting_secrets() {
        let bad = [
            ("", "not a CredentialProviderRequest"),
            ("[]", "not a CredentialProviderRequest"),
            (r#"{"kind":"CredentialProviderRequest"}"#, "not a"),
            (
                r#"{"image": 7, "serviceAccountToken": "tok-secret"}"#,
                "not a",
            ),
            (
                r#"{"image": "a", "serviceAccountToken": 5}"#,
                "not a CredentialProviderRequest",
            ),
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"a"}"#,
                "unsupported apiVersion",
            ),
            (
                r#"{"kind":"CredentialProviderResponse","image":"a"}"#,
                "unexpected kind",
            ),
            (r#"{"image":"Not/A/Valid:::ref"}"#, "the request's image"),
        ];
        for (input, want) in bad {
            let e = CredentialProviderRequest::parse(input).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(want), "{input}: {text}");
            assert!(!text.contains("tok-secret"), "{text}");
        }
    }

    #[test]
    fn responses_serialise_with_the_protocol_field_names() {
        let response = CredentialProviderResponse {
            api_version: API_VERSION.to_owned(),
            cache_key_type: CacheKeyType::Registry,
            cache_duration: Duration::from_secs(6 * 3600),
            auth: Some((
                "localhost:5000".to_owned(),
                "AWS".to_owned(),
                SecretString::from("pw"),
            )),
        };
        let v: serde_json::Value =
            serde_json::from_str(response.to_json().expose_secret()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": "CredentialProviderResponse",
                "cacheKeyType": "Registry",
                "cacheDuration": "6h0m0s",
                "auth": { "localhost:5000": { "username": "AWS", "password": "pw" } },
            })
        );
        assert!(!format!("{response:?}").contains("pw\""));
    }
}
