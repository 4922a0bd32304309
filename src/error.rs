//! The crate's one error type, grouped by what the caller does about it.

use std::fmt;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::pattern::PatternError;
use crate::reference::ReferenceError;

/// What a caller does about an [`Error`]: the five groups every variant falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An input is not valid (an image reference, a pattern, a configuration, a builder
    /// setting, a registry the entry's source cannot serve): fix the input.
    InvalidInput,
    /// No entry serves the image for this request: add one, or ask in another context.
    NoEntry,
    /// The registry or cloud refused the credentials, or they lack a permission: fix the
    /// credentials or the policy. Retrying does not help.
    Credentials,
    /// The registry or cloud failed, timed out or answered something unusable: retrying later
    /// may help ([`Error::is_retryable`] says when it is worth it).
    Upstream,
    /// A local file or directory could not be read or written.
    Io,
}

impl ErrorKind {
    /// `invalid_input`, `no_entry`, `credentials`, `upstream` or `io`, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NoEntry => "no_entry",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong between an image reference and a registry credential.
///
/// `Display` is one sentence that names the input and says what to do. No variant ever holds
/// a secret or an upstream reply's body: messages are built from identifiers (access key ids,
/// role names, ARNs, HTTP statuses, error codes, request ids).
///
/// `Error` is `Clone`, so one failed upstream call can be handed to every caller that was waiting
/// on it (see [`TokenCache`](crate::cache::TokenCache)). The cloud-specific detail of a
/// [`Credentials`](Error::Credentials) or [`Upstream`](Error::Upstream) error is its
/// [`source`](std::error::Error::source); [`Error::detail`] downcasts it, e.g. to
/// [`aws::AwsError`](crate::aws::AwsError) for the principal and action of an `AccessDenied`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image reference does not follow the distribution reference grammar.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A match pattern is not valid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A configuration file, entry or builder setting is not valid, or the file is missing.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The entry's credential source cannot serve this registry (say, an ECR entry asked for a
    /// host that names no region).
    #[error("{registry}: {reason}")]
    Unsupported {
        /// The registry `HOST[:PORT]`.
        registry: String,
        /// Why, and what to do.
        reason: String,
    },
    /// No entry serves the image for this request.
    #[error(transparent)]
    NoEntry(#[from] NoEntry),
    /// The registry or cloud refused the credentials, or they lack a permission.
    #[error(transparent)]
    Credentials(Arc<dyn std::error::Error + Send + Sync>),
    /// The registry or cloud failed, timed out or answered something unusable.
    #[error("{source}")]
    Upstream {
        /// What failed, with the status, code and request id where there were some.
        source: Arc<dyn std::error::Error + Send + Sync>,
        /// Whether trying again later may succeed (a timeout, a 5xx, throttling).
        retryable: bool,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl Error {
    /// What the caller does about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Reference(_)
            | Error::Pattern(_)
            | Error::Config(_)
            | Error::Unsupported { .. } => ErrorKind::InvalidInput,
            Error::NoEntry(_) => ErrorKind::NoEntry,
            Error::Credentials(_) => ErrorKind::Credentials,
            Error::Upstream { .. } => ErrorKind::Upstream,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// Whether the same call may succeed later without any change on the caller's side: an
    /// upstream timeout, 5xx or throttling.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Upstream {
                retryable: true,
                ..
            }
        )
    }

    /// Credentials refused by a provider written outside this crate: `error` says whose and
    /// what to fix.
    pub fn credentials(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Credentials(Arc::new(error))
    }

    /// An upstream failure in a provider written outside this crate.
    pub fn upstream(
        error: impl std::error::Error + Send + Sync + 'static,
        retryable: bool,
    ) -> Self {
        Error::Upstream {
            source: Arc::new(error),
            retryable,
        }
    }

    /// The cloud-specific detail of a [`Credentials`](Error::Credentials) or
    /// [`Upstream`](Error::Upstream) error, if it is a `T`.
    ///
    /// ```
    /// use registry_auth::aws::AwsError;
    ///
    /// # fn show(error: &registry_auth::Error) {
    /// if let Some(AwsError::AccessDenied { principal, action, .. }) = error.detail::<AwsError>() {
    ///     eprintln!("{principal} needs {action}");
    /// }
    /// # }
    /// ```
    pub fn detail<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            Error::Credentials(source) | Error::Upstream { source, .. } => source.downcast_ref(),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn unsupported(registry: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unsupported {
            registry: registry.into(),
            reason: reason.into(),
        }
    }
}

/// No entry serves an image for the request that asked: none matched, or every one that matched
/// was ruled out by its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NoEntry {
    /// The normalised image reference, or the registry `HOST[:PORT]` when only that was asked.
    pub image: String,
    /// Who asked, as [`ResolveContext`](crate::scope::ResolveContext) prints it.
    pub context: String,
    /// Each entry that matched but may not serve this request: `registry[i] ruled out: why`.
    pub ruled_out: Vec<String>,
    /// A personal project asked: private registries are for organisation projects.
    pub personal: bool,
    /// The request named no organisation, and only scoped entries match.
    pub unscoped: bool,
}

impl fmt::Display for NoEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.personal {
            return write!(
                f,
                "private registries are restricted to organisation projects; personal projects have no access to private registries such as the one serving {}: move the project into an organisation",
                self.image
            );
        }
        if self.ruled_out.is_empty() {
            return write!(
                f,
                "no registry entry matches {}: add an entry whose pattern covers it",
                self.image
            );
        }
        write!(
            f,
            "no registry entry that {} may use matches {} ({}); ",
            self.context,
            self.image,
            self.ruled_out.join("; ")
        )?;
        if self.unscoped {
            f.write_str("only scoped entries match, and no organisation or environment was given: name them (REGISTRY_AUTH_OWNER and REGISTRY_AUTH_ENVIRONMENT for the docker helper and the kubelet plugin, --owner and --environment for the CLI)")
        } else {
            f.write_str("add an entry for this organisation or environment, or run the job where an entry allows it")
        }
    }
}

impl std::error::Error for NoEntry {}

/// At most `max` characters of `s`, for messages that repeat an input.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
