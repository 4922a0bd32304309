//! `registry-auth doctor`: checks the machine the docker helper or the kubelet plugin runs on,
//! one line per check, each a pass or a fail with the fix.
//!
//! | check | passes when |
//! | --- | --- |
//! | `config` | the configuration file (and why that one) loads |
//! | `registry[N] secrets` | every secret of entry N can be read (never shown) |
//! | `imds reachable` | the instance metadata service answers (only with `instance_role` entries) |
//! | `imds token` | it hands out an IMDSv2 session token |
//! | `imds role registry[N]` | the role it serves is entry N's `role_name` |
//! | `clock` | this machine's clock is within 5 minutes of the AWS endpoint's `Date` (with AWS entries) |
//! | `cache` | the disk token cache directory is this user's, `0700`, its files `0600` |
//! | `docker HOST` | the docker config names `registry-auth` for HOST (`credHelpers` or `credsStore`) |
//! | `docker helper` | `docker-credential-registry-auth` is on `PATH`, where docker looks for it |
//!
//! A check that does not apply (no instance-role entry, no docker config) is skipped, with the
//! reason. The doctor reads secrets only to see that they can be read, and prints none; of what
//! a metadata service or an endpoint answers it shows only a role name checked to be one and
//! the clock difference.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_config::imds::client::error::ImdsError;
use serde_json::{json, Value};

use super::{DiskChoice, Setup};
use crate::aws::EcrHost;
use crate::config::{CredentialSource, RegistryConfig, SecretSource};
use crate::http::Http;

/// The most the clock may be off before AWS refuses signatures (and tokens look expired).
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// The name docker runs the helper by, and the name the docker config gives it.
const HELPER: &str = "registry-auth";
const HELPER_BIN: &str = "docker-credential-registry-auth";
/// The most of a docker config read.
const MAX_DOCKER_CONFIG: u64 = 1024 * 1024;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Nothing to fix.
    Pass,
    /// Something to fix; the detail says what.
    Fail,
    /// The check does not apply here; the detail says why.
    Skip,
}

impl Status {
    /// `pass`, `fail` or `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// What was checked: `config`, `registry[0] secrets`, `imds role registry[1]`, `clock`, ...
    pub check: String,
    /// How it came out.
    pub status: Status,
    /// What was found, and the fix when it failed.
    pub detail: String,
}

impl Finding {
    fn new(check: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// Every finding, in the order checked; `Display` is the CLI's text output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One per check.
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.status != Status::Fail)
    }

    /// `{"checks": [{"check", "status", "detail"}], "passed": bool}`.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .findings
            .iter()
            .map(|f| json!({ "check": f.check, "status": f.status.as_str(), "detail": f.detail }))
            .collect();
        json!({ "checks": checks, "passed": self.passed() })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let mark = match finding.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            let mut lines = finding.detail.lines();
            writeln!(
                f,
                "{mark}  {}: {}",
                finding.check,
                lines.next().unwrap_or_default()
            )?;
            for line in lines {
                writeln!(f, "      {line}")?;
            }
        }
        let count = |s| self.findings.iter().filter(|f| f.status == s).count();
        write!(
            f,
            "{} check(s): {} passed, {} failed, {} skipped",
            self.findings.len(),
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skip)
        )
    }
}

/// What the doctor looks at: the setup the helper and the plugin would run with, why that
/// configuration file, and where docker's configuration is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The configuration, AWS settings (IMDS and endpoint) and disk store to check.
    pub setup: Setup,
    /// Why that configuration file: `--config`, `REGISTRY_AUTH_CONFIG`, the per-user or the
    /// system-wide file; empty when none was found.
    pub config_reason: String,
    /// The docker configuration file; `None` when neither `DOCKER_CONFIG` nor `HOME` is set.
    pub docker_config: Option<PathBuf>,
    /// Where programs are looked for (`PATH`).
    pub path: Option<OsString>,
}

