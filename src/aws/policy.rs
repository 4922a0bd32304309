//! Least-privilege IAM pull policies: the `valohai-ecr-policy` of the Valohai ECR guide, for one repository or for
//! every entry of a configuration.
//!
//! A pull needs two statements: the read actions on the repositories
//! (`arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME`), and `ecr:GetAuthorizationToken`, which
//! IAM only grants on `*`.
//!
//! ```
//! use registry_auth::aws::policy::PullPolicy;
//!
//! let policy = PullPolicy::for_repository("us-east-1", "123456789012", "my-ml-image")?;
//! assert_eq!(
//!     policy.resources(),
//!     ["arn:aws:ecr:us-east-1:123456789012:repository/my-ml-image"]
//! );
//! assert!(policy.to_json_pretty().contains("\"ecr:GetAuthorizationToken\""));
//! # Ok::<(), registry_auth::aws::policy::PolicyError>(())
//! ```
//!
//! For a configuration, each pattern becomes repository ARNs with wildcards only where the
//! pattern has them:
//!
//! | pattern | resources |
//! | --- | --- |
//! | `123456789012.dkr.ecr.us-east-1.amazonaws.com/*` | `…:123456789012:repository/*` |
//! | `…amazonaws.com/team/*` | `…:repository/team/*` |
//! | `…amazonaws.com/team` (no wildcard: the repository and below it) | `…:repository/team`, `…:repository/team/*` |
//! | `…amazonaws.com/team:v1` (IAM cannot pin tags: a note says so) | `…:repository/team` |
//! | `*.dkr.ecr.*.amazonaws.com/*` | `arn:aws:ecr:*:*:repository/*` |
//! | `123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/*` | `arn:aws-cn:ecr:cn-north-1:…` |
//!
//! A wildcard host label keeps its glob in the ARN's account or region (`us-*` stays `us-*`).
//! Hosts that are not private ECR registries are skipped with a note. A region wildcard on a
//! commercial suffix (`amazonaws.com`) is written for the `aws` partition; GovCloud patterns
//! say `us-gov-*`. IAM policies live in one partition, so [`ConfigPolicy`] holds one policy per
//! partition the entries name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::{EcrHost, Partition};
use crate::config::RegistryConfig;
use crate::pattern::{label_matches, HostPattern, MatchPattern, PathPattern};

/// The read actions of the Valohai guide's `valohai-ecr-policy`, in its order: everything a pull (and a look around the
/// repository) needs, nothing that writes.
pub const READ_ACTIONS: [&str; 11] = [
    "ecr:DescribeImageScanFindings",
    "ecr:GetLifecyclePolicyPreview",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:ListTagsForResource",
    "ecr:ListImages",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetRepositoryPolicy",
    "ecr:GetLifecyclePolicy",
];

/// The action that mints registry tokens; IAM grants it only on resource `*`.
pub const TOKEN_ACTION: &str = "ecr:GetAuthorizationToken";

/// A pull policy for one AWS partition: the read actions on some repositories, and the token
/// action on `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullPolicy {
    partition: Partition,
    resources: Vec<String>,
}

