//! The ECR `GetAuthorizationToken` call (ECR Public's for its hosts), and what it needs to know
//! about a registry.

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use base64::Engine as _;
use secrecy::SecretString;

use super::error::{map_sdk_error, Call, Caller};
use super::{AwsError, EcrHost};
use crate::provider::RegistryTarget;
use crate::time::from_unix_f64;
use crate::{Error, RegistryCredential};

/// Where an ECR token is asked for: what the registry's host says, with an entry's region as the
/// fallback for hosts that are not ECR hostnames (a pull-through cache behind a custom name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EcrTarget {
    /// The registry `HOST[:PORT]`, lowercased.
    pub registry: String,
    /// The account id, sent as `registryIds`; `None` for a host that is not an ECR hostname
    /// (the caller's own registry is meant).
    pub registry_id: Option<String>,
    /// The region the call goes to.
    pub region: String,
    /// Use the FIPS endpoint.
    pub fips: bool,
    /// Use the dual-stack endpoint.
    pub dual_stack: bool,
    /// ECR Public (`public.ecr.aws`): the token comes from the `ecr-public` API in us-east-1.
    pub public: bool,
}

impl EcrTarget {
    /// The ECR target for `target`, served by an entry whose region is `fallback_region`.
    ///
    /// An ECR hostname decides the account, the region and the endpoint variant; the fallback
    /// region is used only for other hosts.
    ///
    /// ECR Public hosts (`public.ecr.aws`, `ecr-public.aws.com`) get a public target in
    /// us-east-1, the only region of the `ecr-public` API.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a host that is not an ECR hostname when there is no fallback
    /// region.
    pub fn resolve(
        target: &RegistryTarget<'_>,
        fallback_region: Option<&str>,
    ) -> Result<Self, Error> {
        let registry = target.registry();
        match EcrHost::parse(target.host()) {
            Some(h) if h.is_public() => Ok(Self {
                registry,
                registry_id: None,
                region: super::public::REGION.to_owned(),
                fips: false,
                dual_stack: false,
                public: true,
            }),
            Some(h) => Ok(Self {
                registry,
                registry_id: h.account_id().map(str::to_owned),
                region: h.region().unwrap_or_default().to_owned(),
                fips: h.fips(),
                dual_stack: h.dual_stack(),
                public: false,
            }),
            None => match fallback_region.filter(|r| !r.trim().is_empty()) {
                Some(region) => Ok(Self {
                    registry,
                    registry_id: None,
                    region: region.to_owned(),
                    fips: false,
                    dual_stack: false,
                    public: false,
                }),
                None => Err(Error::unsupported(
                    registry,
                    "the host is not an ECR hostname, so the call would go to the entry's region, and the entry has none: set `region` on the entry",
                )),
            },
        }
    }
}

/// ECR `GetAuthorizationToken` for `target`, signed with `credentials`, over the settings of
/// `sdk` (endpoint, timeouts, retries, HTTP client): a building block for a provider of your
/// own. `caller` names who is calling in error messages (`role arn:aws:iam::…`).
///
/// The call goes to the target's region and endpoint variant, and sends its account id as
/// `registryIds`, so a cross-account pull gets that registry's proxy endpoint; for an ECR
/// Public target it goes to the `ecr-public` API in us-east-1. The decoded token is
/// `AWS:<password>`; the credential has username `AWS`.
///
/// # Errors
///
/// [`Error::Credentials`] or [`Error::Upstream`] with an [`AwsError`] as detail; nothing in them
/// comes from the reply's body but a checked error code and principal ARN.
pub async fn get_authorization_token(
    sdk: &SdkConfig,
    credentials: Credentials,
    target: &EcrTarget,
    caller: &str,
) -> Result<RegistryCredential, Error> {
    let key = credentials.access_key_id().to_owned();
    let caller = Caller {
        who: caller,
        access_key_id: &key,
    };
    ecr_token(
        sdk,
        SharedCredentialsProvider::new(credentials),
        target,
        &caller,
    )
    .await
}

