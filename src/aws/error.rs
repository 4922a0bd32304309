//! AWS failures in words a user can act on, built only from what cannot hold a secret.
//!
//! An SDK error's `Debug` and `Display` can carry the raw reply: the base64 ECR token in a 200
//! that failed to parse, the `SecretAccessKey` and `SessionToken` of an STS or IMDS answer, a
//! 500's HTML body. So nothing here formats an SDK error. An [`AwsError`] holds the operation,
//! the HTTP status, the AWS error code and the request id (each checked to look like one), the
//! principal AWS named (checked to look like an ARN), and words of our own.

use std::error::Error as StdError;

use aws_config::imds::client::error::ImdsError;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::operation::RequestId;
use aws_smithy_runtime_api::client::result::ConnectorError;

use crate::Error;

/// What went wrong in a call to AWS. Reached through [`Error::detail`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// The principal is not allowed to perform an action it needs.
    #[error("{principal} is not allowed to perform {action}; grant it with this policy statement:\n{statement}")]
    AccessDenied {
        /// The principal AWS named (an ARN), or who we called as when AWS named none.
        principal: String,
        /// The IAM action, e.g. `ecr:GetAuthorizationToken`.
        action: String,
        /// A JSON policy statement that grants the action.
        statement: String,
    },
    /// AWS rejected the request signature: the secret access key does not belong to the key id.
    #[error("the secret access key configured for access key id {access_key_id} is wrong (AWS answered SignatureDoesNotMatch): copy the secret that was shown when this access key was created, or create a new access key")]
    WrongSecretKey {
        /// The access key id whose secret is wrong.
        access_key_id: String,
    },
    /// AWS does not know the access key id, or it was deactivated.
    #[error("AWS does not know access key id {access_key_id}, or it is inactive (InvalidClientTokenId): check the key id in the IAM console, or create a new access key")]
    UnknownAccessKey {
        /// The access key id AWS rejected.
        access_key_id: String,
    },
    /// The instance metadata service did not give credentials for the role.
    #[error("could not get credentials for instance role {role} from the instance metadata service at {endpoint}: {detail}. This works only on an EC2 instance (or with AWS_EC2_METADATA_SERVICE_ENDPOINT set) whose instance profile holds that role")]
    Imds {
        /// The role name the entry names.
        role: String,
        /// The IMDS endpoint that was asked.
        endpoint: String,
        /// What went wrong, in our words.
        detail: String,
    },
    /// A credentials source (the standard chain, a web identity token, an embedder's
    /// credentials provider) gave no credentials.
    #[error("could not get AWS credentials from {origin}: {detail}")]
    NoCredentials {
        /// The source, e.g. `the standard AWS chain (profile dev)`.
        origin: String,
        /// What went wrong, in our words, with the fix where one is known.
        detail: String,
        /// Whether trying again later may help.
        retryable: bool,
    },
    /// A call failed in a way not covered above.
    #[error("{service} {operation} failed: {what}{}", call_facts(*status, code.as_deref(), request_id.as_deref()))]
    Service {
        /// `ECR`, `STS`, ...
        service: &'static str,
        /// The operation, e.g. `GetAuthorizationToken`.
        operation: &'static str,
        /// What happened, in our words, with the fix where one is known.
        what: String,
        /// The HTTP status, when there was a reply.
        status: Option<u16>,
        /// The AWS error code, when the reply had one.
        code: Option<String>,
        /// The request id, when the reply had one.
        request_id: Option<String>,
    },
}

impl AwsError {
    /// Whether the error is about the credentials (fix them) rather than the service (retry).
    fn is_credentials(&self) -> bool {
        match self {
            AwsError::AccessDenied { .. }
            | AwsError::WrongSecretKey { .. }
            | AwsError::UnknownAccessKey { .. } => true,
            AwsError::Service { code, .. } => matches!(
                code.as_deref(),
                Some("ExpiredToken" | "ExpiredTokenException" | "InvalidIdentityToken")
            ),
            AwsError::NoCredentials { retryable, .. } => !retryable,
            AwsError::Imds { .. } => false,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            AwsError::Imds { .. } => true,
            AwsError::NoCredentials { retryable, .. } => *retryable,
            AwsError::Service { status, code, .. } => {
                status.is_none_or(|s| s >= 500 || s == 429)
                    || matches!(
                        code.as_deref(),
                        Some(
                            "Throttling"
                                | "ThrottlingException"
                                | "TooManyRequestsException"
                                | "RequestLimitExceeded"
                        )
                    )
            }
            _ => false,
        }
    }
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        if e.is_credentials() {
            Error::credentials(e)
        } else {
            let retryable = e.is_retryable();
            Error::upstream(e, retryable)
        }
    }
}

