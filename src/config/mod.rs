//! Registry entries and the files they come from.
//!
//! An entry is a [`MatchPattern`], a [`CredentialSource`] and, optionally, an
//! [`EntryScope`] (who may use it). A configuration file lists entries in order; the order
//! breaks ties between equally specific patterns.
//!
//! TOML (JSON has the same shape: `{"registry": [{...}, ...]}`):
//!
//! ```toml
//! # An IAM user's access key.
//! [[registry]]
//! pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
//! [registry.iam_user]
//! access_key_id = "AKIAIOSFODNN7EXAMPLE"
//! secret_access_key = { env = "ECR_SECRET_ACCESS_KEY" }   # or "inline", or { file = "secret.txt" }
//! region = "us-east-1"
//!
//! # The worker's EC2 instance role, with a dedicated role assumed on top.
//! [[registry]]
//! pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*"
//! owner = "acme"                      # optional: only acme's jobs may use it
//! environments = ["gpu-prod"]         # optional: only in these environments
//! [registry.instance_role]
//! role_name = "ValohaiWorkerRole"
//! region = "us-east-1"
//! assume_role_arn = "arn:aws:iam::123456789012:role/ecr-pull-my-repo"  # optional
//! external_id = "my-repo-pulls"                                         # optional
//!
//! # A plain registry's username and password.
//! [[registry]]
//! pattern = "ghcr.io/acme/*"
//! [registry.basic]
//! username = "acme-ci"
//! password = { env = "GHCR_TOKEN" }
//!
//! # Whatever the AWS CLI would use: environment, profiles (SSO, credential_process),
//! # web identity token file, ECS/EKS container credentials, IMDS.
//! [[registry]]
//! pattern = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/*"
//! [registry.aws_chain]
//! profile = "ci"                      # optional
//! [registry.aws_chain.assume_role]    # optional, in every AWS source
//! role_arn = "arn:aws:iam::210987654321:role/ecr-pull"
//!
//! # A role assumed with the kubelet's service-account token, named by the service account.
//! [[registry]]
//! pattern = "*.dkr.ecr.*.amazonaws.com/*"
//! [registry.web_identity]
//! role_arn_annotation = "eks.amazonaws.com/ecr-role-arn"
//! ```
//!
//! The platform's own export, a JSON list of
//! `{"type": "aws_ecr" | "aws_ecr_role" | "aws_chain" | "aws_web_identity" | "basic", "image_pattern": "...", "configuration": {...}}`,
//! is read as well: [`RegistryConfig::from_json_str`] tells the two JSON shapes apart.
//!
//! A secret (`secret_access_key`, a password) is written inline, as `{ env = "NAME" }`, or as
//! `{ file = "PATH" }` (relative to the configuration file), so a file can be committed without
//! it: see [`SecretSource`]. **Secrets are read only when an entry serves a request**: loading a
//! file reads none, so `explain`, `check` and every other entry keep working where one entry's
//! secret is missing, and that entry's error names it when it is used.
//!
//! Every error names the file, the entry (index and pattern) and the field:
//!
//! ```text
//! registries.toml: registry[1] (pattern "…/my-repo/*"): instance_role.region: "us-east1" is not an AWS region; write one like us-east-1
//! ```

mod file;
mod secret;
// The front ends' compiled snapshot: only short-lived processes that keep a disk store use it.
#[cfg(all(unix, feature = "cli"))]
pub(crate) mod snapshot;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use secret::SecretSource;

pub use crate::aws::{AssumeRole, AwsChain, IamUser, InstanceRole, WebIdentity};
use crate::aws::{AwsOptions, EcrHost, SharedSdk};
#[cfg(feature = "azure")]
pub use crate::azure::Azure;
pub use crate::basic::Basic;
#[cfg(feature = "gcp")]
pub use crate::gcp::Gcp;
use crate::pattern::MatchPattern;
use crate::provider::CredentialProvider;
use crate::scope::EntryScope;
use crate::Error;
use file::{Format, Shape};

/// The most a configuration file may hold.
pub(crate) const MAX_CONFIG_FILE: u64 = 16 * 1024 * 1024;

