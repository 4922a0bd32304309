//! What both AWS providers share: SDK settings, the ECR `GetAuthorizationToken` call, and the
//! mapping of AWS errors to errors a user can act on.

use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::config::Credentials;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;
use secrecy::SecretString;

use super::EcrTarget;
use crate::{Error, RegistryCredential};

/// SDK settings shared by the AWS providers: endpoint override, timeouts, retries.
///
/// The defaults bound every call: 3 s to connect, 10 s per attempt, 30 s per operation, and the
/// SDK's standard retry mode (which backs off on throttling) with 3 attempts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwsOptions {
    /// Send every AWS call here (an emulator, a VPC endpoint). `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL_STS` are honoured when this is unset.
    pub endpoint_url: Option<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of a call.
    pub attempt_timeout: Duration,
    /// Time allowed for a call, retries included.
    pub operation_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 3,
        }
    }
}

impl AwsOptions {
    /// Sends every AWS call to `url`.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets the connect, per-attempt and per-operation timeouts.
    pub fn with_timeouts(
        mut self,
        connect: Duration,
        attempt: Duration,
        operation: Duration,
    ) -> Self {
        self.connect_timeout = connect;
        self.attempt_timeout = attempt;
        self.operation_timeout = operation;
        self
    }

    /// Sets the attempts per call (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// An `SdkConfig` with these settings, the given region and static credentials.
    ///
    /// Loading reads the environment and profile files (for `AWS_ENDPOINT_URL*`), but with region
    /// and credentials given it never probes IMDS.
    pub(crate) async fn sdk_config(&self, region: &str, credentials: Credentials) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }
}

/// Who is calling, for error messages.
pub(crate) struct Caller<'a> {
    /// An access key id, or `instance role NAME`.
    pub(crate) who: &'a str,
    /// The access key id in use, for signature and unknown-key errors.
    pub(crate) access_key_id: &'a str,
}

