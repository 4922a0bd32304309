//! The ECR Public `GetAuthorizationToken` call: `public.ecr.aws` tokens, from us-east-1 only.
//!
//! ECR Public images pull anonymously too, but anonymous pulls are rate-limited by IP; an
//! authenticated pull counts against the account's much higher quota. The token comes from the
//! `ecr-public` API, which lives in us-east-1 whatever the caller's region, and needs
//! `ecr-public:GetAuthorizationToken` and `sts:GetServiceBearerToken`.

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

use super::ecr::{decode_token, invalid, EcrTarget};
use super::error::{map_sdk_error, Call, Caller};
use crate::time::from_unix_f64;
use crate::{Error, RegistryCredential};

/// The one region the ECR Public API answers in.
pub(crate) const REGION: &str = "us-east-1";

pub(crate) async fn ecr_public_token(
    sdk: &SdkConfig,
    credentials: SharedCredentialsProvider,
    target: &EcrTarget,
    caller: &Caller<'_>,
) -> Result<RegistryCredential, Error> {
    let conf = aws_sdk_ecrpublic::config::Builder::from(sdk)
        .region(Region::from_static(REGION))
        .credentials_provider(credentials)
        .build();
    let client = aws_sdk_ecrpublic::Client::from_conf(conf);
    let send = client.get_authorization_token().send();
    let endpoint = sdk
        .endpoint_url()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the ECR Public endpoint of {REGION}"));
    let out = super::without_sdk_trace(send).await.map_err(|e| {
        map_sdk_error(
            e,
            &Call {
                service: "ECR Public",
                operation: "GetAuthorizationToken",
                action: "ecr-public:GetAuthorizationToken",
                resource: "*",
                endpoint: &endpoint,
            },
            caller,
        )
    })?;
    let data = out
        .authorization_data()
        .ok_or_else(|| invalid("the reply held no authorizationData"))?;
    let token = data
        .authorization_token()
        .ok_or_else(|| invalid("the reply held no authorizationToken"))?;
    let password = decode_token(token)?;
    let expires_at = data
        .expires_at()
        .and_then(|t| from_unix_f64(t.as_secs_f64()))
        .ok_or_else(|| invalid("the reply held no usable expiresAt"))?;
    tracing::debug!(registry = %target.registry, "got an ECR Public authorization token");
    Ok(RegistryCredential::new(
        "AWS",
        password,
        format!("https://{}", target.registry),
        Some(expires_at),
    ))
}
