//! Registry entries and the files they come from.
//!
//! An entry is a [`MatchPattern`] plus a [`CredentialSource`]. A configuration file lists
//! entries in order; the order breaks ties between equally specific patterns.
//!
//! TOML (JSON has the same shape: `{"registry": [{...}, ...]}`):
//!
//! ```toml
//! [[registry]]
//! pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
//! [registry.iam_user]
//! access_key_id = "AKIAIOSFODNN7EXAMPLE"
//! secret_access_key = { env = "ECR_SECRET_ACCESS_KEY" }   # or "inline", or { file = "secret.txt" }
//! region = "us-east-1"
//!
//! [[registry]]
//! pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*"
//! [registry.instance_role]
//! role_name = "ValohaiWorkerRole"
//! region = "us-east-1"
//! assume_role_arn = "arn:aws:iam::123456789012:role/ecr-pull-my-repo"  # optional
//! external_id = "my-repo-pulls"                                         # optional
//! ```
//!
//! The platform's own export, a JSON list of
//! `{"type": "aws_ecr" | "aws_ecr_role", "image_pattern": "...", "configuration": {...}}`, is
//! read as well: [`RegistryConfig::from_json_str`] tells the two JSON shapes apart.
//!
//! A secret (`secret_access_key`, `external_id` is not one) is written inline, as
//! `{ env = "NAME" }`, or as `{ file = "PATH" }` (relative to the configuration file; one
//! trailing newline is dropped), so a file can be committed without it. Secrets are read when
//! the file is loaded and held as [`SecretString`] from then on.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::ecr::EcrHost;
use crate::pattern::MatchPattern;
use crate::scope::EntryScope;
use crate::Error;

/// One registry entry: which images it serves and where its credentials come from.
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

/// Where an entry's AWS credentials come from: the seed's two options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CredentialSource {
    /// An IAM user's long-lived access key.
    IamUser(IamUser),
    /// The worker's EC2 instance role, optionally with a dedicated role assumed on top.
    InstanceRole(InstanceRole),
}

impl CredentialSource {
    /// The AWS region the entry names.
    pub fn region(&self) -> &str {
        match self {
            CredentialSource::IamUser(u) => &u.region,
            CredentialSource::InstanceRole(r) => &r.region,
        }
    }

    /// `iam_user` or `instance_role`, as in the configuration file.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSource::IamUser(_) => "iam_user",
            CredentialSource::InstanceRole(_) => "instance_role",
        }
    }
}

/// An IAM user's access key (seed option 1).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IamUser {
    /// The access key id, e.g. `AKIAIOSFODNN7EXAMPLE`; not a secret, shown in errors.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretString,
    /// The region of the registry, e.g. `us-east-1`.
    pub region: String,
}

impl IamUser {
    /// An IAM user source from its parts.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: SecretString,
        region: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key,
            region: region.into(),
        }
    }
}

/// The worker's instance role (seed option 2).
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
    secrets_read: bool,
}

impl RegistryConfig {
    /// Validates entries given in code: duplicate patterns are an error, a region that disagrees
    /// with a literal ECR host is a warning.
    pub fn from_entries(entries: Vec<RegistryEntry>) -> Result<Self, ConfigError> {
        Self::validated(entries, "<entries>", "pattern")
    }