/// ECR `GetAuthorizationToken` for `target` with `credentials`.
pub(crate) async fn ecr_token(
    options: &AwsOptions,
    credentials: Credentials,
    target: &EcrTarget,
    caller: &Caller<'_>,
) -> Result<RegistryCredential, Error> {
    if target.public {
        return Err(Error::Unsupported(format!(
            "{} is ECR Public: its images pull without credentials, and its tokens come from the separate ecr-public API, which the AWS providers do not call; remove the entry or narrow its pattern to private registries",
            target.registry
        )));
    }
    if target.region.trim().is_empty() {
        // Only an embedder's own entry can get here (configuration files require a region):
        // the image's host is not an ECR hostname, so the entry's region is the only source.
        return Err(Error::MissingRegion {
            context: format!(
                "{} (its host is not an ECR hostname, so the call goes to the entry's region, and the entry has none)",
                target.registry
            ),
        });
    }
    let sdk = options.sdk_config(&target.region, credentials).await;
    let conf = aws_sdk_ecr::config::Builder::from(&sdk)
        .use_fips(target.fips)
        .use_dual_stack(target.dual_stack)
        .build();
    let client = aws_sdk_ecr::Client::from_conf(conf);
    // `registryIds` is deprecated because it no longer narrows the token's permissions; it
    // still picks the registry whose proxy endpoint comes back, which is what cross-account
    // pulls need (DESIGN.md), so we keep sending it.
    #[allow(deprecated)]
    let send = client
        .get_authorization_token()
        .set_registry_ids(target.registry_id.clone().map(|id| vec![id]))
        .send();
    let out = super::quiet::without_sdk_trace(send).await.map_err(|e| {
        map_sdk_error(
            e,
            &Call {
                service: "ECR",
                operation: "GetAuthorizationToken",
                action: "ecr:GetAuthorizationToken",
                resource: "*",
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
        .and_then(|t| SystemTime::try_from(*t).ok())
        .ok_or_else(|| invalid("the reply held no usable expiresAt"))?;
    let server = data
        .proxy_endpoint()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{}", target.registry));
    tracing::debug!(registry = %target.registry, region = %target.region, server = %server, "got an ECR authorization token");
    Ok(RegistryCredential::new("AWS", password, server, expires_at))
}

fn invalid(detail: &str) -> Error {
    Error::InvalidToken {
        service: "ECR",
        detail: detail.to_owned(),
    }
}

/// The base64 token decodes to `AWS:<password>`; the password is what the registry checks.
fn decode_token(token: &str) -> Result<SecretString, Error> {
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

/// What was called, for error messages.
pub(crate) struct Call<'a> {
    pub(crate) service: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) action: &'static str,
    pub(crate) resource: &'a str,
}

/// Maps an SDK error to an [`Error`] a user can act on.
///
/// By code where AWS sent one, and by HTTP status and body as well: the moto emulator answers ECR
/// denials with HTTP 403 and an XML body that the JSON protocol parser reads no code from.
pub(crate) fn map_sdk_error<E>(
    err: SdkError<E, HttpResponse>,
    call: &Call<'_>,
    caller: &Caller<'_>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (mut code, mut message) = match err.as_service_error() {
        Some(e) => (e.code().map(str::to_owned), e.message().map(str::to_owned)),
        None => (None, None),
    };
    let status = err.raw_response().map(|r| r.status().as_u16());
    if let Some(body) = err.raw_response().and_then(|r| r.body().bytes()) {
        let body = String::from_utf8_lossy(body);
        if code.is_none() || code.as_deref() == Some("Unknown") {
            code = xml_tag(&body, "Code");
        }
        if message.is_none() {
            message = xml_tag(&body, "Message");
        }
    }
    let message_text = message.clone().unwrap_or_default();
    match code.as_deref() {
        Some("SignatureDoesNotMatch") => {
            return Error::WrongSecretKey {
                access_key_id: caller.access_key_id.to_owned(),
            }
        }
        Some("InvalidClientTokenId") | Some("UnrecognizedClientException") => {
            return Error::UnknownAccessKey {
                access_key_id: caller.access_key_id.to_owned(),
            }
        }
        _ => {}
    }
    let denied = matches!(
        code.as_deref(),
        Some("AccessDenied") | Some("AccessDeniedException") | Some("AuthorizationError")
    ) || (status == Some(403) && message_text.contains("not authorized"));
    if denied {
        return Error::AccessDenied {
            principal: principal_from(&message_text).unwrap_or_else(|| caller.who.to_owned()),
            action: call.action.to_owned(),
            statement: statement_for(call.action, call.resource),
        };
    }
    let message = match (&err, message) {
        (_, Some(m)) => m,
        (SdkError::TimeoutError(_), None) => {
            "no reply within the configured timeout; check the network path to AWS (or the endpoint URL)".to_owned()
        }
        (SdkError::DispatchFailure(_), None) => format!(
            "could not reach the service: {}; check the network path to AWS (or the endpoint URL)",
            aws_sdk_ecr::error::DisplayErrorContext(&err)
        ),
        (_, None) => format!(
            "{}{}",
            status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(),
            aws_sdk_ecr::error::DisplayErrorContext(&err)
        ),
    };
    Error::Upstream {
        service: call.service,
        operation: call.operation,
        code,
        message,
    }
}

/// `User: arn:aws:iam::1:user/x is not authorized to perform: …` → `arn:aws:iam::1:user/x`.
fn principal_from(message: &str) -> Option<String> {
    let rest = message.split("User: ").nth(1)?;
    let end = rest.find(" is not authorized")?;
    Some(rest[..end].to_owned())
}

/// The IAM policy statement that grants `action` on `resource`.
pub(crate) fn statement_for(action: &str, resource: &str) -> String {
    let statement = serde_json::json!({
        "Effect": "Allow",
        "Action": action,
        "Resource": resource,
    });
    serde_json::to_string_pretty(&statement).unwrap_or_default()
}

/// The text of the first `<tag>…</tag>` in an XML error body.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{tag}>"))?;
    Some(body[start..start + len].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn token_decodes_to_password() {
        let t = base64::engine::general_purpose::STANDARD.encode("AWS:pa:ss");
        assert_eq!(decode_token(&t).unwrap().expose_secret(), "pa:ss");
        for bad in [
            "%%%",
            &base64::engine::general_purpose::STANDARD.encode("user:x"),
        ] {
            let e = decode_token(bad).unwrap_err().to_string();
            assert!(!e.contains(bad), "{e}");
        }
    }

    #[test]
    fn principal_and_xml() {
        let m = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken";
        assert_eq!(
            principal_from(m).as_deref(),
            Some("arn:aws:iam::123456789012:user/ci")
        );
        let body = "<ErrorResponse><Error><Code>AccessDenied</Code><Message> no </Message></Error></ErrorResponse>";
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_tag(body, "Message").as_deref(), Some("no"));
        assert_eq!(xml_tag(body, "Missing"), None);
    }
}
