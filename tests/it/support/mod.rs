//! Test support: the moto emulator started by `scripts/emulator start`, IAM fixtures made in it,
//! and the IMDSv2 test server. Nothing here mocks AWS: every call goes to moto on 127.0.0.1.

pub mod clouds;
pub mod date_server;
pub mod proxy;
pub mod registry;
pub mod servers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use registry_auth::aws::{AwsOptions, IamUserProvider};
use registry_auth::cache::ManualClock;
use registry_auth::provider::{
    CacheIdentity, CredentialProvider, RegistryTarget, RequestAttributes,
};
use registry_auth::{Error, RegistryCredential};
use serde_json::Value;

/// The running emulator, read from `.emulator/env` (written by `scripts/emulator start`).
#[derive(Debug, Clone)]
pub struct Emulator {
    pub endpoint: String,
    vars: Vec<(String, String)>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Emulator {
    /// Fails the test, saying how to start the emulator, when it is not running: these tests are
    /// never skipped.
    pub fn get() -> Emulator {
        let path = repo().join(".emulator/env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}. Start the emulator first: scripts/emulator start (scripts/test does it)",
                path.display()
            )
        });
        let vars: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_owned(),
                    v.trim().trim_matches('\'').trim_matches('"').to_owned(),
                )
            })
            .collect();
        let endpoint = vars
            .iter()
            .find(|(k, _)| k == "MOTO_ENDPOINT")
            .map(|(_, v)| v.clone())
            .expect("MOTO_ENDPOINT in .emulator/env");
        Emulator { endpoint, vars }
    }

    /// The same emulator's settings, with calls sent to `endpoint` (a proxy in front of it, or
    /// another moto).
    pub fn at(&self, endpoint: &str) -> Emulator {
        let mut vars = self.vars.clone();
        for (k, v) in &mut vars {
            if k == "MOTO_ENDPOINT" {
                *v = endpoint.to_owned();
            }
        }
        Emulator {
            endpoint: endpoint.to_owned(),
            vars,
        }
    }

    /// A value of `.emulator/env` (`MOTO_PYTHON`, ...).
    pub fn var(&self, key: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{key} missing from .emulator/env"))
    }

    /// Runs `scripts/moto_fixture.py ARGS` and returns its JSON.
    pub fn fixture(&self, args: &[&str]) -> Value {
        let out = Command::new(self.var("MOTO_PYTHON"))
            .arg(self.var("MOTO_FIXTURE"))
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run moto_fixture.py");
        assert!(
            out.status.success(),
            "moto_fixture.py {:?} failed: {}",
            args.first(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("fixture JSON")
    }

    /// A new IAM user with `policy` (JSON text, or None), and its access key.
    pub fn user(&self, name: &str, policy: Option<&str>) -> User {
        let v = match policy {
            Some(p) => self.fixture(&["user", &unique(name), "--policy-json", p]),
            None => self.fixture(&["user", &unique(name), "--no-policy"]),
        };
        User {
            arn: v["user_arn"].as_str().unwrap().to_owned(),
            access_key_id: v["access_key_id"].as_str().unwrap().to_owned(),
            secret_access_key: v["secret_access_key"].as_str().unwrap().to_owned(),
        }
    }

    /// A new role with a trust policy and a permission policy; returns its ARN.
    pub fn role(&self, name: &str, trust: &str, policy: &str) -> String {
        let v = self.fixture(&[
            "role",
            &unique(name),
            "--trust-json",
            trust,
            "--policy-json",
            policy,
        ]);
        v["role_arn"].as_str().unwrap().to_owned()
    }

    /// Temporary credentials for `role_arn`, assumed as the admin (its trust policy must allow
    /// the account root).
    pub fn assume_as_admin(&self, role_arn: &str) -> Value {
        let akid = self.var("MOTO_ADMIN_ACCESS_KEY_ID");
        let secret = self.var("MOTO_ADMIN_SECRET_ACCESS_KEY");
        self.fixture(&[
            "assume-role",
            role_arn,
            "--access-key-id",
            &akid,
            "--secret-access-key",
            &secret,
        ])
    }
}

/// An EC2 worker as the tests stand it up: an instance role, whose credentials (assumed from moto
/// STS by the admin) the IMDS test server hands out under the role's name, as EC2 would.
pub struct Worker {
    pub role_name: String,
    pub role_arn: String,
    /// The fixture's `assume-role` JSON: `access_key_id`, `secret_access_key`, `session_token`,
    /// `expiration`.
    pub credentials: Value,
    pub imds: ImdsServer,
}

impl Emulator {
    /// A worker whose instance role holds `policy`.
    pub fn worker(&self, name: &str, policy: &str) -> Worker {
        let role_arn = self.role(name, &trust_policy("*", None), policy);
        let role_name = role_arn.rsplit('/').next().unwrap().to_owned();
        let credentials = self.assume_as_admin(&role_arn);
        let imds = ImdsServer::start(self, &role_name, &credentials);
        Worker {
            role_name,
            role_arn,
            credentials,
            imds,
        }
    }

    /// A dedicated role holding the pull policy, and a worker whose instance role may assume
    /// it (and nothing else): the guide's "dedicated role" case. Returns the worker and the
    /// dedicated role's ARN.
    pub fn worker_with_dedicated_role(&self, name: &str) -> (Worker, String) {
        let dedicated = self.role(
            &format!("{name}-dedicated"),
            &trust_policy("*", None),
            &pull_policy(),
        );
        let worker = self.worker(name, &allow(&["sts:AssumeRole"], &dedicated));
        (worker, dedicated)
    }
}

/// An IAM user made in the emulator.
#[derive(Debug, Clone)]
pub struct User {
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl User {
    /// The IAM-user provider holding this user's access key.
    pub fn provider(&self, options: AwsOptions) -> IamUserProvider {
        IamUserProvider::builder()
            .access_key_id(&self.access_key_id)
            .secret_access_key(self.secret_access_key.as_str().into())
            .region("us-east-1")
            .options(options)
            .build()
            .unwrap()
    }
}

/// moto stamps every ECR token with this expiry: 2015-01-01T00:00:00Z.
pub const MOTO_EXPIRY: u64 = 1_420_070_400;

/// A clock 12 hours before moto's fixed expiry, so its tokens are fresh and cacheable.
pub fn clock_before_moto_expiry() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(MOTO_EXPIRY - 12 * 3600),
    ))
}