/// One registry entry: which images it serves, where its credentials come from, and who may
/// use it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistryEntry {
    /// Which images the entry serves.
    pub pattern: MatchPattern,
    /// Where the entry's credentials come from.
    pub source: CredentialSource,
    /// Which requests may use it (organisation, environments); unrestricted by default.
    pub scope: EntryScope,
}

impl RegistryEntry {
    /// An unrestricted entry from its parts.
    pub fn new(pattern: MatchPattern, source: CredentialSource) -> Self {
        Self {
            pattern,
            source,
            scope: EntryScope::default(),
        }
    }

    /// Restricts the entry to `scope`.
    pub fn with_scope(mut self, scope: EntryScope) -> Self {
        self.scope = scope;
        self
    }
}

/// Where an entry's credentials come from: one arm per kind of source, each defined next to its
/// provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CredentialSource {
    /// An IAM user's access key: ECR tokens.
    IamUser(IamUser),
    /// The worker's EC2 instance role, optionally with a dedicated role on top: ECR tokens.
    InstanceRole(InstanceRole),
    /// A plain registry's username and password.
    Basic(Basic),
    /// aws-config's standard credentials chain: ECR tokens.
    AwsChain(AwsChain),
    /// A role assumed with a web identity token (a token file, or the kubelet's
    /// service-account token): ECR tokens.
    WebIdentity(WebIdentity),
    /// A Google service account (key file or metadata server): Artifact Registry and
    /// Container Registry access tokens.
    #[cfg(feature = "gcp")]
    Gcp(Gcp),
    /// An Entra ID service principal or managed identity: Azure Container Registry refresh
    /// tokens.
    #[cfg(feature = "azure")]
    Azure(Azure),
}

/// What the resolver needs to turn a source into a provider.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderOptions {
    pub(crate) aws: AwsOptions,
    /// The embedder's SDK configuration, the base of every AWS entry when given.
    pub(crate) sdk: Option<SharedSdk>,
}

impl CredentialSource {
    /// The table name in a configuration file: `iam_user`, `instance_role`, `aws_chain`,
    /// `web_identity`, `basic`, `gcp` or `azure`.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSource::IamUser(_) => "iam_user",
            CredentialSource::InstanceRole(_) => "instance_role",
            CredentialSource::Basic(_) => "basic",
            CredentialSource::AwsChain(_) => "aws_chain",
            CredentialSource::WebIdentity(_) => "web_identity",
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(_) => "gcp",
            #[cfg(feature = "azure")]
            CredentialSource::Azure(_) => "azure",
        }
    }

    /// The AWS region the entry names, if its source has one.
    pub fn region(&self) -> Option<&str> {
        match self {
            CredentialSource::IamUser(u) => Some(&u.region),
            CredentialSource::InstanceRole(r) => Some(&r.region),
            CredentialSource::AwsChain(c) => c.region.as_deref(),
            CredentialSource::WebIdentity(w) => w.region.as_deref(),
            CredentialSource::Basic(_) => None,
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(_) => None,
            #[cfg(feature = "azure")]
            CredentialSource::Azure(_) => None,
        }
    }

    /// Whether the source gets tokens from AWS (ECR or ECR Public).
    pub fn is_aws(&self) -> bool {
        !matches!(self, CredentialSource::Basic(_))
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        match self {
            CredentialSource::IamUser(u) => u.validate(),
            CredentialSource::InstanceRole(r) => r.validate(),
            CredentialSource::Basic(b) => b.validate(),
            CredentialSource::AwsChain(c) => c.validate(),
            CredentialSource::WebIdentity(w) => w.validate(),
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(g) => g.validate(),
            #[cfg(feature = "azure")]
            CredentialSource::Azure(a) => a.validate(),
        }
    }

    fn secrets_mut(&mut self) -> Vec<&mut SecretSource> {
        match self {
            CredentialSource::IamUser(u) => u.secrets_mut(),
            CredentialSource::Basic(b) => b.secrets_mut(),
            CredentialSource::InstanceRole(_)
            | CredentialSource::AwsChain(_)
            | CredentialSource::WebIdentity(_) => Vec::new(),
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(g) => g.secrets_mut(),
            #[cfg(feature = "azure")]
            CredentialSource::Azure(a) => a.secrets_mut(),
        }
    }

    /// Relative secret files and token files are relative to the configuration's directory.
    fn rebase(&mut self, dir: &Path) {
        for secret in self.secrets_mut() {
            secret.rebase(dir);
        }
        if let CredentialSource::WebIdentity(w) = self {
            w.rebase(dir);
        }
    }

    /// Whether a secret is written in the configuration itself.
    // Only the file-mode warning asks, and it is Unix-only.
    #[cfg_attr(not(unix), allow(dead_code))]
    fn has_inline_secret(&self) -> bool {
        match self {
            CredentialSource::IamUser(u) => {
                u.secret_access_key.is_inline()
                    || u.session_token
                        .as_ref()
                        .is_some_and(SecretSource::is_inline)
            }
            CredentialSource::Basic(b) => b.password.is_inline(),
            CredentialSource::InstanceRole(_)
            | CredentialSource::AwsChain(_)
            | CredentialSource::WebIdentity(_) => false,
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(_) => false,
            #[cfg(feature = "azure")]
            CredentialSource::Azure(a) => a.has_inline_secret(),
        }
    }

    /// The provider for this source, reading its secrets now.
    pub(crate) fn provider(
        &self,
        options: &ProviderOptions,
    ) -> Result<Arc<dyn CredentialProvider>, FieldError> {
        let sdk = options.sdk.as_ref();
        match self {
            CredentialSource::IamUser(u) => u.provider(&options.aws, sdk),
            CredentialSource::InstanceRole(r) => r.provider(&options.aws, sdk),
            CredentialSource::Basic(b) => b.provider(),
            CredentialSource::AwsChain(c) => c.provider(&options.aws, sdk),
            CredentialSource::WebIdentity(w) => w.provider(&options.aws, sdk.map(|s| &s.config)),
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(g) => g.provider(),
            #[cfg(feature = "azure")]
            CredentialSource::Azure(a) => a.provider(),
        }
    }
}

