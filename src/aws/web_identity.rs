//! ECR tokens as a role assumed with a web identity token through STS
//! `AssumeRoleWithWebIdentity`: a projected token file (IRSA), or the service-account token the
//! kubelet sends with each request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::Region;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::assume_role::AssumeRoleLayer;
use super::assume_role::{check_role_arn, check_session_name, is_role_arn, sts_credentials};
use super::credentials::{AwsCredentials, CallFor, Signed};
use super::error::{map_sdk_error, Call, Caller};
use super::source::check_region;
use super::tokens::{ecr_tokens_provider, EcrTokens};
use super::{AssumeRole, AwsError, AwsOptions, SdkBase};
use crate::config::{check_text, ConfigError, FieldError};
use crate::provider::{CacheIdentity, CredentialProvider, RequestAttributes};
use crate::Error;

/// The most a token file may hold (Kubernetes tokens are a few KiB).
const MAX_TOKEN: u64 = 64 * 1024;
/// The session name when the entry names none.
const SESSION_NAME: &str = "registry-auth";

/// A role assumed with a web identity token: `[registry.web_identity]`.
///
/// With a token file (IRSA, or any OIDC token a file holds):
///
/// ```toml
/// [registry.web_identity]
/// role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
/// token_file = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
/// ```
///
/// On the kubelet path, without `token_file`: the token is the pod's service-account token that
/// the kubelet sends with the request, and the role may come from the service account's
/// annotation, so that each service account pulls as its own role:
///
/// ```toml
/// [registry.web_identity]
/// role_arn_annotation = "eks.amazonaws.com/ecr-role-arn"
/// role_arn = "arn:aws:iam::123456789012:role/ecr-pull-default"   # optional fallback
/// ```
///
/// **Cache identity.** Tokens fetched with a request's token are filed under the role, the
/// token's subject (`system:serviceaccount:NAMESPACE:NAME`) and a keyed hash of the token
/// itself: the subject is only a claim nobody has checked yet, so it alone never decides who
/// gets a cached token; only the same token gets it back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebIdentity {
    /// The role to assume; with `role_arn_annotation`, the fallback when the service account
    /// has no such annotation.
    pub role_arn: Option<String>,
    /// The service-account annotation that names the role (kubelet path only), e.g.
    /// `eks.amazonaws.com/ecr-role-arn`.
    pub role_arn_annotation: Option<String>,
    /// The file holding the token, re-read on every call (it rotates); without it, the
    /// kubelet's service-account token.
    pub token_file: Option<PathBuf>,
    /// The session name (shows in CloudTrail); `registry-auth` when unset.
    pub session_name: Option<String>,
    /// The region for hosts that are not ECR hostnames (an ECR hostname names its own).
    pub region: Option<String>,
    /// A further role to assume with the web identity role's credentials.
    pub assume_role: Option<AssumeRole>,
}

impl WebIdentity {
    /// The role `role_arn`, assumed with the token in `token_file`.
    pub fn from_token_file(role_arn: impl Into<String>, token_file: impl Into<PathBuf>) -> Self {
        Self {
            role_arn: Some(role_arn.into()),
            token_file: Some(token_file.into()),
            ..Self::default()
        }
    }

