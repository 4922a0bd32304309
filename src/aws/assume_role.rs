//! A role assumed through STS `AssumeRole` on top of any other source's credentials, as
//! aws-config's `AssumeRoleProvider` wraps a base provider.
//!
//! Every AWS source table takes one (`[registry.iam_user.assume_role]`,
//! `[registry.aws_chain.assume_role]`, ...). The layer's cache identity is the base's (its
//! secrets still only as keyed hashes) plus the role and the external id, so two entries share
//! a token only if the same principal assumes the same role the same way.

use async_trait::async_trait;
use aws_config::Region;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use serde::Deserialize;

use super::credentials::{AwsCredentials, CallFor, Signed};
use super::error::{map_sdk_error, Call, Caller};
use super::AwsError;
use crate::config::{check_text, FieldError};
use crate::provider::{CacheIdentity, RequestAttributes};
use crate::time::from_unix_f64;
use crate::Error;

/// The shortest and longest session STS grants.
const DURATIONS: std::ops::RangeInclusive<u32> = 900..=43_200;

/// A dedicated role assumed through STS `AssumeRole`: `[registry.SOURCE.assume_role]`.
///
/// ```toml
/// [registry.iam_user.assume_role]
/// role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
/// external_id = "team-a"          # optional
/// session_name = "ci"             # optional, default registry-auth
/// duration_seconds = 3600         # optional, 900 to 43200; STS's default (1 hour) otherwise
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AssumeRole {
    /// The role's ARN.
    pub role_arn: String,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// The session name (shows in CloudTrail); `registry-auth` when unset.
    pub session_name: Option<String>,
    /// How long the role's session lasts, in seconds (900 to 43200); STS's default when unset.
    pub duration_seconds: Option<u32>,
}

impl AssumeRole {
    /// A role to assume, without external id or session name.
    pub fn new(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            external_id: None,
            session_name: None,
            duration_seconds: None,
        }
    }

    /// Send this external id with `AssumeRole`.
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Use this session name instead of `registry-auth`.
    pub fn with_session_name(mut self, session_name: impl Into<String>) -> Self {
        self.session_name = Some(session_name.into());
        self
    }

    /// Ask for a session of this many seconds (900 to 43200).
    pub fn with_duration_seconds(mut self, seconds: u32) -> Self {
        self.duration_seconds = Some(seconds);
        self
    }

    /// `arn_field` names the ARN's field in errors (`role_arn`, or the instance role's flat
    /// `assume_role_arn`).
    pub(crate) fn validate(&self, arn_field: &str) -> Result<(), FieldError> {
        check_role_arn(arn_field, &self.role_arn)?;
        if let Some(id) = &self.external_id {
            check_text("external_id", id)?;
        }
        if let Some(name) = &self.session_name {
            check_session_name("session_name", name)?;
        }
        if let Some(d) = self.duration_seconds {
            if !DURATIONS.contains(&d) {
                return Err(FieldError::new(
                    "duration_seconds",
                    format!("{d} is outside what STS grants: give 900 to 43200 seconds"),
                ));
            }
        }
        Ok(())
    }
}

/// An IAM role ARN, `arn:PARTITION:iam::ACCOUNT:role/NAME`, or an error naming `field`.
pub(crate) fn check_role_arn(field: &str, arn: &str) -> Result<(), FieldError> {
    if is_role_arn(arn) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{:?} is not an IAM role ARN; write arn:aws:iam::ACCOUNT:role/NAME",
                crate::error::cut(arn, 200)
            ),
        ))
    }
}

/// What STS takes as a session name: 2 to 64 of `[\w+=,.@-]`.
pub(crate) fn check_session_name(field: &str, name: &str) -> Result<(), FieldError> {
    check_text(field, name)?;
    let ok = (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be 2 to 64 letters, digits or +=,.@_- (what STS accepts as a session name)",
        ))
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`
pub(crate) fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty() && n.len() <= 512 && !n.contains(char::is_whitespace))
}

/// A role assumed with another source's credentials.
#[derive(Debug)]
pub(crate) struct AssumeRoleLayer {
    base: Box<dyn AwsCredentials>,
    role: AssumeRole,
    /// Where STS calls go, for the identity.
    sts: String,
}

impl AssumeRoleLayer {
    /// `base` with `role` on top, when there is one.
    pub(crate) fn over(
        base: Box<dyn AwsCredentials>,
        role: Option<AssumeRole>,
        sts: String,
    ) -> Box<dyn AwsCredentials> {
        match role {
            None => base,
            Some(role) => Box::new(Self { base, role, sts }),
        }
    }
}

#[async_trait]
impl AwsCredentials for AssumeRoleLayer {
    async fn credentials(&self, call: &CallFor<'_>) -> Result<Signed, Error> {
        let base = self.base.credentials(call).await?;
        let caller_key = base.credentials.access_key_id().to_owned();
        let sdk = call.sdk.get().await;
        let conf = aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::new(call.region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(base.credentials))
            .build();
        let sts = aws_sdk_sts::Client::from_conf(conf);
        let role = &self.role;
        let send = sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(role.session_name.as_deref().unwrap_or("registry-auth"))
            .set_external_id(role.external_id.clone())
            .set_duration_seconds(role.duration_seconds.and_then(|d| i32::try_from(d).ok()))
            .send();
        let endpoint = call.sdk.endpoint_for("STS");
        let out = super::without_sdk_trace(send).await.map_err(|e| {
            map_sdk_error(
                e,
                &Call {
                    service: "STS",
                    operation: "AssumeRole",
                    action: "sts:AssumeRole",
                    resource: &role.role_arn,
                    endpoint: &endpoint,
                },
                &Caller {
                    who: &base.who,
                    access_key_id: &caller_key,
                },
            )
        })?;
        let credentials = sts_credentials(out.credentials(), "AssumeRole", &role.role_arn)?;
        Ok(Signed {
            credentials,
            who: format!("role {} (assumed by {})", role.role_arn, base.who),
        })
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("assume-role")
            .with("role", &self.role.role_arn)
            .with(
                "external-id",
                self.role.external_id.as_deref().unwrap_or("-"),
            )
            .with("sts", &self.sts)
            .with_base("base", &self.base.identity())
    }

    fn request_identity(&self, request: &RequestAttributes) -> Option<CacheIdentity> {
        self.base.request_identity(request)
    }

    async fn default_region(&self) -> Option<String> {
        self.base.default_region().await
    }
}

/// The credentials of an STS reply, or an error saying the reply held none.
pub(crate) fn sts_credentials(
    c: Option<&aws_sdk_sts::types::Credentials>,
    operation: &'static str,
    role_arn: &str,
) -> Result<Credentials, Error> {
    let c = c.ok_or_else(|| {
        Error::from(AwsError::Service {
            service: "STS",
            operation,
            what: format!("the reply for {role_arn} held no credentials"),
            status: Some(200),
            code: None,
            request_id: None,
        })
    })?;
    let expiry = from_unix_f64(c.expiration().as_secs_f64());
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        expiry,
        "registry-auth-assumed-role",
    ))
}
