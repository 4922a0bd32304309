//! `docker-credential-registry-auth`, the built binary, against the moto emulator (started by
//! `scripts/emulator start`) behind a counting proxy (`support/proxy.rs`) that stands in for
//! real ECR's 12-hour expiry. Every upstream call is counted at the proxy, in front of moto.

use crate::support;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::operator::on_a_terminal;
use registry_auth::front::docker::NOT_FOUND;
use support::proxy::{Fault, Proxy};
use support::{pull_policy, Emulator};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const PASSWORD: &str = "123456789012-auth-token";
const GET_TOKEN: &str = "GetAuthorizationToken";

/// An IAM user with the pull policy, a config naming it, an empty cache home, and a proxy.
struct Setup {
    proxy: Proxy,
    dir: tempfile::TempDir,
    secret: String,
}

impl Setup {
    fn new(name: &str) -> Setup {
        Setup::with_config(name, |key_id| {
            format!(
                r#"
[[registry]]
pattern = "{HOST}/*"
iam_user = {{ access_key_id = "{key_id}", secret_access_key = {{ file = "secret.txt" }}, region = "us-east-1" }}

[[registry]]
pattern = "{HOST}/team/*"
iam_user = {{ access_key_id = "{key_id}", secret_access_key = {{ file = "secret.txt" }}, region = "us-east-1" }}

[[registry]]
pattern = "localhost:5000"
iam_user = {{ access_key_id = "{key_id}", secret_access_key = {{ file = "secret.txt" }}, region = "us-east-1" }}
"#
            )
        })
    }

