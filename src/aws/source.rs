//! The IAM-user and instance-role sources as a configuration file writes them, validated, and
//! turned into providers. (The standard chain's and the web identity's schemas live with their
//! providers.)

use std::sync::Arc;

use serde::Deserialize;

use super::sdk::SharedSdk;
use super::{is_region, AssumeRole, AwsOptions, IamUserProvider, InstanceRoleProvider};
use crate::config::{check_text, FieldError, SecretSource};
use crate::provider::CredentialProvider;

/// An IAM user's access key: `[registry.iam_user]`.
///
/// ```toml
/// [registry.iam_user]
/// access_key_id = "AKIAIOSFODNN7EXAMPLE"          # or { env = "..." } / { file = "..." }
/// secret_access_key = { env = "ECR_SECRET_ACCESS_KEY" }
/// session_token = { env = "AWS_SESSION_TOKEN" }   # optional, for a temporary key
/// region = "us-east-1"
///
/// [registry.iam_user.assume_role]                 # optional: pull as this role
/// role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
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
    /// The session token of a temporary key (`ASIA…`).
    pub session_token: Option<SecretSource>,
    /// The region of the registry, e.g. `us-east-1`: where calls for hosts that are not ECR
    /// hostnames go.
    pub region: String,
    /// A role to assume with the key.
    pub assume_role: Option<AssumeRole>,
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
            session_token: None,
            region: region.into(),
            assume_role: None,
        }
    }

    /// With the session token of a temporary key.
    pub fn with_session_token(mut self, token: secrecy::SecretString) -> Self {
        self.session_token = Some(SecretSource::Inline(token));
        self
    }

    /// Assume `role` with the key.
    pub fn with_assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        if let SecretSource::Inline(id) = &self.access_key_id {
            check_access_key_id(secrecy::ExposeSecret::expose_secret(id))?;
        }
        check_region(&self.region)?;
        if let Some(a) = &self.assume_role {
            a.validate("role_arn")
                .map_err(|e| e.within("assume_role"))?;
        }
        Ok(())
    }

    pub(crate) fn secrets_mut(&mut self) -> Vec<&mut SecretSource> {
        let mut secrets = vec![&mut self.access_key_id, &mut self.secret_access_key];
        if let Some(token) = &mut self.session_token {
            secrets.push(token);
        }
        secrets
    }

    /// The provider, with the secrets read now; a field error names `access_key_id` or
    /// `secret_access_key`.
    pub(crate) fn provider(
        &self,
        options: &AwsOptions,
        sdk: Option<&SharedSdk>,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let access_key_id = self.access_key_id.read("access_key_id")?;
        let access_key_id = secrecy::ExposeSecret::expose_secret(&access_key_id).to_owned();
        check_access_key_id(&access_key_id)?;
        let secret = self.secret_access_key.read("secret_access_key")?;
        let mut builder = IamUserProvider::builder()
            .access_key_id(access_key_id)
            .secret_access_key(secret)
            .region(&self.region)
            .options(options.clone());
        if let Some(token) = &self.session_token {
            builder = builder.session_token(token.read("session_token")?);
        }
        if let Some(a) = &self.assume_role {
            builder = builder.assume_role(a.clone());
        }
        if let Some(sdk) = sdk {
            builder = builder.sdk_config(sdk.config.clone());
        }
        let provider = builder
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
///
/// or, as in every other AWS source, the role to assume as a table (not both):
///
/// ```toml
/// [registry.instance_role.assume_role]
/// role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
/// duration_seconds = 900
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
    /// Whether the file wrote the role as an `assume_role` table (errors name its fields so).
    table_form: bool,
}

/// The file shape of [`InstanceRole`]: the role to assume is written flat, or as an `assume_role`
/// table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceRoleFile {
    role_name: String,
    region: String,
    assume_role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    assume_role: Option<AssumeRole>,
}

impl<'de> Deserialize<'de> for InstanceRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let file = InstanceRoleFile::deserialize(d)?;
        let flat = file.assume_role_arn.is_some()
            || file.external_id.is_some()
            || file.session_name.is_some();
        if file.assume_role.is_some() && flat {
            return Err(serde::de::Error::custom(
                "field `assume_role` names a role to assume, and so do assume_role_arn, external_id or session_name; keep one of the two forms",
            ));
        }
        let assume_role = match file.assume_role_arn {
            Some(role_arn) => {
                let mut role = AssumeRole::new(role_arn);
                role.external_id = file.external_id;
                role.session_name = file.session_name;
                Some(role)
            }
            None if file.assume_role.is_some() => file.assume_role,
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
            table_form: !flat && assume_role.is_some(),
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
            table_form: false,
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
        match &self.assume_role {
            Some(a) if self.table_form => a
                .validate("role_arn")
                .map_err(|e| e.within("assume_role"))?,
            Some(a) => a.validate("assume_role_arn")?,
            None => {}
        }
        Ok(())
    }

    pub(crate) fn provider(
        &self,
        options: &AwsOptions,
        sdk: Option<&SharedSdk>,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let mut builder = InstanceRoleProvider::builder(&self.role_name)
            .region(&self.region)
            .options(options.clone());
        if let Some(a) = &self.assume_role {
            builder = builder.assume_role(a.clone());
        }
        if let Some(sdk) = sdk {
            builder = builder.sdk_config(sdk.config.clone());
        }
        let provider = builder
            .build()
            .map_err(|e| FieldError::new("", e.to_string()))?;
        Ok(Arc::new(provider))
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

pub(crate) fn check_region(region: &str) -> Result<(), FieldError> {
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