/// A problem with one field, before it is placed in a file and an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    field: String,
    message: String,
}

impl FieldError {
    /// `field` (e.g. `region`; empty for the whole source) and what is wrong with it.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The same error, for a field inside the table `table` (`iam_user`, `configuration`).
    pub(crate) fn within(mut self, table: &str) -> Self {
        self.field = if self.field.is_empty() {
            table.to_owned()
        } else {
            format!("{table}.{}", self.field)
        };
        self
    }

    /// The same error, placed in entry `index` (whose pattern reads `pattern`) of `origin`.
    pub(crate) fn at(self, origin: &str, index: usize, pattern: String) -> ConfigError {
        ConfigError {
            origin: origin.to_owned(),
            entry: Some((index, pattern)),
            field: (!self.field.is_empty()).then_some(self.field),
            message: self.message,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Not empty, and no surrounding whitespace.
pub(crate) fn check_text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        Err(FieldError::new(field, "is empty"))
    } else if value.trim() != value {
        Err(FieldError::new(
            field,
            "has leading or trailing whitespace; remove it",
        ))
    } else {
        Ok(())
    }
}

/// Something in a configuration that works but is probably a mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigWarning {
    /// The entry's position in the configuration, from 0.
    pub index: usize,
    /// What is probably wrong, and what to do.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A validated list of registry entries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    entries: Vec<RegistryEntry>,
    warnings: Vec<ConfigWarning>,
    origin: String,
    shape: Shape,
    /// For a part of a file (what a snapshot gives): each entry's position in the whole file.
    positions: Option<Vec<usize>>,
}

impl RegistryConfig {
    /// Validates entries given in code: duplicate patterns are an error, a region that disagrees
    /// with a literal ECR host is a warning.
    pub fn from_entries(entries: Vec<RegistryEntry>) -> Result<Self, ConfigError> {
        for (i, e) in entries.iter().enumerate() {
            e.source.validate().map_err(|f| {
                f.within(e.source.kind())
                    .at("<entries>", i, e.pattern.to_string())
            })?;
        }
        Self::validated(entries, "<entries>", Shape::Registry)
    }