pub(crate) async fn ecr_token(
    sdk: &SdkConfig,
    credentials: SharedCredentialsProvider,
    target: &EcrTarget,
    caller: &Caller<'_>,
) -> Result<RegistryCredential, Error> {
    if target.public {
        return super::public::ecr_public_token(sdk, credentials, target, caller).await;
    }
    let conf = aws_sdk_ecr::config::Builder::from(sdk)
        .region(Region::new(target.region.clone()))
        .credentials_provider(credentials)
        .use_fips(target.fips)
        .use_dual_stack(target.dual_stack)
        .build();
    let client = aws_sdk_ecr::Client::from_conf(conf);
    // `registryIds` is deprecated because it no longer narrows the token's permissions; it
    // still picks the registry whose proxy endpoint comes back, which is what cross-account
    // pulls need, so we keep sending it.
    #[allow(deprecated)]
    let send = client
        .get_authorization_token()
        .set_registry_ids(target.registry_id.clone().map(|id| vec![id]))
        .send();
    let endpoint = sdk
        .endpoint_url()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the ECR endpoint of {}", target.region));
    let out = super::without_sdk_trace(send).await.map_err(|e| {
        map_sdk_error(
            e,
            &Call {
                service: "ECR",
                operation: "GetAuthorizationToken",
                action: "ecr:GetAuthorizationToken",
                resource: "*",
                endpoint: &endpoint,
            },
            caller,
        )
    })?;
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| invalid("the reply held no authorizationData"))?;
    let token = data
        .authorization_token()
        .ok_or_else(|| invalid("the reply held no authorizationToken"))?;
    let password = decode_token(token)?;
    let expires_at = data
        .expires_at()
        .and_then(|t| from_unix_f64(t.as_secs_f64()))
        .ok_or_else(|| invalid("the reply held no usable expiresAt"))?;
    let server = data
        .proxy_endpoint()
        .filter(|s| looks_like_server(s))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{}", target.registry));
    tracing::debug!(registry = %target.registry, region = %target.region, server = %server, "got an ECR authorization token");
    Ok(RegistryCredential::new(
        "AWS",
        password,
        server,
        Some(expires_at),
    ))
}

pub(crate) fn invalid(detail: &str) -> Error {
    AwsError::Service {
        service: "ECR",
        operation: "GetAuthorizationToken",
        what: format!("the reply is not a usable token: {detail}"),
        status: Some(200),
        code: None,
        request_id: None,
    }
    .into()
}

/// `https://HOST[:PORT]` and nothing else: a proxy endpoint goes into messages and files.
fn looks_like_server(s: &str) -> bool {
    s.len() <= 300
        && s.strip_prefix("https://").is_some_and(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
}

/// The base64 token decodes to `AWS:<password>`; the password is what the registry checks.
pub(crate) fn decode_token(token: &str) -> Result<SecretString, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| invalid("the authorizationToken is not base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| invalid("the decoded authorizationToken is not UTF-8"))?;
    match text.split_once(':') {
        Some(("AWS", password)) if !password.is_empty() => Ok(SecretString::from(password)),
        Some(_) | None => Err(invalid(
            "the decoded authorizationToken is not of the form AWS:<password>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn token_decodes_to_password_and_errors_never_show_it() {
        let t = base64::engine::general_purpose::STANDARD.encode("AWS:pa:ss");
        assert_eq!(decode_token(&t).unwrap().expose_secret(), "pa:ss");
        let user = base64::engine::general_purpose::STANDARD.encode("user:hunter2");
        for bad in ["%%%", user.as_str(), ""] {
            let e = decode_token(bad).unwrap_err().to_string();
            assert!(!e.contains(bad) || bad.is_empty(), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn targets_come_from_the_host_with_the_entry_region_as_fallback() {
        let image = crate::ImageReference::parse(
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app",
        )
        .unwrap();
        let t = EcrTarget::resolve(&RegistryTarget::for_image(&image), Some("eu-west-1")).unwrap();
        assert_eq!(t.region, "us-gov-west-1");
        assert_eq!(t.registry_id.as_deref(), Some("123456789012"));
        assert!(t.fips && !t.dual_stack);

        let image = crate::ImageReference::parse("registry.example.com/app").unwrap();
        let t = EcrTarget::resolve(&RegistryTarget::for_image(&image), Some("eu-west-1")).unwrap();
        assert_eq!((t.region.as_str(), t.registry_id), ("eu-west-1", None));
        let e = EcrTarget::resolve(&RegistryTarget::for_image(&image), None).unwrap_err();
        assert!(e.to_string().contains("set `region`"), "{e}");

        let public = crate::ImageReference::parse("public.ecr.aws/x/y").unwrap();
        let t = EcrTarget::resolve(&RegistryTarget::for_image(&public), Some("eu-west-1")).unwrap();
        assert!(t.public);
        assert_eq!((t.region.as_str(), t.registry_id), ("us-east-1", None));
    }

    #[test]
    fn proxy_endpoints_must_look_like_servers() {
        assert!(looks_like_server(
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
        ));
        assert!(looks_like_server("https://localhost:5000"));
        assert!(!looks_like_server("http://x"));
        assert!(!looks_like_server("https://x/QVdTOnRva2Vu?"));
        assert!(!looks_like_server("https://"));
    }
}
