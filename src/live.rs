//! Proving, before a job runs, that each of its images can be pulled.
//!
//! A pull fails at the worst moment: minutes into a queued job, as an opaque 403 or "manifest
//! unknown". The live check asks the registry first, with the very credential the pull would
//! use: for each image it picks the entry, gets the credential through the resolver's cache (one
//! credential per entry and registry, however many images), then has the entry's
//! [`CredentialProvider`](crate::CredentialProvider) prove the pull
//! ([`check_pull`](crate::CredentialProvider::check_pull)):
//!
//! - ECR registries answer through the ECR API: `BatchGetImage` for the image's tag or digest,
//!   signed with the entry's AWS credentials, which is the read action a pull performs;
//! - every other registry answers through the distribution API: `HEAD
//!   /v2/<repository>/manifests/<reference>` with the credential, following the registry's
//!   `WWW-Authenticate: Bearer` token flow when it asks for one ([`check_manifest`]).
//!
//! An image that no entry serves is asked for without credentials, unless it is on a private
//! ECR registry (which never serves anonymous pulls): a public image passes, one whose registry
//! asks for credentials is [`Verdict::NoEntry`].
//!
//! Each image gets one [`Verdict`] and a sentence with the fix:
//!
//! | verdict | means | the sentence names |
//! | --- | --- | --- |
//! | `ok` | the registry would serve the image to this credential | the entry, the digest |
//! | `no_entry` | no entry serves it, and the registry asks for credentials | the pattern to add |
//! | `credentials_rejected` | the key, role, password or token was refused, or cannot be read | which key or role |
//! | `permission_missing` | the credential is valid but may not pull this image | the action, the repository ARN, the principal, the policy statement |
//! | `repository_not_found` | the registry has no such repository | the repository |
//! | `reference_not_found` | the repository has no such tag or digest | the tag or digest |
//! | `unreachable` | the registry, its token service or the cloud API did not answer usably | where, and what failed |
//!
//! ```no_run
//! use registry_auth::{DefaultResolver, ImageReference, RegistryConfig, ResolveContext};
//! use registry_auth::live::{self, Verdict};
//!
//! # async fn run() -> Result<(), registry_auth::Error> {
//! let config = RegistryConfig::load("registries.toml")?;
//! let resolver = DefaultResolver::builder().config(&config).build()?;
//! let image = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1")?;
//! let check = live::check_image(&resolver, &ResolveContext::unscoped(), &image).await;
//! if check.verdict != Verdict::Ok {
//!     eprintln!("{}: {}: {}", check.image, check.verdict.label(), check.detail);
//! }
//! # Ok(()) }
//! ```

mod distribution;

use std::fmt;
use std::sync::Arc;

use crate::aws::EcrHost;
use crate::reference::ImageReference;
use crate::scope::ResolveContext;
use crate::{DefaultResolver, Error, ErrorKind};

pub use distribution::check_manifest;

/// How many images are checked at once when the caller does not say.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// What a live check found for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The registry would serve the image to the credential.
    Ok,
    /// No entry serves the image, and its registry asks for credentials.
    NoEntry,
    /// The registry or cloud refused the credential (or it could not be read).
    CredentialsRejected,
    /// The credential is valid but lacks the permission to pull the image.
    PermissionMissing,
    /// The registry has no such repository.
    RepositoryNotFound,
    /// The repository has no such tag or digest.
    ReferenceNotFound,
    /// The registry, its token service or the cloud API did not answer usably.
    Unreachable,
}

impl Verdict {
    /// Every verdict, in the order reports count them.
    pub const ALL: [Verdict; 7] = [
        Verdict::Ok,
        Verdict::NoEntry,
        Verdict::CredentialsRejected,
        Verdict::PermissionMissing,
        Verdict::RepositoryNotFound,
        Verdict::ReferenceNotFound,
        Verdict::Unreachable,
    ];

