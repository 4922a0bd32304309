//! The AWS credential sources as a configuration file writes them, validated, and turned into
//! providers.

use std::sync::Arc;

use serde::Deserialize;

use super::{is_region, AwsOptions, IamUserProvider, InstanceRoleProvider};
use crate::config::{check_text, FieldError, SecretSource};
use crate::provider::CredentialProvider;

/// An IAM user's access key: `[registry.iam_user]`.
///
/// ```toml
/// [registry.iam_user]
/// access_key_id = "AKIAIOSFODNN7EXAMPLE"          # or { env = "..." } / { file = "..." }
/// secret_access_key = { env = "ECR_SECRET_ACCESS_KEY" }
/// region = "us-east-1"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IamUser {
    /// The access key id, e.g. `AKIAIOSFODNN7EXAMPLE`; not a secret (it is shown in errors), but
    /// it may come from the environment or a file like one.
    pub access_key_id: SecretSource,
    /// The secret access key.
    pub secret_access_key: SecretSource,
    /// The region of the registry, e.g. `us-east-1`: where calls for hosts that are not ECR
    /// hostnames go.
    pub region: String,
}

impl IamUser {
    /// An IAM user source from its parts.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: secrecy::SecretString,
        region: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: SecretSource::Inline(access_key_id.into().into()),
            secret_access_key: SecretSource::Inline(secret_access_key),
            region: region.into(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        if let SecretSource::Inline(id) = &self.access_key_id {
            check_access_key_id(secrecy::ExposeSecret::expose_secret(id))?;
        }
        check_region(&self.region)
    }

    pub(crate) fn secrets_mut(&mut self) -> Vec<&mut SecretSource> {
        vec![&mut self.access_key_id, &mut self.secret_access_key]
    }

    /// The provider, with the secrets read now; a field error names `access_key_id` or
    /// `secret_access_key`.
    pub(crate) fn provider(
        &self,
        options: &AwsOptions,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let access_key_id = self.access_key_id.read("access_key_id")?;
        let access_key_id = secrecy::ExposeSecret::expose_secret(&access_key_id).to_owned();
        check_access_key_id(&access_key_id)?;
        let secret = self.secret_access_key.read("secret_access_key")?;
        let provider = IamUserProvider::builder()
            .access_key_id(access_key_id)
            .secret_access_key(secret)
            .region(&self.region)
            .options(options.clone())
            .build()
            .map_err(|e| FieldError::new("", e.to_string()))?;
        Ok(Arc::new(provider))
    }
}

/// The worker's EC2 instance role, optionally with a dedicated role assumed on top:
/// `[registry.instance_role]`.
///
/// ```toml
/// [registry.instance_role]
/// role_name = "ValohaiWorkerRole"
/// region = "us-east-1"
/// assume_role_arn = "arn:aws:iam::123456789012:role/ecr-pull"   # optional
/// external_id = "team-a"                                        # optional, with assume_role_arn
/// session_name = "ci"                                           # optional, with assume_role_arn
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceRole {
    /// The role name the instance profile holds, e.g. `ValohaiWorkerRole`.
    pub role_name: String,
    /// The region of the registry.
    pub region: String,
    /// A dedicated role to assume through STS with the instance role's credentials.
    pub assume_role: Option<AssumeRole>,
}

/// The file shape of [`InstanceRole`]: the role to assume is written flat.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceRoleFile {
    role_name: String,
    region: String,
    assume_role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
}

impl<'de> Deserialize<'de> for InstanceRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let file = InstanceRoleFile::deserialize(d)?;
        let assume_role = match file.assume_role_arn {
            Some(role_arn) => Some(AssumeRole {
                role_arn,
                external_id: file.external_id,
                session_name: file.session_name,
            }),
            None => {
                let orphan = [
                    ("external_id", &file.external_id),
                    ("session_name", &file.session_name),
                ]
                .into_iter()
                .find(|(_, v)| v.is_some());
                if let Some((key, _)) = orphan {
                    return Err(serde::de::Error::custom(format!(
                        "field `{key}` only applies with assume_role_arn; add the role to assume, or remove this"
                    )));
                }
                None
            }
        };
        Ok(Self {
            role_name: file.role_name,
            region: file.region,
            assume_role,
        })
    }
}

impl InstanceRole {
    /// An instance-role source without a dedicated role.
    pub fn new(role_name: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            role_name: role_name.into(),
            region: region.into(),
            assume_role: None,
        }
    }

    /// Assume `assume_role` on top of the instance role's credentials.
    pub fn with_assume_role(mut self, assume_role: AssumeRole) -> Self {
        self.assume_role = Some(assume_role);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        check_text("role_name", &self.role_name)?;
        if self.role_name.contains(['/', ':']) {
            return Err(FieldError::new(
                "role_name",
                format!("{:?} looks like an ARN or path; give the role's name only (e.g. ValohaiWorkerRole), and a role to assume as assume_role_arn", self.role_name),
            ));
        }
        check_region(&self.region)?;
        if let Some(a) = &self.assume_role {
            a.validate("assume_role_arn")?;
        }
        Ok(())
    }

    pub(crate) fn provider(
        &self,
        options: &AwsOptions,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let mut builder = InstanceRoleProvider::builder(&self.role_name)
            .region(&self.region)
            .options(options.clone());
        if let Some(a) = &self.assume_role {
            builder = builder.assume_role(a.clone());
        }
        let provider = builder
            .build()
            .map_err(|e| FieldError::new("", e.to_string()))?;
        Ok(Arc::new(provider))
    }
}

/// A dedicated role assumed through STS `AssumeRole`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssumeRole {
    /// The role's ARN.
    pub role_arn: String,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// The session name (shows in CloudTrail); `registry-auth` when unset.
    pub session_name: Option<String>,
}

impl AssumeRole {
    /// A role to assume, without external id or session name.
    pub fn new(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            external_id: None,
            session_name: None,
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

    /// `arn_field` names the ARN's field in errors.
    fn validate(&self, arn_field: &str) -> Result<(), FieldError> {
        if !is_role_arn(&self.role_arn) {
            return Err(FieldError::new(
                arn_field,
                format!(
                    "{:?} is not an IAM role ARN; write arn:aws:iam::ACCOUNT:role/NAME",
                    self.role_arn
                ),
            ));
        }
        if let Some(id) = &self.external_id {
            check_text("external_id", id)?;
        }
        if let Some(name) = &self.session_name {
            check_text("session_name", name)?;
        }
        Ok(())
    }
}

/// Letters and digits only, as every AWS access key id is.
fn check_access_key_id(id: &str) -> Result<(), FieldError> {
    check_text("access_key_id", id)?;
    if id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(FieldError::new(
            "access_key_id",
            "holds characters an AWS access key id never has (letters and digits only, e.g. AKIAIOSFODNN7EXAMPLE)",
        ))
    }
}

fn check_region(region: &str) -> Result<(), FieldError> {
    check_text("region", region)?;
    if is_region(region) {
        Ok(())
    } else {
        Err(FieldError::new(
            "region",
            format!("{region:?} is not an AWS region; write one like us-east-1"),
        ))
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`
fn is_role_arn(arn: &str) -> bool {
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
            .is_some_and(|n| !n.is_empty())
}