/// ` (HTTP 500, code InternalFailure, request id 1234-abcd)`, or nothing.
fn call_facts(status: Option<u16>, code: Option<&str>, request_id: Option<&str>) -> String {
    let facts: Vec<String> = [
        status.map(|s| format!("HTTP {s}")),
        code.map(|c| format!("code {c}")),
        request_id.map(|r| format!("request id {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join(", "))
    }
}

/// What was called, for error messages.
pub(crate) struct Call<'a> {
    pub(crate) service: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) action: &'static str,
    pub(crate) resource: &'a str,
    /// Where the call went, for "could not reach" messages.
    pub(crate) endpoint: &'a str,
}

/// Who is calling, for error messages.
pub(crate) struct Caller<'a> {
    /// An access key id, or `instance role NAME`.
    pub(crate) who: &'a str,
    /// The access key id in use, for signature and unknown-key errors.
    pub(crate) access_key_id: &'a str,
}

/// Maps an SDK error to an [`Error`] a user can act on, without formatting the SDK error.
///
/// By code where AWS sent one, and by HTTP status and XML body as well: the moto emulator
/// answers ECR denials with HTTP 403 and an XML body that the JSON protocol parser reads no
/// code from. From a body only an error code and a principal ARN are taken, each checked.
pub(crate) fn map_sdk_error<E>(
    err: SdkError<E, HttpResponse>,
    call: &Call<'_>,
    caller: &Caller<'_>,
) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
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
    let code = code.filter(|c| looks_like_code(c));
    let request_id = request_id(&err);
    let message = message.unwrap_or_default();
    match code.as_deref() {
        Some("SignatureDoesNotMatch" | "InvalidSignatureException") => {
            return AwsError::WrongSecretKey {
                access_key_id: caller.access_key_id.to_owned(),
            }
            .into()
        }
        Some("InvalidClientTokenId" | "UnrecognizedClientException") => {
            return AwsError::UnknownAccessKey {
                access_key_id: caller.access_key_id.to_owned(),
            }
            .into()
        }
        _ => {}
    }
    let denied = matches!(
        code.as_deref(),
        Some("AccessDenied" | "AccessDeniedException" | "AuthorizationError")
    ) || (status == Some(403) && message.contains("not authorized"));
    if denied {
        return AwsError::AccessDenied {
            principal: principal_from(&message).unwrap_or_else(|| caller.who.to_owned()),
            action: call.action.to_owned(),
            statement: statement_for(call.action, call.resource),
        }
        .into();
    }
    let what = match &err {
        SdkError::TimeoutError(_) => format!(
            "no reply from {} within the configured timeout; check the network path to AWS (or the endpoint URL)",
            call.endpoint
        ),
        SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
            Some(c) => unreachable(call.endpoint, c),
            None => format!("could not send the request to {}", call.endpoint),
        },
        SdkError::ConstructionFailure(_) => {
            "the request could not be built; check the region and the endpoint URL".to_owned()
        }
        SdkError::ResponseError(_) => format!(
            "the reply from {} could not be read; if this persists, check that the endpoint URL is an AWS endpoint",
            call.endpoint
        ),
        _ => match status {
            Some(200..=299) => format!(
                "the reply from {} could not be read; if this persists, check that the endpoint URL is an AWS endpoint",
                call.endpoint
            ),
            Some(s) if s >= 500 => "the service failed; try again later".to_owned(),
            Some(429) => "the service is throttling requests; try again later".to_owned(),
            _ => "the service refused the request".to_owned(),
        },
    };
    AwsError::Service {
        service: call.service,
        operation: call.operation,
        what,
        status,
        code,
        request_id,
    }
    .into()
}

/// Why a connection did not carry the call, from the kind of connector error only: its text
/// is not ours and is not shown.
fn unreachable(endpoint: &str, c: &ConnectorError) -> String {
    let how = if c.is_timeout() {
        "the connection timed out"
    } else if c.is_io() {
        "the connection failed"
    } else {
        "the connection was refused or broken"
    };
    format!(
        "could not reach {endpoint}: {how}; check the network path to AWS (or the endpoint URL)"
    )
}

/// The request id the reply carried, if it looks like one.
fn request_id<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    SdkError<E, R>: RequestId,
{
    err.request_id()
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
}