impl Options {
    /// As the helper and the plugin would run on this machine: [`Setup::discover`] (the
    /// `--config` file when given, else the configuration search); docker's configuration from
    /// `DOCKER_CONFIG`, else `~/.docker`.
    pub fn from_env(config: Option<PathBuf>) -> Self {
        let setup = Setup::discover(config);
        let config_reason = match &setup.config {
            Ok(found) => found.reason.to_string(),
            Err(_) => String::new(),
        };
        let docker_config = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".docker"))
            })
            .map(|dir| dir.join("config.json"));
        Self {
            setup,
            config_reason,
            docker_config,
            path: std::env::var_os("PATH"),
        }
    }
}

/// Runs every check.
pub async fn run(options: &Options) -> Report {
    let mut findings = Vec::new();
    let config = check_config(options, &mut findings);
    if let Some(config) = &config {
        check_secrets(config, &mut findings);
        check_imds(options, config, &mut findings).await;
        check_clock(options, config, &mut findings).await;
    }
    findings.push(check_cache(&options.setup.disk));
    if let Some(config) = &config {
        check_docker(options, config, &mut findings);
    }
    Report { findings }
}

fn check_config(options: &Options, findings: &mut Vec<Finding>) -> Option<RegistryConfig> {
    let path = match &options.setup.config {
        Ok(found) => &found.path,
        Err(e) => {
            findings.push(Finding::new("config", Status::Fail, e.to_string()));
            return None;
        }
    };
    let why = &options.config_reason;
    match RegistryConfig::load(path) {
        Ok(config) => {
            let mut detail = format!(
                "{} ({why}): {} entr{}",
                path.display(),
                config.entries().len(),
                if config.entries().len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
            for w in config.warnings() {
                detail.push_str(&format!("\nwarning: {w}"));
            }
            findings.push(Finding::new("config", Status::Pass, detail));
            Some(config)
        }
        Err(e) => {
            findings.push(Finding::new(
                "config",
                Status::Fail,
                format!("{} ({why}) cannot be used: {e}", path.display()),
            ));
            None
        }
    }
}

/// Where a secret comes from, in words: never its value.
fn secret_origin(field: &str, secret: &SecretSource) -> String {
    match secret {
        SecretSource::Inline(_) => format!("{field} (inline)"),
        SecretSource::Env(name) => format!("{field} (environment variable {name})"),
        SecretSource::File(path) => format!("{field} (file {})", path.display()),
    }
}

fn check_secrets(config: &RegistryConfig, findings: &mut Vec<Finding>) {
    for (i, entry) in config.entries().iter().enumerate() {
        let name = format!("registry[{i}] secrets");
        let pattern = entry.pattern.as_str();
        let secrets: Vec<(&str, &SecretSource)> = match &entry.source {
            CredentialSource::IamUser(u) => {
                let mut s = vec![
                    ("access_key_id", &u.access_key_id),
                    ("secret_access_key", &u.secret_access_key),
                ];
                if let Some(t) = &u.session_token {
                    s.push(("session_token", t));
                }
                s
            }
            CredentialSource::Basic(b) => vec![("password", &b.password)],
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(g) => match &g.credential {
                crate::gcp::GcpCredential::KeyFile(key) => vec![("key_file", key)],
                _ => {
                    findings.push(Finding::new(
                        &name,
                        Status::Skip,
                        format!("{pattern}: no secret in the configuration: the metadata server gives tokens at run time (`registry-auth check --live` proves them)"),
                    ));
                    continue;
                }
            },
            #[cfg(feature = "azure")]
            CredentialSource::Azure(a) => match &a.credential {
                crate::azure::AzureCredential::ClientSecret(secret) => {
                    vec![("client_secret", secret)]
                }
                crate::azure::AzureCredential::ClientCertificate(certificate) => {
                    vec![("client_certificate", certificate)]
                }
                _ => {
                    findings.push(Finding::new(
                        &name,
                        Status::Skip,
                        format!("{pattern}: no secret in the configuration: the managed identity gives tokens at run time (`registry-auth check --live` proves them)"),
                    ));
                    continue;
                }
            },
            CredentialSource::WebIdentity(w) => {
                let finding = match &w.token_file {
                    Some(path) => match crate::files::read_text(path, 64 * 1024) {
                        Ok(t) if !t.trim().is_empty() => Finding::new(
                            &name,
                            Status::Pass,
                            format!("{pattern}: web identity token file {} is readable", path.display()),
                        ),
                        Ok(_) => Finding::new(
                            &name,
                            Status::Fail,
                            format!("{pattern}: web identity token file {} is empty: point token_file at the projected service-account token", path.display()),
                        ),
                        Err(e) => Finding::new(
                            &name,
                            Status::Fail,
                            format!("{pattern}: web identity token file {} cannot be read: {e}; point token_file at the projected service-account token", path.display()),
                        ),
                    },
                    None => Finding::new(
                        &name,
                        Status::Skip,
                        format!("{pattern}: no secret in the configuration: the kubelet sends the pod's service-account token with each request"),
                    ),
                };
                findings.push(finding);
                continue;
            }
            CredentialSource::InstanceRole(r) => {
                findings.push(Finding::new(
                    &name,
                    Status::Skip,
                    format!("{pattern}: no secret in the configuration: credentials come from instance role {} (see the imds checks)", r.role_name),
                ));
                continue;
            }
            _ => {
                findings.push(Finding::new(
                    &name,
                    Status::Skip,
                    format!("{pattern}: no secret in the configuration: the {} source finds credentials at run time (`registry-auth check --live` proves them)", entry.source.kind()),
                ));
                continue;
            }
        };
        let kind = entry.source.kind();
        let failures: Vec<String> = secrets
            .iter()
            .filter_map(|(field, secret)| secret.read(field).err().map(|e| format!("{kind}.{e}")))
            .collect();
        let origins: Vec<String> = secrets.iter().map(|(f, s)| secret_origin(f, s)).collect();
        findings.push(if failures.is_empty() {
            Finding::new(
                &name,
                Status::Pass,
                format!("{pattern}: {} can be read", origins.join(", ")),
            )
        } else {
            Finding::new(
                &name,
                Status::Fail,
                format!("{pattern}: {}", failures.join("; ")),
            )
        });
    }
}

/// Instance-role entries: position, pattern, role name.
fn instance_roles(config: &RegistryConfig) -> Vec<(usize, &str, &str)> {
    config
        .entries()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.source {
            CredentialSource::InstanceRole(r) => {
                Some((i, e.pattern.as_str(), r.role_name.as_str()))
            }
            _ => None,
        })
        .collect()
}