impl PullPolicy {
    /// The `valohai-ecr-policy` for one repository (`REPOSITORY` may hold the pattern wildcards `*`
    /// and `?`). The partition follows from the region (`cn-north-1` is `aws-cn`).
    pub fn for_repository(
        region: &str,
        account: &str,
        repository: &str,
    ) -> Result<Self, PolicyError> {
        if !super::is_region(region) {
            return Err(PolicyError::new(
                "region",
                region,
                "is not an AWS region; write one like us-east-1",
            ));
        }
        if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
            return Err(PolicyError::new(
                "account",
                account,
                "is not an AWS account id (12 digits)",
            ));
        }
        // The repository grammar is the pattern path grammar without `:TAG` / `@DIGEST`.
        let pattern = MatchPattern::parse(&format!(
            "{account}.dkr.ecr.{region}.amazonaws.com/{repository}"
        ));
        match pattern.as_ref().map(MatchPattern::path_pattern) {
            Ok(PathPattern::Repository(_)) | Ok(PathPattern::Glob { versioned: false, .. })
                if !repository.is_empty() => {}
            Ok(_) => {
                return Err(PolicyError::new(
                    "repository",
                    repository,
                    "must be a repository name without :TAG or @DIGEST (IAM cannot restrict those)",
                ))
            }
            Err(_) => {
                return Err(PolicyError::new(
                    "repository",
                    repository,
                    "is not a repository name (lowercase letters, digits, `.`, `_`, `-`, `/`, and the wildcards `*` and `?`)",
                ))
            }
        }
        let partition = partition_of_region(region);
        Ok(Self {
            partition,
            resources: vec![arn(partition, region, account, repository)],
        })
    }

    /// The partition the ARNs belong to.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The repository ARNs the read statement names, sorted.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The policy document, pretty-printed the way the Valohai guide writes it (2-space indent, `Version`
    /// first, `Resource` a string when there is one).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.document()).unwrap_or_default()
    }

    /// The statement that grants the read actions on the repositories alone, pretty-printed
    /// as in [`to_json_pretty`](Self::to_json_pretty): what a principal that already mints
    /// tokens needs to pull.
    pub fn read_statement_pretty(&self) -> String {
        let [read, _] = self.document().statement;
        serde_json::to_string_pretty(&read).unwrap_or_default()
    }

    /// The policy document as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.document()).unwrap_or_default()
    }

    fn document(&self) -> Document<'_> {
        Document {
            version: "2012-10-17",
            statement: [
                Statement {
                    sid: "ReadECRRepository",
                    effect: "Allow",
                    action: OneOrMany::Many(READ_ACTIONS.to_vec()),
                    resource: one_or_many(&self.resources),
                },
                Statement {
                    sid: "GetECRAuthToken",
                    effect: "Allow",
                    action: OneOrMany::One(TOKEN_ACTION),
                    resource: OneOrMany::One("*"),
                },
            ],
        }
    }
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Statement")]
    statement: [Statement<'a>; 2],
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "Sid")]
    sid: &'static str,
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Action")]
    action: OneOrMany<'a>,
    #[serde(rename = "Resource")]
    resource: OneOrMany<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    One(&'a str),
    Many(Vec<&'a str>),
}

fn one_or_many(items: &[String]) -> OneOrMany<'_> {
    match items {
        [one] => OneOrMany::One(one),
        many => OneOrMany::Many(many.iter().map(String::as_str).collect()),
    }
}

/// The pull policies for a whole configuration: one per partition, plus what was left out and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPolicy {
    /// One policy per partition the entries name, sorted by partition id.
    pub policies: Vec<PullPolicy>,
    /// Entries skipped (not private ECR) and grants wider than the pattern (tags, digests), one
    /// sentence each, for stderr.
    pub notes: Vec<String>,
}

impl ConfigPolicy {
    /// The policies for `patterns`, in configuration order (the order only affects notes).
    pub fn for_patterns<'a, I>(patterns: I) -> Self
    where
        I: IntoIterator<Item = &'a MatchPattern>,
    {
        let mut by_partition: BTreeMap<&'static str, (Partition, BTreeSet<String>)> =
            BTreeMap::new();
        let mut notes = Vec::new();
        for (i, pattern) in patterns.into_iter().enumerate() {
            let registries = match registries(pattern) {
                Ok(r) => r,
                Err(why) => {
                    notes.push(format!("entry [{i}] {pattern}: skipped: {why}"));
                    continue;
                }
            };
            let (repositories, note) = repositories(pattern.path_pattern());
            if let Some(note) = note {
                notes.push(format!("entry [{i}] {pattern}: {note}"));
            }
            for r in &registries {
                let set = &mut by_partition
                    .entry(r.partition.as_str())
                    .or_insert_with(|| (r.partition, BTreeSet::new()))
                    .1;
                for repo in &repositories {
                    set.insert(arn(r.partition, &r.region, &r.account, repo));
                }
            }
        }
        let policies = by_partition
            .into_values()
            .map(|(partition, arns)| PullPolicy {
                partition,
                resources: without_covered(arns),
            })
            .collect();
        Self { policies, notes }
    }