    /// The identifier JSON output uses: `ok`, `no_entry`, `credentials_rejected`,
    /// `permission_missing`, `repository_not_found`, `reference_not_found`, `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::NoEntry => "no_entry",
            Verdict::CredentialsRejected => "credentials_rejected",
            Verdict::PermissionMissing => "permission_missing",
            Verdict::RepositoryNotFound => "repository_not_found",
            Verdict::ReferenceNotFound => "reference_not_found",
            Verdict::Unreachable => "unreachable",
        }
    }

    /// The words text output uses: `ok`, `no entry`, `credentials rejected`, `permission
    /// missing`, `repository not found`, `tag/digest not found`, `registry unreachable`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::NoEntry => "no entry",
            Verdict::CredentialsRejected => "credentials rejected",
            Verdict::PermissionMissing => "permission missing",
            Verdict::RepositoryNotFound => "repository not found",
            Verdict::ReferenceNotFound => "tag/digest not found",
            Verdict::Unreachable => "registry unreachable",
        }
    }

    /// Whether the pull would go ahead.
    pub fn is_ok(self) -> bool {
        self == Verdict::Ok
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A provider's answer to "can this image be pulled with this credential?": a verdict and one
/// sentence saying what was found and what to do. The sentence never holds a secret, a reply's
/// body or a header's value (a digest is shown only after it was checked to be one).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullCheck {
    /// What was found.
    pub verdict: Verdict,
    /// What was found, in words, with the fix.
    pub detail: String,
}

impl PullCheck {
    /// A verdict and its sentence.
    pub fn new(verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            verdict,
            detail: detail.into(),
        }
    }

    /// The verdict for a failure to get the credential (or the cloud credentials behind it):
    /// refusals are `credentials_rejected` (or `permission_missing` when the cloud named a
    /// missing permission), outages `unreachable`, an unreadable secret `credentials_rejected`.
    pub fn from_error(error: &Error) -> Self {
        if let Some(check) = crate::aws::pull_check_for_error(error) {
            return check;
        }
        let verdict = match error.kind() {
            ErrorKind::NoEntry => Verdict::NoEntry,
            ErrorKind::Upstream => Verdict::Unreachable,
            ErrorKind::Credentials | ErrorKind::InvalidInput | ErrorKind::Io => {
                Verdict::CredentialsRejected
            }
        };
        Self::new(verdict, error.to_string())
    }
}

/// One image's live check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageCheck {
    /// The normalised image reference.
    pub image: String,
    /// The entry that serves it (position, pattern), if one does.
    pub entry: Option<(usize, Arc<str>)>,
    /// What was found.
    pub verdict: Verdict,
    /// What was found, in words, with the fix.
    pub detail: String,
}

/// Proves that `image` can be pulled by a request in `context`: the entry that serves it, its
/// credential (from the resolver's cache), then the provider's
/// [`check_pull`](crate::CredentialProvider::check_pull). Never fails: every outcome is a
/// [`Verdict`].
pub async fn check_image(
    resolver: &DefaultResolver,
    context: &ResolveContext,
    image: &ImageReference,
) -> ImageCheck {
    let entry = || {
        resolver
            .select_in(context, image)
            .ok()
            .flatten()
            .map(|(i, p)| (i, Arc::<str>::from(p.as_str())))
    };
    let (entry, check) = match resolver.check_pull_in(context, image).await {
        Ok((resolved, check)) => (Some((resolved.entry, resolved.pattern)), check),
        Err(e) if e.kind() == ErrorKind::NoEntry => (None, without_entry(context, image, &e).await),
        Err(e) => (entry(), PullCheck::from_error(&e)),
    };
    ImageCheck {
        image: image.as_str().to_owned(),
        entry,
        verdict: check.verdict,
        detail: check.detail,
    }
}

/// An image no entry serves: a private ECR image cannot be pulled; any other is asked for
/// without credentials, as the pull would.
async fn without_entry(
    context: &ResolveContext,
    image: &ImageReference,
    no_entry: &Error,
) -> PullCheck {
    let private_ecr = EcrHost::parse(image.domain()).is_some_and(|h| !h.is_public());
    if private_ecr || context.is_personal() {
        return PullCheck::new(Verdict::NoEntry, no_entry.to_string());
    }
    let anonymous = check_manifest(image, None).await;
    match anonymous.verdict {
        Verdict::Ok => PullCheck::new(
            Verdict::Ok,
            format!(
                "no entry serves it, and none is needed: {}",
                anonymous.detail
            ),
        ),
        Verdict::CredentialsRejected | Verdict::PermissionMissing => PullCheck::new(
            Verdict::NoEntry,
            format!(
                "{} asks for credentials for {}, and {no_entry}",
                image.domain(),
                image.name()
            ),
        ),
        _ => PullCheck::new(
            anonymous.verdict,
            format!(
                "{} (no entry serves {}, so it was asked for without credentials)",
                anonymous.detail,
                image.as_str()
            ),
        ),
    }
}