async fn check_imds(options: &Options, config: &RegistryConfig, findings: &mut Vec<Finding>) {
    let roles = instance_roles(config);
    if roles.is_empty() {
        findings.push(Finding::new(
            "imds",
            Status::Skip,
            "no instance_role entry: the instance metadata service is not needed",
        ));
        return;
    }
    // The client the instance-role provider asks with: same endpoint, endpoint mode,
    // timeouts and IMDSv2 token handling.
    let (client, endpoint) = match crate::aws::imds_client(None, &options.setup.aws, "the doctor") {
        Ok(c) => c,
        Err(e) => {
            findings.push(Finding::new("imds reachable", Status::Fail, e.to_string()));
            return;
        }
    };
    let skip = |findings: &mut Vec<Finding>, token: bool, why: &str| {
        if token {
            findings.push(Finding::new("imds token", Status::Skip, why));
        }
        for (i, _, _) in &roles {
            findings.push(Finding::new(
                format!("imds role registry[{i}]"),
                Status::Skip,
                why,
            ));
        }
    };
    let listed =
        crate::aws::without_sdk_trace(client.get("/latest/meta-data/iam/security-credentials/"))
            .await;
    let reachable = Finding::new(
        "imds reachable",
        Status::Pass,
        format!("{endpoint} answered"),
    );
    let token = Finding::new(
        "imds token",
        Status::Pass,
        format!("{endpoint} gave an IMDSv2 session token"),
    );
    let served: Result<Vec<String>, String> = match listed {
        Ok(list) => {
            findings.extend([reachable, token]);
            Ok(list
                .as_ref()
                .lines()
                .map(str::trim)
                .filter(|l| is_role_name(l))
                .map(str::to_owned)
                .collect())
        }
        Err(ImdsError::FailedToLoadToken(t)) if t.is_dispatch_failure() => {
            findings.push(Finding::new(
                "imds reachable",
                Status::Fail,
                format!("nothing answered at {endpoint}. The instance metadata service answers only on EC2 (or where AWS_EC2_METADATA_SERVICE_ENDPOINT points); in a container on EC2, raise the instance's metadata hop limit (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2)"),
            ));
            skip(
                findings,
                true,
                "the instance metadata service did not answer",
            );
            return;
        }
        Err(ImdsError::FailedToLoadToken(_)) => {
            findings.extend([
                reachable,
                Finding::new(
                    "imds token",
                    Status::Fail,
                    format!("{endpoint} gave no IMDSv2 session token: turn IMDSv2 on for the instance (aws ec2 modify-instance-metadata-options --http-endpoint enabled --http-tokens required)"),
                ),
            ]);
            skip(findings, false, "no IMDSv2 token to ask with");
            return;
        }
        Err(ImdsError::ErrorResponse(r)) => {
            findings.extend([reachable, token]);
            match r.response().status().as_u16() {
                404 => Ok(Vec::new()),
                status => Err(format!("HTTP {status}")),
            }
        }
        Err(_) => {
            findings.push(Finding::new(
                "imds reachable",
                Status::Fail,
                format!("{endpoint} did not answer usably (the connection failed or timed out, or the reply was not IMDS's); check AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            ));
            skip(
                findings,
                true,
                "the instance metadata service did not answer usably",
            );
            return;
        }
    };
    for (i, pattern, wanted) in roles {
        let name = format!("imds role registry[{i}]");
        let finding = match &served {
            Err(why) => Finding::new(
                name,
                Status::Fail,
                format!("{endpoint} did not list the instance's role ({why}); try again, or check the instance's metadata options"),
            ),
            Ok(served) if served.iter().any(|s| s == wanted) => Finding::new(
                name,
                Status::Pass,
                format!("{endpoint} serves role {wanted}, as registry[{i}] ({pattern}) expects"),
            ),
            Ok(served) if served.is_empty() => Finding::new(
                name,
                Status::Fail,
                format!("{endpoint} serves no role: the instance has no instance profile. Attach one holding {wanted}, which registry[{i}] ({pattern}) names"),
            ),
            Ok(served) => Finding::new(
                name,
                Status::Fail,
                format!(
                    "{endpoint} serves role {}, but registry[{i}] ({pattern}) names {wanted}: set role_name = \"{}\" in the entry, or give the instance a profile holding {wanted}",
                    served.join(", "),
                    served[0]
                ),
            ),
        };
        findings.push(finding);
    }
}

/// An IAM role name: 1 to 64 of `[\w+=,.@-]`. Only such a line of IMDS's answer is shown.
fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// Whether the source's calls are signed with SigV4, which fails past [`MAX_SKEW`].
fn signs_with_aws(source: &CredentialSource) -> bool {
    matches!(
        source,
        CredentialSource::IamUser(_)
            | CredentialSource::InstanceRole(_)
            | CredentialSource::AwsChain(_)
            | CredentialSource::WebIdentity(_)
    )
}

/// The endpoint whose `Date` the clock is compared with: where ECR calls go (an endpoint URL
/// set for AWS), else the ECR API of the first region the entries name.
fn clock_endpoint(options: &Options, config: &RegistryConfig) -> Option<String> {
    let aws: Vec<_> = config
        .entries()
        .iter()
        .filter(|e| signs_with_aws(&e.source))
        .collect();
    if aws.is_empty() {
        return None;
    }
    let configured = options.setup.aws.endpoint_for("ECR");
    if configured != "default" {
        return Some(configured);
    }
    let region = aws
        .iter()
        .find_map(|e| {
            e.pattern
                .literal_host()
                .and_then(EcrHost::parse)
                .and_then(|h| h.region().map(str::to_owned))
                .or_else(|| e.source.region().map(str::to_owned))
        })
        .unwrap_or_else(|| "us-east-1".to_owned());
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!("https://api.ecr.{region}.{suffix}"))
}

async fn check_clock(options: &Options, config: &RegistryConfig, findings: &mut Vec<Finding>) {
    let Some(endpoint) = clock_endpoint(options, config) else {
        findings.push(Finding::new(
            "clock",
            Status::Skip,
            "no AWS entry: nothing signs requests with this machine's clock",
        ));
        return;
    };
    let http = Http::new(Duration::from_secs(3), Duration::from_secs(10));
    let before = SystemTime::now();
    let reply = http.get(&endpoint, &[], 64 * 1024).await;
    let after = SystemTime::now();
    let finding = match reply {
        Err(f) => Finding::new(
            "clock",
            Status::Fail,
            format!("could not ask {endpoint} for the time: {f}; check the network path to AWS (the clock matters: AWS refuses signatures more than 5 minutes off)"),
        ),
        Ok(r) => {
            let remote = r.header("date").and_then(|d| {
                aws_sdk_ecr::primitives::DateTime::from_str(
                    d,
                    aws_sdk_ecr::primitives::DateTimeFormat::HttpDate,
                )
                .ok()
                .and_then(|t| SystemTime::try_from(t).ok())
            });
            match remote {
                None => Finding::new(
                    "clock",
                    Status::Fail,
                    format!("{endpoint} answered without a usable Date header, so the clock cannot be compared; check that the endpoint URL is an AWS endpoint"),
                ),
                Some(remote) => skew_finding(before, after, remote, &endpoint),
            }
        }
    };
    findings.push(finding);
}

/// How far `remote` (a `Date`, whole seconds, rounded down) is from the middle of the time the
/// request took (`before`..`after`), as a pass or a fail against [`MAX_SKEW`]. Within a second
/// is agreement: the header cannot say more.
pub fn skew_finding(
    before: SystemTime,
    after: SystemTime,
    remote: SystemTime,
    endpoint: &str,
) -> Finding {
    let middle = before + after.duration_since(before).unwrap_or_default() / 2;
    // The header drops the fraction of its second: on average half a second.
    let remote = remote + Duration::from_millis(500);
    let (ahead, by) = match middle.duration_since(remote) {
        Ok(d) => (true, d),
        Err(e) => (false, e.duration()),
    };
    let by = Duration::from_secs((by.as_millis() as u64 + 500) / 1000);
    let by = if by <= Duration::from_secs(1) {
        Duration::ZERO
    } else {
        by
    };
    let secs = by.as_secs();
    let amount = if secs >= 60 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{secs} s")
    };
    if by <= MAX_SKEW {
        Finding::new(
            "clock",
            Status::Pass,
            if by.is_zero() {
                format!("this machine's clock agrees with {endpoint}'s Date")
            } else {
                format!(
                    "this machine's clock is {amount} {} {endpoint}'s Date, within the 5 minutes AWS allows",
                    if ahead { "ahead of" } else { "behind" }
                )
            },
        )
    } else {
        Finding::new(
            "clock",
            Status::Fail,
            format!(
                "this machine's clock is {amount} {} {endpoint}'s Date: AWS refuses signatures more than 5 minutes off, and tokens look expired or not yet valid; synchronise the clock (timedatectl set-ntp true, or chrony)",
                if ahead { "ahead of" } else { "behind" }
            ),
        )
    }
}

#[cfg(unix)]
fn check_cache(disk: &DiskChoice) -> Finding {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use crate::cache::DiskStore;
    let dir = match disk {
        DiskChoice::Off => {
            return Finding::new(
                "cache",
                Status::Skip,
                "the disk token cache is off: every run asks upstream",
            )
        }
        DiskChoice::Dir(dir) => dir.clone(),
        _ => match DiskStore::default_dir() {
            Some(dir) => dir,
            None => {
                return Finding::new(
                    "cache",
                    Status::Fail,
                    "neither XDG_CACHE_HOME nor HOME is set to an absolute path, so there is no disk token cache and every run asks upstream: set HOME",
                )
            }
        },
    };
    let before = std::fs::symlink_metadata(&dir).ok();
    if let Err(e) = DiskStore::open(&dir) {
        return Finding::new("cache", Status::Fail, e.to_string());
    }
    let uid = rustix::process::geteuid().as_raw();
    let mut refused = Vec::new();
    let mut tokens = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if name.ends_with(".json") {
                tokens += 1;
            }
            let mode = meta.permissions().mode() & 0o7777;
            let why = if meta.file_type().is_symlink() {
                Some("a symlink".to_owned())
            } else if meta.uid() != uid {
                Some(format!("owned by uid {}", meta.uid()))
            } else if meta.is_file() && mode & 0o077 != 0 {
                Some(format!("mode {mode:04o}"))
            } else {
                None
            };
            if let Some(why) = why {
                refused.push(format!("{name} ({why})"));
            }
        }
    }
    let dir_shown = dir.display();
    if !refused.is_empty() {
        return Finding::new(
            "cache",
            Status::Fail,
            format!(
                "{dir_shown} holds {} file(s) the helper refuses to use: {}; remove them (the next pull writes fresh ones, mode 0600)",
                refused.len(),
                refused.join(", ")
            ),
        );
    }
    let how = match before {
        None => "created now, mode 0700".to_owned(),
        Some(m) if m.permissions().mode() & 0o077 != 0 => format!(
            "was mode {:04o}, tightened to 0700",
            m.permissions().mode() & 0o7777
        ),
        Some(_) => "mode 0700".to_owned(),
    };
    Finding::new(
        "cache",
        Status::Pass,
        format!("{dir_shown}: yours (uid {uid}), {how}; identity.key 0600; {tokens} token file(s), all yours and 0600"),
    )
}