    /// Reads a `.toml` or `.json` file (either JSON shape), secrets included.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::load_with(path.as_ref(), true)
    }

    /// Reads a file for its patterns only: secrets given as `{ env }` or `{ file }` are checked
    /// for shape but not read, so `explain` works where the secrets are not at hand. A resolver
    /// refuses a configuration loaded this way.
    pub fn load_patterns(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::load_with(path.as_ref(), false)
    }

    /// Whether secrets were read (false after [`load_patterns`](Self::load_patterns)).
    pub fn has_secrets(&self) -> bool {
        self.secrets_read
    }

    fn load_with(path: &Path, read_secrets: bool) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        let mut origin = Origin::file(path);
        origin.read_secrets = read_secrets;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let config = if is_json {
            Self::parse_json(&text, &origin)
        } else if is_toml {
            Self::parse_toml(&text, &origin)
        } else {
            Err(origin.error(
                None,
                None,
                "unknown file type; name the file *.toml or *.json".into(),
            ))
        }?;
        let mut config = config;
        if let Some(w) = readable_secrets_warning(path, origin.inline_secrets.get()) {
            tracing::warn!("{w}");
            config.warnings.push(w);
        }
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors (a file name, or e.g. `<stdin>`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_toml(text, &Origin::named(origin))
    }

    /// Parses JSON text, either `{"registry": [...]}` or the platform's export list.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_json(text, &Origin::named(origin))
    }

    /// The entries, in configuration order.
    pub fn entries(&self) -> &[RegistryEntry] {
        &self.entries
    }

    /// Things that work but are probably mistakes; each was also logged with `tracing::warn!`.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    fn parse_toml(text: &str, origin: &Origin) -> Result<Self, ConfigError> {
        let value: toml::Value = toml::from_str(text).map_err(|e| {
            origin.error(
                None,
                None,
                format!("not valid TOML: {}", e.message().trim()),
            )
        })?;
        let value = serde_json::to_value(value)
            .map_err(|e| origin.error(None, None, format!("not valid TOML: {e}")))?;
        Self::from_value(value, origin)
    }

    fn parse_json(text: &str, origin: &Origin) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| origin.error(None, None, format!("not valid JSON: {e}")))?;
        Self::from_value(value, origin)
    }

    fn from_value(value: Value, origin: &Origin) -> Result<Self, ConfigError> {
        let mut pattern_field = "pattern";
        let entries = match value {
            Value::Array(items) => {
                pattern_field = "image_pattern";
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| parse_export_entry(v, &origin.entry(i, v, "image_pattern")))
                    .collect::<Result<Vec<_>, _>>()?
            }
            Value::Object(mut top) => {
                let list = top.remove("registry");
                if let Some(key) = top.keys().next() {
                    return Err(origin.error(
                        None,
                        None,
                        format!(
                            "unknown top-level key `{key}`; entries go in `[[registry]]` tables"
                        ),
                    ));
                }
                match list {
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| parse_entry(v, &origin.entry(i, v, "pattern")))
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => {
                        return Err(origin.error(
                            None,
                            Some("registry"),
                            "must be a list of entries (`[[registry]]` in TOML)".into(),
                        ))
                    }
                    None => Vec::new(),
                }
            }
            _ => {
                return Err(origin.error(
                    None,
                    None,
                    "must be a table with `registry` entries, or a JSON list".into(),
                ))
            }
        };
        let mut config = Self::validated(entries, &origin.name, pattern_field)?;
        config.secrets_read = origin.read_secrets;
        Ok(config)
    }

    /// `pattern_field` names the pattern's field in errors: `pattern`, or `image_pattern` in the
    /// platform's export.
    fn validated(
        entries: Vec<RegistryEntry>,
        origin: &str,
        pattern_field: &str,
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
                field: Some(pattern_field.into()),
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
            secrets_read: true,
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

/// A file holding inline secret keys should be readable by its owner alone.
fn readable_secrets_warning(path: &Path, inline_secrets: usize) -> Option<ConfigWarning> {
    use std::os::unix::fs::PermissionsExt;
    if inline_secrets == 0 {
        return None;
    }
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| ConfigWarning {
        index: 0,
        message: format!(
            "{}: holds {inline_secrets} inline secret access key(s) and is readable or writable by group or others (mode {mode:04o}): run chmod 600 on it, or move the secrets out with {{ env = \"NAME\" }} or {{ file = \"PATH\" }}",
            path.display()
        ),
    })
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
        if let Some(region) = host.region() {
            if region != e.source.region() {
                warnings.push(ConfigWarning {
                    index: i,
                    message: format!(
                        "{origin}: registry[{i}] (pattern {:?}): region {} disagrees with the host's region {region}; tokens are requested in {region}, the host's region. Set region = \"{region}\" to silence this",
                        e.pattern.as_str(),
                        e.source.region()
                    ),
                });
            }
        }
    }
    warnings
}