/// `name-<pid>-<n>`: IAM names unique across test runs against one emulator.
pub fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `valohai-ecr-policy` of Valohai's ECR guide, as shipped in `scripts/policies/`.
pub fn pull_policy() -> String {
    std::fs::read_to_string(repo().join("scripts/policies/valohai-ecr-policy.json")).unwrap()
}

/// A trust policy that lets `principal` (an ARN, or `*`) assume the role, optionally requiring
/// an external id.
pub fn trust_policy(principal: &str, external_id: Option<&str>) -> String {
    let mut statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": { "AWS": principal },
        "Action": "sts:AssumeRole",
    });
    if let Some(id) = external_id {
        statement["Condition"] = serde_json::json!({ "StringEquals": { "sts:ExternalId": id } });
    }
    serde_json::json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

/// A permission policy allowing `actions` on `resource`.
pub fn allow(actions: &[&str], resource: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": resource }],
    })
    .to_string()
}

/// The IMDSv2 test server (`scripts/imds_server.py`) serving `credentials` for `role`.
/// Killed when dropped.
pub struct ImdsServer {
    pub endpoint: String,
    child: Child,
    _dir: tempfile::TempDir,
    pub credentials_file: PathBuf,
}

impl ImdsServer {
    pub fn start(emulator: &Emulator, role: &str, credentials: &Value) -> ImdsServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials.json");
        write_private(&file, &credentials.to_string());
        let mut child = Command::new(emulator.var("MOTO_PYTHON"))
            .arg(emulator.var("IMDS_SERVER"))
            .args(["--port", "0", "--role", role, "--credentials-file"])
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start imds_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("imds_server.py said {line:?}"));
        ImdsServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
            credentials_file: file,
        }
    }

    /// Request counts per path, from the server's `/_test/stats`.
    pub fn stats(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_test/stats", self.endpoint)])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

impl Drop for ImdsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Wraps a real provider and counts the upstream calls that go through it.
#[derive(Debug)]
pub struct Counting<P> {
    pub inner: P,
    pub calls: Arc<AtomicUsize>,
}

impl<P> Counting<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

#[async_trait]
impl<P: CredentialProvider> CredentialProvider for Counting<P> {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(target).await
    }

    fn identity(&self) -> CacheIdentity {
        self.inner.identity()
    }

    fn request_identity(&self, request: &RequestAttributes) -> Option<CacheIdentity> {
        self.inner.request_identity(request)
    }
}

/// Runs `command` with `input` on stdin, its stdout and stderr captured: one request to the
/// docker helper or the kubelet plugin.
pub fn run_with_input(command: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