#[cfg(not(unix))]
fn check_cache(_: &DiskChoice) -> Finding {
    Finding::new("cache", Status::Skip, "no disk token cache on this system")
}

/// What docker's configuration must name: each literal registry `HOST[:PORT]` with the first
/// entry serving it, and the entries whose host has a wildcard, with their pattern.
struct DockerHosts {
    literal: Vec<(String, usize)>,
    wildcard: Vec<(usize, String)>,
}

fn docker_hosts(config: &RegistryConfig) -> DockerHosts {
    let mut literal: Vec<(String, usize)> = Vec::new();
    let mut wildcard = Vec::new();
    for (i, e) in config.entries().iter().enumerate() {
        match e.pattern.literal_host() {
            Some(host) => {
                let registry = match e.pattern.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_owned(),
                };
                if !literal.iter().any(|(h, _)| *h == registry) {
                    literal.push((registry, i));
                }
            }
            None => wildcard.push((i, e.pattern.as_str().to_owned())),
        }
    }
    DockerHosts { literal, wildcard }
}

fn check_docker(options: &Options, config: &RegistryConfig, findings: &mut Vec<Finding>) {
    let DockerHosts { literal, wildcard } = docker_hosts(config);
    let example = literal.first().map(|(h, _)| h.as_str()).unwrap_or("HOST");
    let Some(path) = &options.docker_config else {
        findings.push(Finding::new(
            "docker",
            Status::Skip,
            "neither DOCKER_CONFIG nor HOME is set, so docker has no configuration here",
        ));
        return;
    };
    let shown = path.display();
    let text = match crate::files::read_text(path, MAX_DOCKER_CONFIG) {
        Ok(t) => t,
        Err(crate::files::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            findings.push(Finding::new(
                "docker",
                Status::Skip,
                format!("no docker configuration at {shown}, so docker here does not ask registry-auth; if docker pulls on this machine, create it with {{\"credHelpers\": {{\"{example}\": \"{HELPER}\"}}}}"),
            ));
            return;
        }
        Err(e) => {
            findings.push(Finding::new(
                "docker",
                Status::Fail,
                format!("{shown} cannot be read: {e}"),
            ));
            return;
        }
    };
    let Ok(docker) = serde_json::from_str::<Value>(&text) else {
        findings.push(Finding::new(
            "docker",
            Status::Fail,
            format!("{shown} is not valid JSON, and docker will refuse it too: fix it"),
        ));
        return;
    };
    let store = docker.get("credsStore").and_then(Value::as_str);
    let helper_for = |host: &str| {
        docker
            .get("credHelpers")
            .and_then(|h| h.get(host))
            .and_then(Value::as_str)
    };
    let mut uses_us = store == Some(HELPER);
    for (host, i) in &literal {
        let name = format!("docker {host}");
        let finding = match (helper_for(host), store) {
            (Some(HELPER), _) => {
                uses_us = true;
                Finding::new(name, Status::Pass, format!("{shown} names {HELPER} for {host} (credHelpers)"))
            }
            (Some(other), _) => Finding::new(
                name,
                Status::Fail,
                format!(
                    "{shown} sends {host} to docker-credential-{} (credHelpers), not to {HELPER}, which registry[{i}] serves it for: set \"credHelpers\": {{\"{host}\": \"{HELPER}\"}}",
                    crate::error::cut(other, 64)
                ),
            ),
            (None, Some(HELPER)) => Finding::new(name, Status::Pass, format!("{shown} names {HELPER} for every registry (credsStore)")),
            (None, _) => Finding::new(
                name,
                Status::Fail,
                format!("{shown} does not name {HELPER} for {host}, so docker pulls from it without the credentials registry[{i}] gives: add \"credHelpers\": {{\"{host}\": \"{HELPER}\"}}"),
            ),
        };
        findings.push(finding);
    }
    for (i, pattern) in wildcard {
        let name = format!("docker registry[{i}]");
        findings.push(if store == Some(HELPER) {
            Finding::new(name, Status::Pass, format!("{pattern}: {shown} names {HELPER} for every registry (credsStore)"))
        } else {
            Finding::new(
                name,
                Status::Skip,
                format!("{pattern}: a wildcard host cannot be named in credHelpers; list each registry host it serves under credHelpers in {shown}, or set \"credsStore\": \"{HELPER}\""),
            )
        });
    }
    if uses_us {
        findings.push(match find_program(options.path.as_deref(), HELPER_BIN) {
            Some(found) => Finding::new(
                "docker helper",
                Status::Pass,
                format!("{HELPER_BIN} is on PATH at {}", found.display()),
            ),
            None => Finding::new(
                "docker helper",
                Status::Fail,
                format!("{HELPER_BIN} is not on PATH, and docker runs the helper by that name: install it next to registry-auth, or add its directory to PATH"),
            ),
        });
    }
}