    /// The role `role_arn`, assumed with the service-account token of each kubelet request.
    pub fn from_request(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: Some(role_arn.into()),
            ..Self::default()
        }
    }

    /// The role named by the service account's `annotation`, assumed with the service-account
    /// token of each kubelet request.
    pub fn from_annotation(annotation: impl Into<String>) -> Self {
        Self {
            role_arn_annotation: Some(annotation.into()),
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        match (&self.role_arn, &self.role_arn_annotation) {
            (None, None) => {
                return Err(FieldError::new(
                    "role_arn",
                    "is required: name the role to assume, or role_arn_annotation to take it from the service account",
                ))
            }
            (Some(arn), _) => check_role_arn("role_arn", arn)?,
            (None, Some(_)) => {}
        }
        if let Some(key) = &self.role_arn_annotation {
            check_text("role_arn_annotation", key)?;
            if self.token_file.is_some() {
                return Err(FieldError::new(
                    "role_arn_annotation",
                    "applies only to the kubelet's service-account token; remove token_file, or name the role with role_arn",
                ));
            }
        }
        if let Some(path) = &self.token_file {
            if path.as_os_str().is_empty() {
                return Err(FieldError::new("token_file", "is empty"));
            }
        }
        if let Some(name) = &self.session_name {
            check_session_name("session_name", name)?;
        }
        if let Some(r) = &self.region {
            check_region(r)?;
        }
        if let Some(a) = &self.assume_role {
            a.validate("role_arn")
                .map_err(|e| e.within("assume_role"))?;
        }
        Ok(())
    }

    /// A relative token file is relative to the configuration file's directory.
    pub(crate) fn rebase(&mut self, dir: &Path) {
        if let Some(path) = &self.token_file {
            if path.is_relative() {
                self.token_file = Some(dir.join(path));
            }
        }
    }

    pub(crate) fn provider(
        &self,
        options: &AwsOptions,
        sdk: Option<&aws_config::SdkConfig>,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let mut b = WebIdentityProvider::builder().options(options.clone());
        b.role_arn = self.role_arn.clone();
        b.role_arn_annotation = self.role_arn_annotation.clone();
        b.token_file = self.token_file.clone();
        b.session_name = self.session_name.clone();
        b.region = self.region.clone();
        b.assume_role = self.assume_role.clone();
        b.sdk = sdk.cloned();
        let provider = b.build().map_err(|e| FieldError::new("", e.to_string()))?;
        Ok(Arc::new(provider))
    }
}

/// Gets ECR tokens as a role assumed with a web identity token (see [`WebIdentity`]).
///
/// ```
/// use registry_auth::aws::WebIdentityProvider;
///
/// let irsa = WebIdentityProvider::builder()
///     .role_arn("arn:aws:iam::123456789012:role/ecr-pull")
///     .token_file("/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
///     .build()?;
/// let per_service_account = WebIdentityProvider::builder()
///     .role_arn_annotation("eks.amazonaws.com/ecr-role-arn")
///     .build()?;
/// # Ok::<(), registry_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct WebIdentityProvider {
    inner: EcrTokens,
}

/// Builds a [`WebIdentityProvider`].
#[derive(Debug, Default)]
pub struct WebIdentityProviderBuilder {
    role_arn: Option<String>,
    role_arn_annotation: Option<String>,
    token_file: Option<PathBuf>,
    session_name: Option<String>,
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    options: AwsOptions,
    sdk: Option<aws_config::SdkConfig>,
}

impl WebIdentityProvider {
    /// A builder.
    pub fn builder() -> WebIdentityProviderBuilder {
        WebIdentityProviderBuilder::default()
    }
}

impl WebIdentityProviderBuilder {
    /// The role to assume (the fallback, with [`role_arn_annotation`](Self::role_arn_annotation)).
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = Some(arn.into());
        self
    }

    /// Take the role from this service-account annotation of the request.
    pub fn role_arn_annotation(mut self, key: impl Into<String>) -> Self {
        self.role_arn_annotation = Some(key.into());
        self
    }

    /// Read the token from this file on every call; without it, the request's
    /// service-account token is used.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// The session name; `registry-auth` when unset.
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// Where calls go for registry hosts that are not ECR hostnames.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Assume a further role with the web identity role's credentials.
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    /// Endpoint, timeouts and retries.
    pub fn options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// Make the calls over this SDK configuration; its credentials are not used (the web
    /// identity call is unsigned).
    pub fn sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.sdk = Some(sdk);
        self
    }

    /// The provider; fails when the settings are not a usable web identity (see
    /// [`WebIdentity`]).
    pub fn build(self) -> Result<WebIdentityProvider, Error> {
        let schema = WebIdentity {
            role_arn: self.role_arn,
            role_arn_annotation: self.role_arn_annotation,
            token_file: self.token_file,
            session_name: self.session_name,
            region: self.region,
            assume_role: self.assume_role,
        };
        schema
            .validate()
            .map_err(|e| ConfigError::new("WebIdentityProvider::builder()", e.to_string()))?;
        let sdk = match self.sdk {
            Some(sdk) => SdkBase::given(without_credentials(sdk), self.options),
            None => SdkBase::new(self.options),
        };
        let base = WebIdentityCredentials {
            role_arn: schema.role_arn,
            role_arn_annotation: schema.role_arn_annotation,
            token_file: schema.token_file,
            session_name: schema
                .session_name
                .unwrap_or_else(|| SESSION_NAME.to_owned()),
            sts: sdk.endpoint_for("STS"),
        };
        let credentials =
            AssumeRoleLayer::over(Box::new(base), schema.assume_role, sdk.endpoint_for("STS"));
        Ok(WebIdentityProvider {
            inner: EcrTokens::new(credentials, schema.region, sdk),
        })
    }
}