/// An AWS error code: letters, digits and `.:_-`, at most 64 of them.
fn looks_like_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// `User: arn:aws:iam::1:user/x is not authorized to perform: …` → `arn:aws:iam::1:user/x`,
/// only if it looks like an IAM or STS ARN.
fn principal_from(message: &str) -> Option<String> {
    let rest = message.split("User: ").nth(1)?;
    let end = rest.find(" is not authorized")?;
    let arn = &rest[..end];
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = arn.len() <= 512
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && matches!(parts[2], "iam" | "sts")
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_/-:".contains(&b));
    ok.then(|| arn.to_owned())
}

/// The IAM policy statement that grants `action` on `resource`.
pub(crate) fn statement_for(action: &str, resource: &str) -> String {
    // An ECR Public token is an STS bearer token underneath: both are needed.
    let action = if action == "ecr-public:GetAuthorizationToken" {
        serde_json::json!([action, "sts:GetServiceBearerToken"])
    } else {
        serde_json::json!(action)
    };
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

/// What an IMDS credentials failure was, from the error types in its chain: never their text.
pub(crate) fn imds_detail(err: &(dyn StdError + 'static)) -> String {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(imds) = e.downcast_ref::<ImdsError>() {
            return match imds {
                ImdsError::ErrorResponse(r) => match r.response().status().as_u16() {
                    404 => "HTTP 404: the instance profile holds no role of that name".to_owned(),
                    s => format!("HTTP {s}"),
                },
                ImdsError::FailedToLoadToken(t) if t.is_dispatch_failure() => {
                    "the IMDSv2 token request could not be sent (no metadata service there?)"
                        .to_owned()
                }
                ImdsError::FailedToLoadToken(_) => {
                    "the IMDSv2 token request failed (is IMDSv2 enabled, and the hop limit high enough?)".to_owned()
                }
                ImdsError::IoError(_) => "the connection failed or timed out".to_owned(),
                _ => "the reply was not usable".to_owned(),
            };
        }
        if let Some(c) = e.downcast_ref::<ConnectorError>() {
            return if c.is_timeout() {
                "the connection timed out".to_owned()
            } else {
                "the connection failed".to_owned()
            };
        }
        next = e.source();
    }
    "the reply was not valid credentials".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_and_codes_are_taken_only_when_they_look_right() {
        let m = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken";
        assert_eq!(
            principal_from(m).as_deref(),
            Some("arn:aws:iam::123456789012:user/ci")
        );
        let sts =
            "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: x";
        assert!(principal_from(sts).is_some());
        for bad in [
            "User: c2VjcmV0LXRva2Vu is not authorized",
            "User: arn:aws:iam::12:user/x is not authorized",
            "User: arn:aws:iam::123456789012:user/<script> is not authorized",
            "no user here",
        ] {
            assert_eq!(principal_from(bad), None, "{bad}");
        }
        assert!(looks_like_code("AccessDeniedException"));
        assert!(!looks_like_code("QVdTOnNlY3JldA== with spaces"));
        assert!(!looks_like_code(&"A".repeat(65)));
        let body = "<ErrorResponse><Error><Code>AccessDenied</Code><Message> no </Message></Error></ErrorResponse>";
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_tag(body, "Message").as_deref(), Some("no"));
        assert_eq!(xml_tag(body, "Missing"), None);
    }

    #[test]
    fn kinds_follow_what_the_caller_does() {
        let service = |status, code: Option<&str>| AwsError::Service {
            service: "ECR",
            operation: "GetAuthorizationToken",
            what: "x".into(),
            status,
            code: code.map(str::to_owned),
            request_id: None,
        };
        let e: Error = service(Some(500), None).into();
        assert!(e.is_retryable());
        let e: Error = service(Some(400), Some("ThrottlingException")).into();
        assert!(e.is_retryable());
        let e: Error = service(Some(400), Some("ValidationException")).into();
        assert_eq!(e.kind(), crate::ErrorKind::Upstream);
        assert!(!e.is_retryable());
        let e: Error = AwsError::WrongSecretKey {
            access_key_id: "AKIA".into(),
        }
        .into();
        assert_eq!(e.kind(), crate::ErrorKind::Credentials);
        assert_eq!(
            service(Some(500), Some("InternalFailure")).to_string(),
            "ECR GetAuthorizationToken failed: x (HTTP 500, code InternalFailure)"
        );
    }
}
