//! The live pull check of the AWS providers: ECR's `BatchGetImage` for the image's digest or
//! tag, signed with the entry's AWS credentials, in the region and registry the host names.
//!
//! `BatchGetImage` is the read a pull performs for the manifest, so a principal that passes it
//! holds the permission docker will need. ECR's answer says more than the registry's `401`/`404`
//! could: a missing permission names the principal, the action and the repository, and the
//! sentence carries the statement `registry-auth policy` would add for the repository; a
//! missing repository and a missing tag are told apart. ECR Public has no such API, and a host
//! that is not an ECR hostname is some other registry the token opens: their images are
//! checked through the distribution API with the token.

use aws_config::Region;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageError;
use aws_sdk_ecr::types::{ImageFailureCode, ImageIdentifier};

use super::error::{map_sdk_error, Call, Caller};
use super::policy::{partition_of_region, PullPolicy, READ_ACTIONS};
use super::tokens::EcrTokens;
use super::{AwsError, EcrTarget};
use crate::live::{is_digest, PullCheck, Verdict};
use crate::provider::{RegistryTarget, RequestAttributes};
use crate::reference::ImageReference;
use crate::{Error, RegistryCredential};

/// The manifest types a pull accepts; ECR answers with the image's own when it is one of them.
const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The check of every AWS provider (see [`CredentialProvider::check_pull`](crate::CredentialProvider::check_pull)).
pub(crate) async fn check_pull(
    tokens: &EcrTokens,
    image: &ImageReference,
    credential: &RegistryCredential,
) -> PullCheck {
    let target = RegistryTarget::for_image(image);
    let ecr = match tokens.ecr_target(&target).await {
        Ok(t) => t,
        Err(e) => return PullCheck::from_error(&e),
    };
    // ECR Public, and hosts that are not ECR hostnames (a registry the entry's token opens,
    // such as a proxy in front of ECR), answer for themselves.
    let Some(registry_id) = ecr.registry_id.clone().filter(|_| !ecr.public) else {
        return crate::live::check_manifest(image, Some(credential)).await;
    };
    let signed = match tokens.signed(&ecr.region, &RequestAttributes::none()).await {
        Ok(s) => s,
        Err(e) => return PullCheck::from_error(&e),
    };
    let sdk = tokens.sdk().get().await;
    let endpoint = sdk
        .endpoint_url()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the ECR endpoint of {}", ecr.region));
    let key = signed.credentials.access_key_id().to_owned();
    let conf = aws_sdk_ecr::config::Builder::from(sdk)
        .region(Region::new(ecr.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(signed.credentials))
        .use_fips(ecr.fips)
        .use_dual_stack(ecr.dual_stack)
        .build();
    let client = aws_sdk_ecr::Client::from_conf(conf);
    let id = match image.digest() {
        Some(digest) => ImageIdentifier::builder().image_digest(digest),
        None => ImageIdentifier::builder().image_tag(image.tag().unwrap_or("latest")),
    };
    let send = client
        .batch_get_image()
        .registry_id(&registry_id)
        .repository_name(image.repository())
        .image_ids(id.build())
        .set_accepted_media_types(Some(MANIFEST_TYPES.map(str::to_owned).to_vec()))
        .send();
    let place = Place {
        ecr: &ecr,
        account: &registry_id,
        image,
        who: &signed.who,
    };
    match super::without_sdk_trace(send).await {
        Ok(out) => {
            if let Some(found) = out.images().first() {
                let digest = found
                    .image_id()
                    .and_then(|id| id.image_digest())
                    .filter(|d| is_digest(d));
                return place.ok(digest);
            }
            match out.failures().first().and_then(|f| f.failure_code()) {
                Some(code) => place.failed(code),
                None => PullCheck::new(
                    Verdict::Unreachable,
                    format!(
                        "ECR BatchGetImage at {endpoint} answered neither the image nor a failure; if this persists, check that the endpoint URL is an AWS endpoint"
                    ),
                ),
            }
        }
        Err(e) => {
            let missing_repository = matches!(
                e.as_service_error(),
                Some(BatchGetImageError::RepositoryNotFoundException(_))
            ) || e.as_service_error().and_then(|s| s.code())
                == Some("RepositoryNotFoundException");
            if missing_repository {
                return place.no_repository();
            }
            let caller = Caller {
                who: &signed.who,
                access_key_id: &key,
            };
            let arn = place.repository_arn();
            let error = map_sdk_error(
                e,
                &Call {
                    service: "ECR",
                    operation: "BatchGetImage",
                    action: "ecr:BatchGetImage",
                    resource: &arn,
                    endpoint: &endpoint,
                },
                &caller,
            );
            match error.detail::<AwsError>() {
                Some(AwsError::AccessDenied { principal, .. }) => place.denied(principal),
                _ => PullCheck::from_error(&error),
            }
        }
    }
}

/// The verdict of an AWS failure to get a credential, where the error's kind alone would say
/// less: a denial is a missing permission, and an instance profile without the role is a
/// rejected credential rather than an outage.
pub(crate) fn pull_check_for_error(error: &Error) -> Option<PullCheck> {
    match error.detail::<AwsError>()? {
        AwsError::AccessDenied { .. } => Some(PullCheck::new(
            Verdict::PermissionMissing,
            error.to_string(),
        )),
        // `imds_detail` words IMDS's 404 for a role name this way.
        AwsError::Imds { detail, .. } if detail.starts_with("HTTP 404") => Some(PullCheck::new(
            Verdict::CredentialsRejected,
            error.to_string(),
        )),
        _ => None,
    }
}

/// `{"Sid", "Effect", "Action", "Resource"}` in that order, as the policy generator writes it.
fn statement_for_actions(actions: &[&str], resource: &str) -> String {
    #[derive(serde::Serialize)]
    struct Statement<'a> {
        #[serde(rename = "Sid")]
        sid: &'a str,
        #[serde(rename = "Effect")]
        effect: &'a str,
        #[serde(rename = "Action")]
        action: &'a [&'a str],
        #[serde(rename = "Resource")]
        resource: &'a str,
    }
    serde_json::to_string_pretty(&Statement {
        sid: "ReadECRRepository",
        effect: "Allow",
        action: actions,
        resource,
    })
    .unwrap_or_default()
}