ecr_tokens_provider!(WebIdentityProvider);

/// `AssumeRoleWithWebIdentity` is unsigned: the token is the proof. An embedder's credentials
/// must not sign it (nor be needed for it).
fn without_credentials(sdk: aws_config::SdkConfig) -> aws_config::SdkConfig {
    let mut builder = sdk.into_builder();
    builder.set_credentials_provider(None);
    builder.build()
}

#[derive(Debug)]
struct WebIdentityCredentials {
    role_arn: Option<String>,
    role_arn_annotation: Option<String>,
    token_file: Option<PathBuf>,
    session_name: String,
    sts: String,
}

impl WebIdentityCredentials {
    /// The role for `request`: its service account's annotation, else the entry's role.
    fn role(&self, request: &RequestAttributes) -> Result<String, Error> {
        if let Some(key) = &self.role_arn_annotation {
            if let Some(value) = request.annotation(key) {
                if is_role_arn(value) {
                    return Ok(value.to_owned());
                }
                return Err(no_credentials(
                    format!("the service account's annotation {key}"),
                    format!(
                        "{:?} is not an IAM role ARN; annotate the service account with arn:aws:iam::ACCOUNT:role/NAME",
                        crate::error::cut(value, 200)
                    ),
                ));
            }
            return self.role_arn.clone().ok_or_else(|| {
                no_credentials(
                    "the kubelet's request".to_owned(),
                    format!("the service account has no annotation {key} and the entry names no role_arn to fall back on; annotate the service account (kubectl annotate serviceaccount NAME {key}=arn:aws:iam::ACCOUNT:role/NAME), list the key in the kubelet's tokenAttributes.requiredServiceAccountAnnotationKeys, or set role_arn"),
                )
            });
        }
        Ok(self.role_arn.clone().unwrap_or_default())
    }

    /// The token: the file's, read now, or the request's.
    fn token(&self, request: &RequestAttributes) -> Result<SecretString, Error> {
        match &self.token_file {
            Some(path) => {
                let text = crate::files::read_text(path, MAX_TOKEN).map_err(|e| {
                    no_credentials(
                        format!("the web identity token file {}", path.display()),
                        format!("cannot read it: {e}"),
                    )
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(no_credentials(
                        format!("the web identity token file {}", path.display()),
                        "it is empty".to_owned(),
                    ));
                }
                Ok(SecretString::from(token))
            }
            None => request.service_account_token().cloned().ok_or_else(|| {
                no_credentials(
                    "the kubelet's service-account token".to_owned(),
                    "the request carried none: set tokenAttributes.serviceAccountTokenAudience (sts.amazonaws.com) in the kubelet's CredentialProviderConfig (Kubernetes 1.33 and later), or give the entry a token_file".to_owned(),
                )
            }),
        }
    }
}

fn no_credentials(origin: String, detail: String) -> Error {
    AwsError::NoCredentials {
        origin,
        detail,
        retryable: false,
    }
    .into()
}

#[async_trait]
impl AwsCredentials for WebIdentityCredentials {
    async fn credentials(&self, call: &CallFor<'_>) -> Result<Signed, Error> {
        let token = self.token(call.request)?;
        let role = self.role(call.request)?;
        let subject = subject(&token).unwrap_or_else(|| "with an unreadable subject".to_owned());
        let sdk = call.sdk.get().await;
        let conf = aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::new(call.region.to_owned()))
            .build();
        let sts = aws_sdk_sts::Client::from_conf(conf);
        let send = sts
            .assume_role_with_web_identity()
            .role_arn(&role)
            .role_session_name(&self.session_name)
            .web_identity_token(token.expose_secret())
            .send();
        let who = format!("web identity {subject}");
        let out = super::without_sdk_trace(send).await.map_err(|e| {
            map_sdk_error(
                e,
                &Call {
                    service: "STS",
                    operation: "AssumeRoleWithWebIdentity",
                    action: "sts:AssumeRoleWithWebIdentity",
                    resource: &role,
                    endpoint: &self.sts,
                },
                &Caller {
                    who: &who,
                    access_key_id: "-",
                },
            )
        })?;
        let credentials = sts_credentials(out.credentials(), "AssumeRoleWithWebIdentity", &role)?;
        Ok(Signed {
            credentials,
            who: format!("role {role} (assumed by {who})"),
        })
    }