    /// Reads a `.toml` or `.json` file (either JSON shape). No secret is read: see the
    /// [module documentation](self).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a file that is missing, unreadable, not a regular file, larger
    /// than 16 MiB, or not a valid configuration; the message names the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => {
                return Err(ConfigError::new(
                    origin,
                    "unknown file type; name the file *.toml or *.json",
                )
                .into())
            }
        };
        let text = crate::files::read_text(path, MAX_CONFIG_FILE).map_err(|e| {
            ConfigError::new(
                &origin,
                format!("cannot read the registry configuration: {e}"),
            )
        })?;
        let mut config = Self::parse(&text, format, &origin)?;
        if let Some(dir) = path.parent() {
            for entry in &mut config.entries {
                entry.source.rebase(dir);
            }
        }
        if let Some(w) = readable_secrets_warning(path, &config.entries) {
            tracing::warn!("{w}");
            config.warnings.push(w);
        }
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors (a file name, or e.g. `<stdin>`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse(text, Format::Toml, origin)
    }

    /// Parses JSON text, either `{"registry": [...]}` or the platform's export list.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse(text, Format::Json, origin)
    }

    fn parse(text: &str, format: Format, origin: &str) -> Result<Self, ConfigError> {
        let (entries, shape) = file::parse(text, format, origin)?;
        Self::validated(entries, origin, shape)
    }

    /// The entries, in configuration order.
    pub fn entries(&self) -> &[RegistryEntry] {
        &self.entries
    }

    /// Things that work but are probably mistakes; each was also logged with `tracing::warn!`.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// Where the configuration came from: the file name, or the origin given to a `from_*`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// An error in entry `index`'s source, found when the entry was used (a secret that cannot
    /// be read), placed in this file and entry.
    pub(crate) fn source_error(&self, index: usize, error: FieldError) -> ConfigError {
        let entry = &self.entries[index];
        let table = match self.shape {
            Shape::Registry => entry.source.kind(),
            Shape::Export => "configuration",
        };
        error.within(table).at(
            &self.origin,
            self.position(index),
            entry.pattern.to_string(),
        )
    }

    /// Entry `index`'s position in its file: the same, unless this is a part of the file.
    pub(crate) fn position(&self, index: usize) -> usize {
        self.positions
            .as_ref()
            .and_then(|p| p.get(index).copied())
            .unwrap_or(index)
    }

    /// The entries of a file that can serve one registry, at their positions in the file,
    /// already validated with the whole file when its snapshot was made.
    /// Relative secret and token files are taken relative to `dir`, the configuration file's
    /// directory, as [`RegistryConfig::load`] takes them.
    #[cfg(all(unix, feature = "cli"))]
    pub(crate) fn subset(
        mut entries: Vec<RegistryEntry>,
        positions: Vec<usize>,
        origin: String,
        shape: Shape,
        dir: Option<&Path>,
    ) -> Self {
        if let Some(dir) = dir {
            for entry in &mut entries {
                entry.source.rebase(dir);
            }
        }
        Self {
            entries,
            warnings: Vec::new(),
            origin,
            shape,
            positions: Some(positions),
        }
    }

    fn validated(
        entries: Vec<RegistryEntry>,
        origin: &str,
        shape: Shape,
    ) -> Result<Self, ConfigError> {
        if let Some((i, first)) = shadowed(entries.iter().map(|e| (&e.pattern, &e.scope))) {
            let e = &entries[i];
            let first_pattern = entries[first].pattern.as_str();
            let same = if first_pattern == e.pattern.as_str() {
                String::new()
            } else {
                format!(" ({first_pattern:?} serves the same images)")
            };
            let scoped = if entries[first].scope == e.scope {
                String::new()
            } else {
                " and is listed first with a scope that covers this one's, so this entry would never be used".to_owned()
            };
            return Err(ConfigError {
                origin: origin.to_owned(),
                entry: Some((i, e.pattern.as_str().to_owned())),
                field: Some(shape.pattern_field().into()),
                message: format!(
                    "duplicates the pattern of registry[{first}]{same}{scoped}; merge the two entries, narrow one of them, or list the narrower scope first"
                ),
            });
        }
        let mut warnings = region_warnings(&entries, origin);
        warnings.extend(owner_warning(&entries, origin));
        for w in &warnings {
            tracing::warn!("{w}");
        }
        Ok(Self {
            entries,
            warnings,
            origin: origin.to_owned(),
            shape,
            positions: None,
        })
    }
}