    /// An IAM user with the pull policy whose secret is in `secret.txt`, and the configuration
    /// `config(access key id)`.
    fn with_config(name: &str, config: impl Fn(&str) -> String) -> Setup {
        let emu = Emulator::get();
        let user = emu.user(name, Some(&pull_policy()));
        let proxy = Proxy::start(&emu.endpoint);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), &user.secret_access_key).unwrap();
        std::fs::write(
            dir.path().join("registries.toml"),
            config(&user.access_key_id),
        )
        .unwrap();
        Setup {
            proxy,
            dir,
            secret: user.secret_access_key,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache/registry-auth")
    }

    /// The one token file in the cache directory.
    fn cache_file(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.cache_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.into_iter().next().unwrap()
    }

    /// The helper with a clean environment: only what the test gives it.
    fn command(&self, action: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"));
        c.arg(action)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env(
                "REGISTRY_AUTH_CONFIG",
                self.dir.path().join("registries.toml"),
            )
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn spawn(&self, action: &str, input: &str) -> Child {
        let mut child = self.command(action).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child
    }

    fn run(&self, action: &str, input: &str) -> Output {
        self.spawn(action, input).wait_with_output().unwrap()
    }

    /// `get` of `host` with these extra environment variables.
    fn get_with(&self, env: &[(&str, &str)], host: &str) -> Output {
        let mut command = self.command("get");
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(host.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

/// The README's scope example: a dedicated role for acme's gpu-prod jobs, listed first, then
/// the IAM user for acme's other jobs.
fn scoped_config(key_id: &str) -> String {
    format!(
        r#"
[[registry]]
pattern = "{HOST}/*"
owner = "acme"
environments = ["gpu-prod"]
instance_role = {{ role_name = "GpuWorkerRole", region = "us-east-1", assume_role_arn = "arn:aws:iam::123456789012:role/gpu-prod-pull" }}

[[registry]]
pattern = "{HOST}/*"
owner = "acme"
iam_user = {{ access_key_id = "{key_id}", secret_access_key = {{ file = "secret.txt" }}, region = "us-east-1" }}
"#
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a successful `get` and returns its JSON.
fn assert_login(out: &Output, server_url: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ServerURL"], server_url);
    assert_eq!(v["Username"], "AWS");
    assert_eq!(v["Secret"], PASSWORD);
    v
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn a_second_get_within_the_tokens_life_makes_no_upstream_call() {
    let s = Setup::new("helper-twice");
    assert_login(&s.run("get", HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 1);

    // Another process, the URL spelled the way docker spells Docker Hub's.
    let url = format!("https://{HOST}/");
    assert_login(&s.run("get", &url), &url);
    assert_eq!(
        s.proxy.counts().values().sum::<usize>(),
        1,
        "the second get is served from the disk cache: {:?}",
        s.proxy.counts()
    );

    // 0700 directory, 0600 file, holding the token but never the IAM secret.
    assert_eq!(mode(&s.cache_dir()), 0o700);
    let file = s.cache_file();
    assert_eq!(mode(&file), 0o600);
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains(PASSWORD));
    assert!(!stored.contains(&s.secret));
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{HOST}-")), "{name}");
}

/// Root certificates are loaded for the first `https://` call, not before: a process whose
/// calls are all plain HTTP (here the emulator) never reads them, so a certificate bundle it
/// cannot use costs it nothing and says nothing.
#[test]
fn a_plain_http_endpoint_never_loads_root_certificates() {
    let s = Setup::new("helper-no-roots");
    let bundle = s.dir.path().join("not-a-bundle.pem");
    std::fs::write(&bundle, "not a certificate\n").unwrap();
    let out = s.get_with(
        &[
            ("SSL_CERT_FILE", bundle.to_str().unwrap()),
            ("REGISTRY_AUTH_NO_DISK_CACHE", "1"),
            ("REGISTRY_AUTH_LOG", "debug"),
        ],
        HOST,
    );
    assert_login(&out, HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 1);
    let stderr = text(&out.stderr).to_lowercase();
    assert!(
        !stderr.contains("certificate"),
        "no root certificate was looked for: {stderr}"
    );
}

#[test]
fn concurrent_cold_gets_make_one_upstream_call() {
    let s = Setup::new("helper-concurrent");
    // Hold the one upstream call open long enough that every process is waiting on it.
    s.proxy.set_hook(|r| {
        if r.action == GET_TOKEN {
            Fault::delay(Duration::from_millis(1500))
        } else {
            Fault::default()
        }
    });
    let children: Vec<Child> = (0..4).map(|_| s.spawn("get", HOST)).collect();
    for child in children {
        assert_login(&child.wait_with_output().unwrap(), HOST);
    }
    assert_eq!(
        s.proxy.count(GET_TOKEN),
        1,
        "four cold processes, one call: {:?}",
        s.proxy.counts()
    );
}

#[test]
fn an_unsafe_cache_file_is_refused_visibly_and_replaced() {
    let s = Setup::new("helper-unsafe-file");
    assert_login(&s.run("get", HOST), HOST);
    let file = s.cache_file();

    // Group-writable: refused, fetched anew, rewritten 0600.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o620)).unwrap();
    let out = s.run("get", HOST);
    assert_login(&out, HOST);
    let err = text(&out.stderr);
    assert!(
        err.contains("refusing") && err.contains("0620"),
        "stderr: {err}"
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 2);
    assert_eq!(mode(&file), 0o600);

    // A symlink to a perfectly good token file elsewhere: refused all the same.
    let elsewhere = s.dir.path().join("elsewhere.json");
    std::fs::copy(&file, &elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let out = s.run("get", HOST);
    assert_login(&out, HOST);
    let err = text(&out.stderr);
    assert!(
        err.contains("refusing") && err.contains("symbolic link"),
        "stderr: {err}"
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 3);
    assert!(
        !std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced by a file, not followed"
    );
    assert_eq!(mode(&file), 0o600);

    // And now it is trusted again.
    assert_login(&s.run("get", HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 3);
}

#[test]
fn an_unsafe_cache_directory_is_refused_visibly_and_gets_still_work() {
    let s = Setup::new("helper-unsafe-dir");
    assert_login(&s.run("get", HOST), HOST);
    std::fs::set_permissions(s.cache_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for expected_calls in [2, 3] {
        let out = s.run("get", HOST);
        assert_login(&out, HOST);
        let err = text(&out.stderr);
        assert!(
            err.contains("refusing") && err.contains("no disk token cache"),
            "stderr: {err}"
        );
        assert_eq!(
            s.proxy.count(GET_TOKEN),
            expected_calls,
            "no cache, no hits"
        );
    }
}

#[test]
fn a_host_no_entry_serves_is_not_found_without_an_upstream_call() {
    let s = Setup::new("helper-not-found");
    for url in ["ghcr.io", "https://index.docker.io/v1/", "localhost:5001"] {
        let out = s.run("get", url);
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert_eq!(
            text(&out.stdout).trim(),
            "credentials not found in native keychain"
        );
    }
    assert!(s.proxy.counts().is_empty(), "{:?}", s.proxy.counts());
}

#[test]
fn a_path_entry_is_used_for_its_host_only_when_no_host_wide_entry_exists() {
    let s = Setup::new("helper-hosts");
    // `localhost:5000` has one host-wide entry; the ECR host has `/*` and `/team/*`, and docker
    // cannot say which repository it wants: `/*` serves. Both make real calls.
    assert_login(
        &s.run("get", "http://localhost:5000/v2/"),
        "http://localhost:5000/v2/",
    );
    assert_login(
        &s.run("get", &format!("{HOST}/team/app")),
        &format!("{HOST}/team/app"),
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 2);
}

#[test]
fn list_store_erase_and_version() {
    let s = Setup::new("helper-list");
    let out = s.run("list", "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ format!("https://{HOST}"): "AWS", "https://localhost:5000": "AWS" })
    );

    // `store` and `erase` say that nothing is stored (so that `docker login` under
    // `credsStore` does not report a success that kept nothing), unless told to ignore them.
    let creds = r#"{"ServerURL":"ghcr.io","Username":"me","Secret":"hunter2"}"#;
    for (action, input) in [("store", creds), ("erase", HOST)] {
        let out = s.run(action, input);
        assert_eq!(out.status.code(), Some(1), "{action}");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(stdout.contains("not supported"), "{stdout}");
        assert!(
            stdout.contains("REGISTRY_AUTH_IGNORE_CREDS_STORAGE"),
            "{stdout}"
        );
        assert_eq!(stderr.matches("not supported").count(), 1, "{stderr}");
        assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));

        let mut ignoring = s.command(action);
        ignoring.env("REGISTRY_AUTH_IGNORE_CREDS_STORAGE", "true");
        let out = feed(ignoring, input);
        assert!(out.status.success(), "{action}: {}", text(&out.stdout));
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    let out = s.run("version", "");
    assert!(text(&out.stdout).starts_with("docker-credential-registry-auth "));
    let out = s.run("frobnicate", "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("unknown action"));
    assert!(s.proxy.counts().is_empty());
}

/// Runs `command` with `input` on stdin.
fn feed(mut command: Command, input: &str) -> Output {
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn empty_stdin_help_and_no_action_answer_as_docker_expects() {
    let s = Setup::new("helper-protocol");
    // docker's client recognises exactly this text on stdout.
    let out = s.run("get", "\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).trim(), "no credentials server URL");
    assert_eq!(text(&out.stderr).matches("no server URL").count(), 1);

    for help in ["--help", "-h"] {
        let out = s.run(help, "");
        assert!(out.status.success(), "{help}");
        let usage = text(&out.stdout);
        assert!(
            usage.starts_with(
                "Usage: docker-credential-registry-auth <get|list|store|erase|version>"
            ),
            "{usage}"
        );
        assert!(out.stderr.is_empty());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"))
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("Usage: "));
    for version in ["version", "--version", "-v"] {
        let out = s.run(version, "");
        assert_eq!(
            text(&out.stdout).trim(),
            format!(
                "docker-credential-registry-auth {}",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
    assert!(s.proxy.counts().is_empty());
}

#[test]
fn not_found_is_silent_on_stderr_and_failures_are_said_once_and_logged_to_the_file() {
    let s = Setup::new("helper-log-file");
    let log = s.dir.path().join("logs/helper.log");
    std::fs::create_dir(s.dir.path().join("logs")).unwrap();
    let log_env = [("REGISTRY_AUTH_LOG_FILE", log.to_str().unwrap())];

    // Docker Hub under `credsStore`: docker's text, nothing else.
    let out = s.get_with(&log_env, "https://index.docker.io/v1/");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).trim(), NOT_FOUND);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // A real failure: once on stderr, on stdout for docker, and in the 0600 log file.
    s.proxy.set_hook(|r| {
        if r.action == GET_TOKEN {
            Fault::reset()
        } else {
            Fault::default()
        }
    });
    let out = s.get_with(&log_env, HOST);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        stderr.matches("GetAuthorizationToken").count(),
        1,
        "{stderr}"
    );
    assert!(stdout.contains("GetAuthorizationToken"), "{stdout}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(mode(&log), 0o600);
    assert!(
        logged.contains("ERROR") && logged.contains("GetAuthorizationToken"),
        "{logged}"
    );
    assert!(!logged.contains(&s.secret));
    // Appended, one line per run, each with its process id.
    let out = s.get_with(&log_env, HOST);
    assert_eq!(out.status.code(), Some(1));
    let logged = std::fs::read_to_string(&log).unwrap();
    let pids: std::collections::BTreeSet<&str> = logged
        .lines()
        .filter(|l| l.contains("GetAuthorizationToken"))
        .filter_map(|l| l.split_once(" [")?.1.split_once(']').map(|(pid, _)| pid))
        .collect();
    assert_eq!(pids.len(), 2, "{logged}");

    // A log file that is a symbolic link is refused, with a warning; the helper still answers.
    let elsewhere = s.dir.path().join("elsewhere.log");
    std::fs::write(&elsewhere, "").unwrap();
    let link = s.dir.path().join("logs/link.log");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    s.proxy.set_hook(|_| Fault::default());
    let out = s.get_with(&[("REGISTRY_AUTH_LOG_FILE", link.to_str().unwrap())], HOST);
    assert_login(&out, HOST);
    let err = text(&out.stderr);
    assert!(
        err.contains("REGISTRY_AUTH_LOG_FILE") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "");
}

#[test]
fn the_cache_directory_and_no_disk_cache_switches_are_honoured() {
    let s = Setup::new("helper-cache-switches");
    let dir = s.dir.path().join("elsewhere/tokens");
    let moved = [("REGISTRY_AUTH_CACHE_DIR", dir.to_str().unwrap())];
    assert_login(&s.get_with(&moved, HOST), HOST);
    assert_login(&s.get_with(&moved, HOST), HOST);
    assert_eq!(
        s.proxy.count(GET_TOKEN),
        1,
        "the second get hit the moved cache"
    );
    assert_eq!(mode(&dir), 0o700);
    assert!(
        !s.cache_dir().exists(),
        "the default directory was not used"
    );

    for off in ["1", "true"] {
        let before = s.proxy.count(GET_TOKEN);
        let no_disk = [
            ("REGISTRY_AUTH_CACHE_DIR", dir.to_str().unwrap()),
            ("REGISTRY_AUTH_NO_DISK_CACHE", off),
        ];
        assert_login(&s.get_with(&no_disk, HOST), HOST);
        assert_login(&s.get_with(&no_disk, HOST), HOST);
        assert_eq!(s.proxy.count(GET_TOKEN), before + 2, "no disk, no hits");
    }
    assert!(!s.cache_dir().exists());
}

#[test]
fn a_slow_get_says_what_it_waits_for_once_on_a_terminal_only() {
    let s = Setup::new("helper-slow");
    s.proxy.set_hook(|r| {
        if r.action == GET_TOKEN {
            Fault::delay(Duration::from_secs(3))
        } else {
            Fault::default()
        }
    });
    let config = s.dir.path().join("registries.toml");
    let env = [
        ("HOME", s.dir.path().to_str().unwrap()),
        ("REGISTRY_AUTH_CONFIG", config.to_str().unwrap()),
        ("REGISTRY_AUTH_NO_DISK_CACHE", "1"),
        ("AWS_ENDPOINT_URL", s.proxy.endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let line = format!(
        "printf %s {HOST} | {}  get",
        env!("CARGO_BIN_EXE_docker-credential-registry-auth")
    );
    let (code, screen) = on_a_terminal(&line, &env);
    assert_eq!(code, Some(0), "{screen}");
    let note = format!(
        "docker-credential-registry-auth: still waiting after 2 s for an ECR token for {HOST} from AWS (registry[0]: iam_user in us-east-1)"
    );
    assert_eq!(screen.matches(&note).count(), 1, "{screen}");
    assert!(screen.contains(PASSWORD), "the answer still came");

    // Not a terminal (docker reading stderr): the same wait, no note.
    let mut command = s.command("get");
    command.env("REGISTRY_AUTH_NO_DISK_CACHE", "1");
    let out = feed(command, HOST);
    assert_login(&out, HOST);
    assert!(
        !text(&out.stderr).contains("still waiting"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 2);
}

#[test]
fn upstream_failures_exit_1_with_the_reason_on_both_streams() {
    let s = Setup::new("helper-reset");
    // Every ECR call is reset by the peer; the SDK retries (3 attempts by default), then fails.
    s.proxy.set_hook(|r| {
        if r.action == GET_TOKEN {
            Fault::reset()
        } else {
            Fault::default()
        }
    });
    let out = s.run("get", HOST);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("GetAuthorizationToken"), "stderr: {stderr}");
    assert!(stdout.contains("GetAuthorizationToken"), "stdout: {stdout}");
    assert!(!stdout.contains(&s.secret) && !stderr.contains(&s.secret));
    assert_eq!(s.proxy.count(GET_TOKEN), 3, "the SDK's three attempts");

    // A throttling answer, then the real thing: the retry succeeds and is cached.
    s.proxy.set_hook(|r| {
        if r.action == GET_TOKEN && r.nth == 4 {
            Fault::status(
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            )
        } else {
            Fault::default()
        }
    });
    assert_login(&s.run("get", HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 5);
    assert_login(&s.run("get", HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 5);
}

#[test]
fn scopes_apply_to_the_helper_from_its_environment_and_fail_closed_without_one() {
    let s = Setup::with_config("helper-scopes", scoped_config);
    let acme = |env: &'static str| {
        [
            ("REGISTRY_AUTH_OWNER", "acme"),
            ("REGISTRY_AUTH_ENVIRONMENT", env),
        ]
    };

    // acme's cpu-dev job: the IAM user serves.
    assert_login(&s.get_with(&acme("cpu-dev"), HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 1);

    // acme's gpu-prod job: the dedicated role is chosen (and fails here, with no metadata
    // service), never the IAM user.
    let out = s.get_with(&acme("gpu-prod"), HOST);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("GpuWorkerRole"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 1, "no call with the user's key");

    // No context: neither scoped entry is a candidate, and the error says which variables to
    // set rather than docker's "not found" (which would pull anonymously).
    let out = s.get_with(&[], HOST);
    assert_eq!(out.status.code(), Some(1));
    assert_ne!(text(&out.stdout).trim(), NOT_FOUND);
    let said = text(&out.stderr);
    assert!(
        said.contains("REGISTRY_AUTH_OWNER") && said.contains("REGISTRY_AUTH_ENVIRONMENT"),
        "{said}"
    );

    // Another organisation: ruled out, named.
    let out = s.get_with(&[("REGISTRY_AUTH_OWNER", "globex")], HOST);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("another organisation"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        s.proxy.count(GET_TOKEN),
        1,
        "nothing called for refused contexts"
    );

    // `list` shows what this context may use.
    let out = s
        .command("list")
        .env("REGISTRY_AUTH_OWNER", "globex")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "{}");
}

#[test]
fn one_entrys_missing_secret_breaks_only_that_entry() {
    let s = Setup::with_config("helper-lazy", |key_id| {
        format!(
            r#"
[[registry]]
pattern = "{HOST}/*"
iam_user = {{ access_key_id = "{key_id}", secret_access_key = {{ file = "secret.txt" }}, region = "us-east-1" }}

[[registry]]
pattern = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
iam_user = {{ access_key_id = "{key_id}", secret_access_key = {{ env = "REGISTRY_AUTH_TEST_NEVER_SET_81f2" }}, region = "eu-west-1" }}
"#
        )
    });
    assert_login(&s.run("get", HOST), HOST);
    let out = s.run("get", "210987654321.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("registry[1]")
            && said.contains("iam_user.secret_access_key")
            && said.contains("REGISTRY_AUTH_TEST_NEVER_SET_81f2"),
        "{said}"
    );
}

#[test]
fn an_entry_naming_anothers_key_id_never_gets_its_cached_token() {
    // The legitimate entry fetches and leaves its token on disk.
    let s = Setup::new("helper-impostor");
    assert_login(&s.run("get", HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 1);

    // Another configuration names the same access key id (ids show in logs; they are not
    // secrets) with a wrong secret, and shares the cache directory.
    let config = std::fs::read_to_string(s.dir.path().join("registries.toml")).unwrap();
    std::fs::write(s.dir.path().join("wrong.txt"), "not-the-secret").unwrap();
    std::fs::write(
        s.dir.path().join("impostor.toml"),
        config.replace("secret.txt", "wrong.txt"),
    )
    .unwrap();
    let out = s
        .command("get")
        .env("REGISTRY_AUTH_CONFIG", s.dir.path().join("impostor.toml"))
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(HOST.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        !out.status.success(),
        "the impostor got a token: {}",
        text(&out.stdout)
    );
    assert!(!text(&out.stdout).contains(PASSWORD));
    assert!(
        text(&out.stderr).contains("SignatureDoesNotMatch"),
        "AWS judged the secret: {}",
        text(&out.stderr)
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 2, "the impostor had to ask AWS");
    // The legitimate entry still gets its cached token, without another call.
    assert_login(&s.run("get", HOST), HOST);
    assert_eq!(s.proxy.count(GET_TOKEN), 2);
}

#[test]
fn a_stored_token_past_its_refresh_point_is_served_while_upstream_fails() {
    let s = Setup::new("helper-stale-on-error");
    assert_login(&s.run("get", HOST), HOST);
    // Seven hours pass for the stored token: past its half-life, five hours before expiry.
    let file = s.cache_file();
    let mut stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let hours = |h: u64| h * 3600;
    let fetched = stored["fetched_at"].as_u64().unwrap();
    stored["fetched_at"] = (fetched - hours(7)).into();
    stored["expires_at"] = (fetched + hours(5)).into();
    std::fs::write(&file, stored.to_string()).unwrap();

    // ECR is down: the stored token is served, with a warning, after one refresh attempt.
    s.proxy.set_hook(|req| {
        if req.action == GET_TOKEN {
            Fault::status(500, r#"{"__type":"InternalFailure"}"#)
        } else {
            Fault::default()
        }
    });
    let out = s.run("get", HOST);
    assert_login(&out, HOST);
    assert!(s.proxy.count(GET_TOKEN) > 1, "a refresh was tried");
    assert!(
        text(&out.stderr).contains("serving the stored token until it expires"),
        "{}",
        text(&out.stderr)
    );

    // Past expiry minus the margin, it is never served.
    stored["expires_at"] = (unix_now() + 30).into();
    std::fs::write(&file, stored.to_string()).unwrap();
    let out = s.run("get", HOST);
    assert!(!out.status.success(), "an expiring token was served");
}

/// Seconds since the epoch, now: what the helper process's clock will read.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_huge_server_url_is_refused_without_repeating_it() {
    let s = Setup::new("helper-huge-url");
    let url = format!("https://{HOST}/{}", "a".repeat(60 * 1024));
    let out = s.run("get", &url);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.len() + out.stderr.len() < 1_000,
        "{} bytes",
        out.stdout.len()
    );
    assert_eq!(s.proxy.count(GET_TOKEN), 0);
}