/// Where configuration came from, for error messages.
struct Origin {
    name: String,
    dir: Option<PathBuf>,
    /// False for [`RegistryConfig::load_patterns`]: `env`/`file` secrets are checked for shape
    /// but not read.
    read_secrets: bool,
    /// Secret access keys written inline, counted to warn about a file others can read.
    inline_secrets: std::cell::Cell<usize>,
}

/// One entry being parsed, for error messages.
struct EntryCtx<'a> {
    origin: &'a Origin,
    index: usize,
    pattern: String,
}

impl Origin {
    fn file(path: &Path) -> Self {
        Self {
            name: path.display().to_string(),
            dir: path.parent().map(Path::to_path_buf),
            read_secrets: true,
            inline_secrets: Default::default(),
        }
    }

    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            dir: None,
            read_secrets: true,
            inline_secrets: Default::default(),
        }
    }

    fn entry(&self, index: usize, v: &Value, pattern_key: &str) -> EntryCtx<'_> {
        let pattern = v
            .get(pattern_key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        EntryCtx {
            origin: self,
            index,
            pattern,
        }
    }

    fn error(
        &self,
        entry: Option<&EntryCtx<'_>>,
        field: Option<&str>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            origin: self.name.clone(),
            entry: entry.map(|e| (e.index, e.pattern.clone())),
            field: field.map(str::to_owned),
            message,
        }
    }
}

impl EntryCtx<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> ConfigError {
        self.origin.error(Some(self), Some(field), message.into())
    }

    fn object<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.error(field, "must be a table (an object in JSON)"))
    }

    fn only_keys(
        &self,
        map: &Map<String, Value>,
        allowed: &[&str],
        field: &str,
    ) -> Result<(), ConfigError> {
        match map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => {
                let at = if field.is_empty() {
                    k.clone()
                } else {
                    format!("{field}.{k}")
                };
                Err(self.error(
                    &at,
                    format!("unknown field; expected one of: {}", allowed.join(", ")),
                ))
            }
            None => Ok(()),
        }
    }

    fn string(
        &self,
        map: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<String, ConfigError> {
        match self.opt_string(map, key, field)? {
            Some(s) => Ok(s),
            None => Err(self.error(&join(field, key), "is required")),
        }
    }

    fn opt_string(
        &self,
        map: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, ConfigError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(self.error(&join(field, key), "is empty"))
            }
            Some(Value::String(s)) if s.trim() != s => Err(self.error(
                &join(field, key),
                "has leading or trailing whitespace; remove it",
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(&join(field, key), "must be a string")),
        }
    }

    fn region(&self, map: &Map<String, Value>, field: &str) -> Result<String, ConfigError> {
        let region = self.string(map, "region", field)?;
        if is_region(&region) {
            Ok(region)
        } else {
            Err(self.error(
                &join(field, "region"),
                format!("{region:?} is not an AWS region; write one like us-east-1"),
            ))
        }
    }

    /// A secret written inline, as `{ env = "NAME" }` or as `{ file = "PATH" }`.
    fn secret(
        &self,
        map: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<SecretString, ConfigError> {
        let at = join(field, key);
        let text = match map.get(key) {
            None | Some(Value::Null) => return Err(self.error(&at, "is required")),
            Some(Value::String(s)) => {
                if key == "secret_access_key" {
                    self.origin
                        .inline_secrets
                        .set(self.origin.inline_secrets.get() + 1);
                }
                s.clone()
            }
            // Exactly one of `env` and `file`: checked before anything is read, so that
            // `load_patterns` (which reads nothing) refuses the same shapes as `load`.
            Some(Value::Object(o))
                if !(o.len() == 1 && (o.contains_key("env") || o.contains_key("file"))) =>
            {
                return Err(self.error(
                    &at,
                    "must be a string, { env = \"NAME\" } or { file = \"PATH\" }",
                ))
            }
            Some(Value::Object(o)) if o.values().any(|v| v.as_str().is_none_or(str::is_empty)) => {
                return Err(self.error(
                    &at,
                    "names an empty or non-string environment variable or file",
                ))
            }
            Some(Value::Object(_)) if !self.origin.read_secrets => {
                return Ok(SecretString::from(""))
            }
            Some(Value::Object(o)) if o.len() == 1 && o.contains_key("env") => {
                let name = o["env"].as_str().unwrap_or("");
                std::env::var(name).map_err(|_| {
                    self.error(&at, format!("environment variable {name:?} is not set (or not UTF-8); export it, or write the secret another way"))
                })?
            }
            Some(Value::Object(o)) if o.len() == 1 && o.contains_key("file") => {
                let name = o["file"].as_str().unwrap_or("");
                let path = match &self.origin.dir {
                    Some(dir) => dir.join(name),
                    None => PathBuf::from(name),
                };
                let mut s = std::fs::read_to_string(&path).map_err(|e| {
                    self.error(
                        &at,
                        format!("cannot read secret file {}: {e}", path.display()),
                    )
                })?;
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                s
            }
            Some(_) => {
                return Err(self.error(
                    &at,
                    "must be a string, { env = \"NAME\" } or { file = \"PATH\" }",
                ))
            }
        };
        if text.trim().is_empty() {
            return Err(self.error(&at, "is empty"));
        }
        Ok(SecretString::from(text))
    }

    fn pattern(&self, map: &Map<String, Value>, key: &str) -> Result<MatchPattern, ConfigError> {
        let raw = match map.get(key) {
            Some(Value::String(s)) => s,
            Some(_) => return Err(self.error(key, "must be a string")),
            None => return Err(self.error(key, "is required")),
        };
        MatchPattern::parse(raw).map_err(|e| self.error(key, e.to_string()))
    }
}

fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_owned()
    } else {
        format!("{field}.{key}")
    }
}

/// A plausible AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`.
pub(crate) fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    first_ok
        && rest.len() >= 2
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && rest
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// `{ pattern, iam_user = {...} | instance_role = {...} }`
fn parse_entry(v: &Value, cx: &EntryCtx<'_>) -> Result<RegistryEntry, ConfigError> {
    let map = cx.object(v, "registry")?;
    cx.only_keys(
        map,
        &[
            "pattern",
            "iam_user",
            "instance_role",
            "owner",
            "environments",
        ],
        "",
    )?;
    let pattern = cx.pattern(map, "pattern")?;
    let source = match (map.get("iam_user"), map.get("instance_role")) {
        (Some(u), None) => {
            let u = cx.object(u, "iam_user")?;
            cx.only_keys(u, &["access_key_id", "secret_access_key", "region"], "iam_user")?;
            iam_user(u, cx, "iam_user")?
        }
        (None, Some(r)) => {
            let r = cx.object(r, "instance_role")?;
            cx.only_keys(
                r,
                &["role_name", "region", "assume_role_arn", "external_id", "session_name"],
                "instance_role",
            )?;
            instance_role(r, cx, "instance_role")?
        }
        (Some(_), Some(_)) => {
            return Err(cx.error(
                "iam_user",
                "an entry has one credential source: keep either iam_user or instance_role",
            ))
        }
        (None, None) => {
            return Err(cx.error(
                "iam_user",
                "the entry has no credential source: add an [registry.iam_user] or [registry.instance_role] table",
            ))
        }
    };
    Ok(RegistryEntry {
        pattern,
        source,
        scope: scope(map, cx)?,
    })
}

/// `owner = "ORG"` and `environments = ["ENV", ...]`, both optional.
fn scope(map: &Map<String, Value>, cx: &EntryCtx<'_>) -> Result<EntryScope, ConfigError> {
    let owner = cx.opt_string(map, "owner", "")?;
    let environments = match map.get("environments") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(cx.error(
                    "environments",
                    "is an empty list, so no job could use the entry; remove it to allow every environment, or name the environments",
                ));
            }
            let mut envs = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                match item.as_str().map(str::trim) {
                    Some(env) if !env.is_empty() && item.as_str() == Some(env) => {
                        envs.push(env.to_owned())
                    }
                    _ => {
                        return Err(cx.error(
                            &format!("environments[{k}]"),
                            "must be a non-empty environment name without surrounding whitespace",
                        ))
                    }
                }
            }
            Some(envs)
        }
        Some(_) => {
            return Err(cx.error(
                "environments",
                "must be a list of environment names, e.g. [\"gpu-prod\"]",
            ))
        }
    };
    Ok(EntryScope {
        owner,
        environments,
    })
}