    /// The policies for every entry of `config` (no secret is read).
    pub fn for_config(config: &RegistryConfig) -> Self {
        Self::for_patterns(config.entries().iter().map(|e| &e.pattern))
    }

    /// The policy for one partition id (`aws`, `aws-cn`, ...), if the entries name it.
    pub fn partition(&self, id: &str) -> Option<&PullPolicy> {
        self.policies.iter().find(|p| p.partition.as_str() == id)
    }
}

/// Input that no policy can be written for: which argument, its value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    field: &'static str,
    value: String,
    message: String,
}

impl PolicyError {
    fn new(field: &'static str, value: &str, message: &str) -> Self {
        Self {
            field,
            value: value.to_owned(),
            message: message.to_owned(),
        }
    }

    /// The argument that is wrong: `region`, `account` or `repository`.
    pub fn field(&self) -> &str {
        self.field
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} {}", self.field, self.value, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// `arn:PARTITION:ecr:REGION:ACCOUNT:repository/REPOSITORY`
fn arn(partition: Partition, region: &str, account: &str, repository: &str) -> String {
    format!("arn:{partition}:ecr:{region}:{account}:repository/{repository}")
}

/// The partition a region belongs to, by AWS's region naming.
pub fn partition_of_region(region: &str) -> Partition {
    let prefixed = |p: &str| region.starts_with(p);
    if prefixed("cn-") {
        Partition::AwsCn
    } else if prefixed("us-gov-") {
        Partition::AwsUsGov
    } else if prefixed("us-isob-") {
        Partition::AwsIsoB
    } else if prefixed("us-isof-") {
        Partition::AwsIsoF
    } else if prefixed("us-iso-") {
        Partition::AwsIso
    } else if prefixed("eu-isoe-") {
        Partition::AwsIsoE
    } else if prefixed("eusc-") {
        Partition::AwsEusc
    } else {
        Partition::Aws
    }
}

/// Why a literal host that is not ECR gets no statement. `policy` writes AWS IAM only; a Google
/// or Azure registry grants pulls in its own cloud, and the note names the role there.
fn other_cloud(host: &str) -> &'static str {
    #[cfg(feature = "gcp")]
    if crate::gcp::GcpHost::parse(host).is_some() {
        return "a Google registry, and `policy` writes AWS IAM policies only: grant the service account roles/artifactregistry.reader (Artifact Registry) or roles/storage.objectViewer (Container Registry) in Google Cloud IAM";
    }
    #[cfg(feature = "azure")]
    if crate::azure::AcrHost::parse(host).is_some() {
        return "an Azure Container Registry, and `policy` writes AWS IAM policies only: assign the identity the AcrPull role on the registry in Azure";
    }
    let _ = host;
    "not an ECR host, so IAM has nothing to grant for it"
}

/// One private registry, or a family of them when host labels are wildcards, as ARN parts.
struct RegistryParts {
    partition: Partition,
    region: String,
    account: String,
}

/// The private ECR registries a pattern's host can name, or why it names none.
fn registries(pattern: &MatchPattern) -> Result<Vec<RegistryParts>, &'static str> {
    match pattern.host_pattern() {
        HostPattern::Literal(host) => match EcrHost::parse(host) {
            None => Err(other_cloud(host)),
            Some(h) if h.is_public() => Err("ECR Public has no repository to grant: for authenticated pulls, give the principal ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken on *"),
            Some(h) => Ok(vec![RegistryParts {
                partition: h.partition(),
                region: h.region().unwrap_or("*").to_owned(),
                account: h.account_id().unwrap_or("*").to_owned(),
            }]),
        },
        HostPattern::Labels(labels) => {
            let found = wildcard_registries(labels);
            if found.is_empty() {
                Err("its host pattern matches no ECR host name")
            } else {
                Ok(found)
            }
        }
    }
}

/// ECR host name layouts after the account label (with [`super::host::SUFFIXES`], as
/// [`EcrHost::parse`] accepts them; each candidate is checked with it).
const SEPARATORS: [&[&str]; 4] = [
    &["dkr", "ecr"],
    &["dkr", "ecr-fips"],
    &["dkr-ecr"],
    &["dkr-ecr-fips"],
];