    fn identity(&self) -> CacheIdentity {
        let token = match &self.token_file {
            Some(path) => path.display().to_string(),
            None => "request".to_owned(),
        };
        CacheIdentity::new("web-identity")
            .with("role", self.role_arn.as_deref().unwrap_or("-"))
            .with(
                "annotation",
                self.role_arn_annotation.as_deref().unwrap_or("-"),
            )
            .with("token", token)
            .with("session", &self.session_name)
            .with("sts", &self.sts)
    }

    /// With the request's token: the role it picks, the token's subject, and a keyed hash of
    /// the token. The subject is an unverified claim (STS checks the signature, not us), so it
    /// is there to read in logs; the token's hash is what keeps one token's credentials from
    /// another's request.
    fn request_identity(&self, request: &RequestAttributes) -> Option<CacheIdentity> {
        if self.token_file.is_some() {
            return None;
        }
        let role = self.role(request).unwrap_or_else(|_| "-".to_owned());
        let token = request.service_account_token();
        let sub = token.and_then(subject).unwrap_or_else(|| "-".to_owned());
        let mut id = CacheIdentity::new("service-account")
            .with("sub", sub)
            .with("role", role);
        if let Some(token) = token {
            id = id.with_secret(token);
        }
        Some(id)
    }
}

/// The `sub` claim of a JWT, unverified, if it reads as one (printable, no spaces, at most 256
/// characters): only for messages and the readable part of cache keys.
fn subject(token: &SecretString) -> Option<String> {
    let payload = token.expose_secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.get("sub")?.as_str()?;
    let readable = (1..=256).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_graphic());
    readable.then(|| sub.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &serde_json::Value) -> SecretString {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.c2ln",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.to_string().as_bytes())
        )
        .into()
    }

    #[test]
    fn the_subject_is_read_only_when_it_looks_like_one() {
        let sa = "system:serviceaccount:team-a:puller";
        assert_eq!(
            subject(&jwt(&serde_json::json!({ "sub": sa }))).as_deref(),
            Some(sa)
        );
        for bad in [
            serde_json::json!({ "sub": "has space" }),
            serde_json::json!({ "sub": 7 }),
            serde_json::json!({ "sub": "x".repeat(257) }),
            serde_json::json!({}),
        ] {
            assert_eq!(subject(&jwt(&bad)), None, "{bad}");
        }
        assert_eq!(subject(&"not-a-jwt".into()), None);
    }

    #[test]
    fn request_identities_hold_the_token_only_as_a_secret() {
        let provider = WebIdentityCredentials {
            role_arn: Some("arn:aws:iam::123456789012:role/fallback".into()),
            role_arn_annotation: Some("eks.amazonaws.com/ecr-role-arn".into()),
            token_file: None,
            session_name: SESSION_NAME.into(),
            sts: "default".into(),
        };
        let token = jwt(&serde_json::json!({ "sub": "system:serviceaccount:a:b" }));
        let request = RequestAttributes::new()
            .with_service_account_token(token.clone())
            .with_annotation(
                "eks.amazonaws.com/ecr-role-arn",
                "arn:aws:iam::123456789012:role/team-a",
            );
        let id = provider.request_identity(&request).unwrap();
        assert_eq!(
            id.public(),
            "service-account sub=system:serviceaccount:a:b role=arn:aws:iam::123456789012:role/team-a"
        );
        assert!(!format!("{id:?}").contains(token.expose_secret()));
        assert!(format!("{id:?}").contains("+1 secret"));
        // Without the annotation, the fallback role.
        let plain = RequestAttributes::new().with_service_account_token(token);
        assert!(provider
            .request_identity(&plain)
            .unwrap()
            .public()
            .ends_with("role/fallback"));
    }
}