/// The platform's export: `{"type", "image_pattern", "configuration"}`.
fn parse_export_entry(v: &Value, cx: &EntryCtx<'_>) -> Result<RegistryEntry, ConfigError> {
    let map = cx.object(v, "entry")?;
    cx.only_keys(
        map,
        &[
            "type",
            "image_pattern",
            "configuration",
            "owner",
            "environments",
        ],
        "",
    )?;
    let pattern = cx.pattern(map, "image_pattern")?;
    let kind = cx.string(map, "type", "")?;
    let conf = cx.object(
        map.get("configuration")
            .ok_or_else(|| cx.error("configuration", "is required"))?,
        "configuration",
    )?;
    let source = match kind.as_str() {
        "aws_ecr" => {
            cx.only_keys(conf, &["access_key_id", "secret_access_key", "region"], "configuration")?;
            iam_user(conf, cx, "configuration")?
        }
        "aws_ecr_role" => {
            cx.only_keys(
                conf,
                &["role_name", "region", "assume_role_arn", "external_id", "session_name"],
                "configuration",
            )?;
            instance_role(conf, cx, "configuration")?
        }
        other => {
            return Err(cx.error(
                "type",
                format!("{other:?} is not a registry type this crate knows; use \"aws_ecr\" (IAM user) or \"aws_ecr_role\" (instance role)"),
            ))
        }
    };
    Ok(RegistryEntry {
        pattern,
        source,
        scope: scope(map, cx)?,
    })
}

fn iam_user(
    m: &Map<String, Value>,
    cx: &EntryCtx<'_>,
    field: &str,
) -> Result<CredentialSource, ConfigError> {
    let access_key_id = cx
        .secret(m, "access_key_id", field)?
        .expose_secret()
        .to_owned();
    if cx.origin.read_secrets && !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(cx.error(
            &join(field, "access_key_id"),
            "holds characters an AWS access key id never has (letters and digits only, e.g. AKIAIOSFODNN7EXAMPLE)",
        ));
    }
    Ok(CredentialSource::IamUser(IamUser {
        access_key_id,
        secret_access_key: cx.secret(m, "secret_access_key", field)?,
        region: cx.region(m, field)?,
    }))
}

fn instance_role(
    m: &Map<String, Value>,
    cx: &EntryCtx<'_>,
    field: &str,
) -> Result<CredentialSource, ConfigError> {
    let role_name = cx.string(m, "role_name", field)?;
    if role_name.contains(['/', ':']) {
        return Err(cx.error(
            &join(field, "role_name"),
            format!("{role_name:?} looks like an ARN or path; give the role's name only (e.g. ValohaiWorkerRole), and a role to assume as assume_role_arn"),
        ));
    }
    let region = cx.region(m, field)?;
    let assume_role = match cx.opt_string(m, "assume_role_arn", field)? {
        Some(arn) => {
            if !is_role_arn(&arn) {
                return Err(cx.error(
                    &join(field, "assume_role_arn"),
                    format!("{arn:?} is not an IAM role ARN; write arn:aws:iam::ACCOUNT:role/NAME"),
                ));
            }
            Some(AssumeRole {
                role_arn: arn,
                external_id: cx.opt_string(m, "external_id", field)?,
                session_name: cx.opt_string(m, "session_name", field)?,
            })
        }
        None => {
            for key in ["external_id", "session_name"] {
                if m.contains_key(key) {
                    return Err(cx.error(
                        &join(field, key),
                        "only applies with assume_role_arn; add the role to assume, or remove this",
                    ));
                }
            }
            None
        }
    };
    Ok(CredentialSource::InstanceRole(InstanceRole {
        role_name,
        region,
        assume_role,
    }))
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

/// A configuration that cannot be used: the file, the entry, the field, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    entry: Option<(usize, String)>,
    field: Option<String>,
    message: String,
}

impl ConfigError {
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
