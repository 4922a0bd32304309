//! The crate's one error type: every variant is something a user can act on.

use std::sync::Arc;

use crate::config::ConfigError;
use crate::pattern::PatternError;
use crate::reference::ReferenceError;

/// Everything that can go wrong between an image reference and a registry credential.
///
/// `Display` reads as a sentence that names the input and says what to do. No variant ever
/// carries a secret: messages are built from identifiers (access key ids, role names, ARNs),
/// never from secret keys, session tokens or passwords.
///
/// `Error` is `Clone`, so one failed upstream call can be handed to every caller that was waiting
/// on it (see [`TokenCache`](crate::cache::TokenCache)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image reference does not follow the distribution reference grammar.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A match pattern is not valid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A configuration file or entry is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No registry entry's pattern covers the image.
    #[error("no registry entry matches {image}: add an entry whose pattern covers it, or run `registry-auth explain` to see how each pattern was tried")]
    NoMatch {
        /// The normalised image reference.
        image: String,
    },
    /// A personal project asked for a private registry's credentials.
    #[error("private registries are restricted to organisation projects; personal projects have no access to private registries such as the one serving {image}: move the project into an organisation")]
    PersonalProject {
        /// The normalised image reference.
        image: String,
    },
    /// Entries match the image, but none that this request may use.
    #[error("no registry entry that {context} may use matches {image} ({ruled_out}); add an entry for this organisation or environment, or run the job where an entry allows it")]
    OutOfScope {
        /// The normalised image reference.
        image: String,
        /// Who asked.
        context: String,
        /// Each matching entry and why it was ruled out.
        ruled_out: String,
    },
    /// The principal is not allowed to perform an action it needs.
    #[error("{principal} is not allowed to perform {action}; grant it with this policy statement:\n{statement}")]
    AccessDenied {
        /// The principal AWS named (an ARN), or the access key id when AWS named none.
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
        /// What went wrong.
        detail: String,
    },
    /// No region is known for a call.
    #[error("no AWS region for {context}: set `region` on the registry entry (or pass one to DefaultResolverBuilder::entry)")]
    MissingRegion {
        /// Which entry or call lacked a region.
        context: String,
    },
    /// An AWS call failed in a way not covered by a more specific variant.
    #[error("{service} {operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Upstream {
        /// `ECR`, `STS` or `IMDS`.
        service: &'static str,
        /// The operation, e.g. `GetAuthorizationToken`.
        operation: &'static str,
        /// The AWS error code, when there was one.
        code: Option<String>,
        /// What AWS or the transport said, with the fix where one is known.
        message: String,
    },
    /// A provider returned something that is not a usable token.
    #[error("{service} returned an unusable authorization token: {detail}")]
    InvalidToken {
        /// Which service answered.
        service: &'static str,
        /// What was wrong with it (never the token itself).
        detail: String,
    },
    /// A builder was asked to build without a setting it needs.
    #[error("{0}")]
    Builder(String),
    /// The image's registry is one this crate cannot get credentials for.
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// An error from a [`CredentialProvider`](crate::provider::CredentialProvider) written outside
    /// this crate.
    #[error("{0}")]
    Custom(Arc<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps an error from an embedder's own provider.
    pub fn custom(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(error))
    }

    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source: Arc::new(source),
        }
    }
}