/// Where the check asked, for its sentences.
struct Place<'a> {
    ecr: &'a EcrTarget,
    /// The registry's account, from its host.
    account: &'a str,
    image: &'a ImageReference,
    who: &'a str,
}

impl Place<'_> {
    fn registry(&self) -> String {
        format!("ECR registry {} in {}", self.account, self.ecr.region)
    }

    fn reference(&self) -> String {
        match self.image.digest() {
            Some(d) => format!("digest {d}"),
            None => format!("tag {}", self.image.tag().unwrap_or("latest")),
        }
    }

    /// Who pulls, in words: a bare key id reads as `access key AKIA…`.
    fn puller(&self) -> String {
        let key = self.who.len() == 20
            && (self.who.starts_with("AKIA") || self.who.starts_with("ASIA"))
            && self
                .who
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if key {
            format!("access key {}", self.who)
        } else {
            self.who.to_owned()
        }
    }

    fn ok(&self, digest: Option<&str>) -> PullCheck {
        let digest = match (self.image.digest(), digest) {
            (None, Some(d)) => format!(" ({d})"),
            _ => String::new(),
        };
        PullCheck::new(
            Verdict::Ok,
            format!(
                "{} serves {} {}{digest} to {} (ecr:BatchGetImage allowed)",
                self.registry(),
                self.image.repository(),
                self.reference(),
                self.puller()
            ),
        )
    }

    fn failed(&self, code: &ImageFailureCode) -> PullCheck {
        let (registry, reference, repository) =
            (self.registry(), self.reference(), self.image.repository());
        let code_name = code.as_str();
        match code {
            ImageFailureCode::ImageNotFound | ImageFailureCode::MissingDigestAndTag => PullCheck::new(
                Verdict::ReferenceNotFound,
                format!(
                    "{registry} has no {reference} in repository {repository}: push it, or fix the image's tag or digest"
                ),
            ),
            ImageFailureCode::InvalidImageTag
            | ImageFailureCode::InvalidImageDigest
            | ImageFailureCode::ImageTagDoesNotMatchDigest => PullCheck::new(
                Verdict::ReferenceNotFound,
                format!(
                    "{registry} refuses {reference} of repository {repository} (failure code {code_name}): fix the image's tag or digest"
                ),
            ),
            ImageFailureCode::UpstreamAccessDenied
            | ImageFailureCode::UpstreamTooManyRequests
            | ImageFailureCode::UpstreamUnavailable => PullCheck::new(
                Verdict::Unreachable,
                format!(
                    "{registry} could not get {reference} of {repository} from its pull-through cache's upstream registry (failure code {code_name}): check the cache rule's upstream credentials, or try again later"
                ),
            ),
            _ => PullCheck::new(
                Verdict::ReferenceNotFound,
                format!(
                    "{registry} cannot serve {reference} of repository {repository} (failure code {code_name})"
                ),
            ),
        }
    }

    fn no_repository(&self) -> PullCheck {
        PullCheck::new(
            Verdict::RepositoryNotFound,
            format!(
                "{} has no repository {}: fix the repository name in the image, or create it (aws ecr create-repository --repository-name {} --region {}) and push the image",
                self.registry(),
                self.image.repository(),
                self.image.repository(),
                self.ecr.region
            ),
        )
    }

    /// `principal` may not read the repository: the action, the ARN, and the statement that
    /// grants every read a pull needs.
    fn denied(&self, principal: &str) -> PullCheck {
        let arn = self.repository_arn();
        let repository = self.image.repository();
        let (statement, how) =
            match PullPolicy::for_repository(&self.ecr.region, self.account, repository) {
                Ok(policy) => (
                    policy.read_statement_pretty(),
                    format!(
                        "the read statement of `registry-auth policy --region {} --account {} --repository {repository}`",
                        self.ecr.region, self.account
                    ),
                ),
                Err(_) => (
                    statement_for_actions(&READ_ACTIONS, &arn),
                    "this statement".to_owned(),
                ),
            };
        PullCheck::new(
            Verdict::PermissionMissing,
            format!(
                "{principal} is not allowed to perform ecr:BatchGetImage on {arn}, so the pull would be refused; grant the pull's read actions with {how}:\n{statement}"
            ),
        )
    }

    fn repository_arn(&self) -> String {
        format!(
            "arn:{}:ecr:{}:{}:repository/{}",
            partition_of_region(&self.ecr.region),
            self.ecr.region,
            self.account,
            self.image.repository()
        )
    }
}