/// The first entry that could never be chosen, and the earlier entry that shadows it: patterns
/// that read the same (host case, `host` vs `host/*`) serve the same images, so a later entry
/// whose scope an earlier one's covers never wins.
pub(crate) fn shadowed<'a>(
    entries: impl IntoIterator<Item = (&'a MatchPattern, &'a EntryScope)>,
) -> Option<(usize, usize)> {
    let mut by_pattern: std::collections::HashMap<String, Vec<(usize, &EntryScope)>> =
        Default::default();
    for (i, (pattern, scope)) in entries.into_iter().enumerate() {
        let earlier = by_pattern.entry(pattern.canonical()).or_default();
        if let Some(&(first, _)) = earlier.iter().find(|(_, s)| covers(s, scope)) {
            return Some((i, first));
        }
        earlier.push((i, scope));
    }
    None
}

/// Whether every request `later` could serve, `earlier` could serve too.
fn covers(earlier: &EntryScope, later: &EntryScope) -> bool {
    let owner = earlier.owner.is_none() || earlier.owner == later.owner;
    let environments = match (&earlier.environments, &later.environments) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(l)) => l.iter().all(|env| e.contains(env)),
    };
    owner && environments
}

/// A file holding inline secrets should be readable by its owner alone.
#[cfg(unix)]
fn readable_secrets_warning(path: &Path, entries: &[RegistryEntry]) -> Option<ConfigWarning> {
    use std::os::unix::fs::PermissionsExt;
    let inline_secrets = entries
        .iter()
        .filter(|e| e.source.has_inline_secret())
        .count();
    if inline_secrets == 0 {
        return None;
    }
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| ConfigWarning {
        index: 0,
        message: format!(
            "{}: holds {inline_secrets} inline secret(s) and is readable or writable by group or others (mode {mode:04o}): run chmod 600 on it, or move the secrets out with {{ env = \"NAME\" }} or {{ file = \"PATH\" }}",
            path.display()
        ),
    })
}

/// On systems without Unix modes there is nothing to check.
#[cfg(not(unix))]
fn readable_secrets_warning(_: &Path, _: &[RegistryEntry]) -> Option<ConfigWarning> {
    None
}

/// Entries without an owner serve every organisation: in a file where other entries name their
/// organisation, that is probably an oversight.
fn owner_warning(entries: &[RegistryEntry], origin: &str) -> Option<ConfigWarning> {
    entries
        .iter()
        .any(|e| e.scope.owner.is_some())
        .then_some(())?;
    let (i, e) = entries
        .iter()
        .enumerate()
        .find(|(_, e)| e.scope.owner.is_none())?;
    Some(ConfigWarning {
        index: i,
        message: format!(
            "{origin}: registry[{i}] (pattern {:?}) has no owner while other entries name theirs, so it serves every organisation's jobs; set owner = \"ORG\" unless it is meant to be shared",
            e.pattern.as_str()
        ),
    })
}

fn region_warnings(entries: &[RegistryEntry], origin: &str) -> Vec<ConfigWarning> {
    let mut warnings = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(host) = e.pattern.literal_host().and_then(EcrHost::parse) else {
            continue;
        };
        if let (Some(region), Some(entry_region)) = (host.region(), e.source.region()) {
            if region != entry_region {
                warnings.push(ConfigWarning {
                    index: i,
                    message: format!(
                        "{origin}: registry[{i}] (pattern {:?}): region {entry_region} disagrees with the host's region {region}; tokens are requested in {region}, the host's region. Set region = \"{region}\" to silence this",
                        e.pattern.as_str(),
                    ),
                });
            }
        }
    }
    warnings
}

/// A configuration that cannot be used: the file, the entry, the field, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    entry: Option<(usize, String)>,
    field: Option<String>,
    message: String,
}

impl ConfigError {
    /// An error about the whole of `origin` (a file, or a builder such as
    /// `IamUserProvider::builder()`).
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            entry: None,
            field: None,
            message: message.into(),
        }
    }

    /// The file (or other origin) the configuration came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The entry's position (from 0) and pattern, when the problem is in one entry.
    pub fn entry(&self) -> Option<(usize, &str)> {
        self.entry.as_ref().map(|(i, p)| (*i, p.as_str()))
    }

    /// The field, e.g. `iam_user.region`, when the problem is in one field.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((i, p)) = &self.entry {
            write!(f, ": registry[{i}]")?;
            if !p.is_empty() {
                write!(f, " (pattern {p:?})")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