/// Checks `images` with at most `concurrency` at once (at least 1), calling `on_done` with each
/// image's position in `images` as its check completes (for progress output). The result is in
/// the order of `images`.
pub async fn check_images<F>(
    resolver: &DefaultResolver,
    context: &ResolveContext,
    images: &[ImageReference],
    concurrency: usize,
    mut on_done: F,
) -> Vec<ImageCheck>
where
    F: FnMut(usize, &ImageCheck),
{
    use futures_util::stream::{self, StreamExt};
    let mut checks: Vec<Option<ImageCheck>> = vec![None; images.len()];
    let mut running = stream::iter(images.iter().enumerate())
        .map(|(i, image)| async move { (i, check_image(resolver, context, image).await) })
        .buffer_unordered(concurrency.max(1));
    while let Some((i, check)) = running.next().await {
        on_done(i, &check);
        checks[i] = Some(check);
    }
    checks.into_iter().flatten().collect()
}

/// `sha256:` and 64 hex digits (or `sha512:` and 128): the only part of a reply a verdict's
/// sentence repeats.
pub(crate) fn is_digest(s: &str) -> bool {
    let hex = |h: &str, n: usize| h.len() == n && h.bytes().all(|b| b.is_ascii_hexdigit());
    match s.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digests_are_repeated() {
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest(&format!("sha256:{}", "a".repeat(63))));
        assert!(!is_digest("sha256:QVdTOnRva2Vu"));
        assert!(!is_digest("md5:abc"));
    }

    #[test]
    fn verdicts_have_one_id_and_one_label_each() {
        let ids: std::collections::BTreeSet<_> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
        let labels: std::collections::BTreeSet<_> =
            Verdict::ALL.iter().map(|v| v.label()).collect();
        assert_eq!((ids.len(), labels.len()), (7, 7));
        assert_eq!(Verdict::ReferenceNotFound.label(), "tag/digest not found");
        assert!(Verdict::ALL.iter().filter(|v| v.is_ok()).eq([&Verdict::Ok]));
    }

    #[test]
    fn errors_become_verdicts_by_what_the_caller_does() {
        let no_entry: Error = crate::error::NoEntry {
            image: "x".into(),
            context: String::new(),
            ruled_out: vec![],
            personal: false,
            unscoped: false,
        }
        .into();
        assert_eq!(PullCheck::from_error(&no_entry).verdict, Verdict::NoEntry);
        let denied: Error = crate::aws::AwsError::AccessDenied {
            principal: "arn:aws:iam::123456789012:user/ci".into(),
            action: "ecr:GetAuthorizationToken".into(),
            statement: "{}".into(),
        }
        .into();
        let check = PullCheck::from_error(&denied);
        assert_eq!(check.verdict, Verdict::PermissionMissing);
        assert!(
            check.detail.contains("ecr:GetAuthorizationToken"),
            "{}",
            check.detail
        );
        let wrong: Error = crate::aws::AwsError::WrongSecretKey {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        }
        .into();
        assert_eq!(
            PullCheck::from_error(&wrong).verdict,
            Verdict::CredentialsRejected
        );
        let imds = |detail: &str| -> Error {
            crate::aws::AwsError::Imds {
                role: "R".into(),
                endpoint: "http://169.254.169.254".into(),
                detail: detail.into(),
            }
            .into()
        };
        assert_eq!(
            PullCheck::from_error(&imds(
                "HTTP 404: the instance profile holds no role of that name"
            ))
            .verdict,
            Verdict::CredentialsRejected
        );
        assert_eq!(
            PullCheck::from_error(&imds("the connection failed or timed out")).verdict,
            Verdict::Unreachable
        );
        let missing: Error = crate::config::ConfigError::new("f.toml", "secret not set").into();
        assert_eq!(
            PullCheck::from_error(&missing).verdict,
            Verdict::CredentialsRejected
        );
    }
}