/// The first executable file named `name` in the directories of `path`.
fn find_program(path: Option<&std::ffi::OsStr>, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_measured_from_the_middle_of_the_request_and_fails_past_five_minutes() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let t1 = t0 + Duration::from_millis(300);
        let at = |secs: i64| {
            if secs >= 0 {
                t0 + Duration::from_secs(secs as u64)
            } else {
                t0 - Duration::from_secs((-secs) as u64)
            }
        };
        let f = skew_finding(t0, t1, at(0), "E");
        assert_eq!(f.status, Status::Pass);
        assert!(f.detail.contains("agrees"), "{}", f.detail);
        let f = skew_finding(t0, t1, at(-120), "E");
        assert_eq!(f.status, Status::Pass);
        assert!(f.detail.contains("2 min 0 s ahead of E"), "{}", f.detail);
        let f = skew_finding(t0, t1, at(301), "E");
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("behind E"), "{}", f.detail);
        assert!(f.detail.contains("timedatectl"), "{}", f.detail);
        let f = skew_finding(t0, t1, at(-600), "E");
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("10 min 0 s ahead of E"), "{}", f.detail);
    }

    #[test]
    fn only_role_names_are_shown() {
        assert!(is_role_name("ValohaiWorkerRole"));
        assert!(is_role_name("a+b=c,d.e@f_g-h"));
        assert!(!is_role_name(""));
        assert!(!is_role_name("<html>"));
        assert!(!is_role_name(&"r".repeat(65)));
    }
}