/// Every (partition, region glob, account glob) a wildcard host pattern can stand for: the
/// pattern is laid over each ECR host layout with the same label count; fixed labels must
/// match, the account and region labels are kept as globs.
fn wildcard_registries(labels: &[Box<str>]) -> Vec<RegistryParts> {
    // Keyed by (partition id, region, account): several layouts can give the same ARN parts.
    let mut found = BTreeMap::new();
    for sep in SEPARATORS {
        for (suffix, _, _) in super::host::SUFFIXES {
            let suffix: Vec<&str> = suffix.split('.').collect();
            if labels.len() != 1 + sep.len() + 1 + suffix.len() {
                continue;
            }
            let account = &labels[0];
            let region = &labels[1 + sep.len()];
            let fixed = sep.iter().chain(&suffix);
            let fixed_labels = labels[1..1 + sep.len()]
                .iter()
                .chain(&labels[2 + sep.len()..]);
            if !fixed
                .zip(fixed_labels)
                .all(|(f, l)| label_matches(l.as_bytes(), f.as_bytes()))
            {
                continue;
            }
            let (Some(account_example), region_example) = (fill_account(account), fill(region))
            else {
                continue;
            };
            let host = format!(
                "{account_example}.{}.{region_example}.{}",
                sep.join("."),
                suffix.join(".")
            );
            if let Some(h) = EcrHost::parse(&host).filter(|h| !h.is_public()) {
                let p = h.partition();
                found.insert((p.as_str(), region.to_string(), account.to_string()), p);
            }
        }
    }
    found
        .into_iter()
        .map(|((_, region, account), partition)| RegistryParts {
            partition,
            region,
            account,
        })
        .collect()
}

/// An example of what a region glob matches: each `*` becomes `x` (`us-*` → `us-x`).
fn fill(glob: &str) -> String {
    glob.replace('*', "x")
}

/// An example 12-digit account an account glob matches, if there is one.
fn fill_account(glob: &str) -> Option<String> {
    let literal = glob.bytes().filter(|&b| b != b'*').count();
    if literal > 12 || !glob.bytes().all(|b| b == b'*' || b.is_ascii_digit()) {
        return None;
    }
    let padding = "0".repeat(12 - literal);
    let filled = glob.replacen('*', &padding, 1).replace('*', "");
    (filled.len() == 12).then_some(filled)
}

/// The repository globs a pattern's path covers, and a note when IAM must grant more than the
/// pattern serves.
fn repositories(path: &PathPattern) -> (Vec<String>, Option<String>) {
    const TAGS: &str =
        "IAM cannot restrict tags or digests, so the policy grants the whole repository";
    match path {
        PathPattern::Any => (vec!["*".to_owned()], None),
        PathPattern::Repository(repo) => (vec![repo.to_string(), format!("{repo}/*")], None),
        PathPattern::Exact(text) => (vec![repository_part(text).to_owned()], Some(TAGS.into())),
        PathPattern::Glob {
            text,
            versioned: false,
            ..
        } => (vec![text.to_string()], None),
        PathPattern::Glob {
            text,
            versioned: true,
            ..
        } => (vec![repository_part(text).to_owned()], Some(TAGS.into())),
    }
}

/// `REPOSITORY` of `REPOSITORY[:TAG][@DIGEST]`.
fn repository_part(text: &str) -> &str {
    text.find([':', '@']).map_or(text, |i| &text[..i])
}

/// Drops ARNs that another ARN of the set already covers. Only `PREFIX*` ARNs (one trailing
/// `*`, no other wildcard) are taken to cover anything: `arn:…/*` covers `arn:…/team/*` when
/// the latter starts with `arn:…/`, which is exact (the shared prefix is literal in both).
fn without_covered(arns: BTreeSet<String>) -> Vec<String> {
    let prefixes: Vec<&str> = arns
        .iter()
        .filter_map(|a| a.strip_suffix('*'))
        .filter(|p| !p.contains(['*', '?']))
        .collect();
    arns.iter()
        .filter(|a| {
            !prefixes
                .iter()
                .any(|p| a.starts_with(p) && a.strip_prefix(p) != Some("*"))
        })
        .cloned()
        .collect()
}
