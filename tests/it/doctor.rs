//! `registry-auth doctor` on a machine set up in a temporary directory: the IMDSv2 test server
//! serving the right role or a wrong one, no metadata service, or one refusing tokens; the clock compared with moto's `Date`, and
//! with a loopback endpoint whose `Date` is off; secrets, the disk cache and the docker config
//! broken one at a time. Each finding is checked by its status and the words of its fix.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::date_server::DateServer;
use crate::support::{write_private, Emulator, ImdsServer};

const BIN: &str = env!("CARGO_BIN_EXE_registry-auth");
const HELPER: &str = env!("CARGO_BIN_EXE_docker-credential-registry-auth");
const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const ROLE: &str = "DoctorRole";
const SECRET: &str = "doctor-secret-value-never-shown";
const PASSWORD: &str = "doctor-password-never-shown";

/// A machine: configuration, secrets, cache, docker config and PATH under one directory.
struct Machine {
    dir: tempfile::TempDir,
    env: Vec<(String, OsString)>,
}

impl Machine {
    fn new(imds: &str, aws_endpoint: &str) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("registries.toml"),
            format!(
                r#"
[[registry]]
pattern = "{ECR}/*"
iam_user = {{ access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = {{ env = "DOCTOR_TEST_SECRET" }}, region = "us-east-1" }}

[[registry]]
pattern = "{ECR}/team/*"
instance_role = {{ role_name = "{ROLE}", region = "us-east-1" }}

[[registry]]
pattern = "127.0.0.1:5999/*"
basic = {{ username = "robot", password = {{ file = "robot.password" }} }}
"#
            ),
        )
        .unwrap();
        write_private(&d.join("robot.password"), PASSWORD);
        std::fs::create_dir(d.join("docker")).unwrap();
        write_docker_config(
            d,
            &json!({ "credHelpers": { ECR: "registry-auth", "127.0.0.1:5999": "registry-auth" } }),
        );
        let helper_dir = Path::new(HELPER).parent().unwrap();
        let env = vec![
            ("HOME".into(), d.into()),
            ("XDG_CACHE_HOME".into(), d.join("cache").into()),
            (
                "REGISTRY_AUTH_CONFIG".into(),
                d.join("registries.toml").into(),
            ),
            ("DOCKER_CONFIG".into(), d.join("docker").into()),
            ("DOCTOR_TEST_SECRET".into(), SECRET.into()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), imds.into()),
            ("AWS_ENDPOINT_URL".into(), aws_endpoint.into()),
            (
                "PATH".into(),
                std::env::join_paths([helper_dir, Path::new("/usr/bin"), Path::new("/bin")])
                    .unwrap(),
            ),
        ];
        Machine { dir, env }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn set(&mut self, key: &str, value: impl Into<OsString>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    fn unset(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    fn doctor(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("doctor")
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// The JSON report, its exit code, and each check's (status, detail) by name.
    fn report(&self) -> (Option<i32>, Vec<(String, String, String)>) {
        let out = self.doctor(&["--json"]);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(SECRET) && !all.contains(PASSWORD), "{all}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{all}"));
        assert_eq!(v["passed"], out.status.code() == Some(0), "{v}");
        let checks = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["check"].as_str().unwrap().to_owned(),
                    c["status"].as_str().unwrap().to_owned(),
                    c["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (out.status.code(), checks)
    }
}

fn write_docker_config(dir: &Path, config: &Value) {
    std::fs::write(dir.join("docker/config.json"), config.to_string()).unwrap();
}

/// The (status, detail) of `check`.
fn finding<'a>(checks: &'a [(String, String, String)], check: &str) -> (&'a str, &'a str) {
    checks
        .iter()
        .find(|(c, _, _)| c == check)
        .map(|(_, s, d)| (s.as_str(), d.as_str()))
        .unwrap_or_else(|| panic!("no check {check:?} in {checks:#?}"))
}

fn expect(checks: &[(String, String, String)], check: &str, status: &str, words: &[&str]) {
    let (s, d) = finding(checks, check);
    assert_eq!(s, status, "{check}: {d}");
    for w in words {
        assert!(d.contains(w), "{check}: {d:?} lacks {w:?}");
    }
}

fn imds(emu: &Emulator, role: &str) -> ImdsServer {
    // The doctor only lists the role: these credentials are never used.
    let credentials = json!({
        "access_key_id": "ASIAEXAMPLEEXAMPLE00",
        "secret_access_key": "unused",
        "session_token": "unused",
        "expiration": "2099-01-01T00:00:00Z",
    });
    ImdsServer::start(emu, role, &credentials)
}

#[test]
fn every_check_passes_on_a_machine_set_up_right() {
    let emu = Emulator::get();
    let server = imds(&emu, ROLE);
    let machine = Machine::new(&server.endpoint, &emu.endpoint);
    let (code, checks) = machine.report();
    let config = machine.path().join("registries.toml");
    expect(
        &checks,
        "config",
        "pass",
        &[
            &config.display().to_string(),
            "named by REGISTRY_AUTH_CONFIG",
            "3 entries",
        ],
    );
    expect(
        &checks,
        "registry[0] secrets",
        "pass",
        &["environment variable DOCTOR_TEST_SECRET"],
    );
    expect(&checks, "registry[1] secrets", "skip", &[ROLE]);
    expect(&checks, "registry[2] secrets", "pass", &["password (file"]);
    expect(&checks, "imds reachable", "pass", &[&server.endpoint]);
    expect(&checks, "imds token", "pass", &["IMDSv2"]);
    expect(&checks, "imds role registry[1]", "pass", &[ROLE]);
    expect(&checks, "clock", "pass", &[&emu.endpoint]);
    expect(
        &checks,
        "cache",
        "pass",
        &["cache/registry-auth", "created now, mode 0700"],
    );
    expect(&checks, &format!("docker {ECR}"), "pass", &["credHelpers"]);
    expect(&checks, "docker 127.0.0.1:5999", "pass", &["credHelpers"]);
    expect(&checks, "docker helper", "pass", &[HELPER]);
    assert_eq!(code, Some(0), "{checks:#?}");
    assert!(checks.iter().all(|(_, s, _)| s != "fail"));

    // Text: one line per check, then the tally; the cache exists now.
    let out = machine.doctor(&[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("pass  imds role registry[1]: ")),
        "{text}"
    );
    assert!(
        text.contains("cache: ") && text.contains(", mode 0700;"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("0 failed, 1 skipped"), "{text}");
}

#[test]
fn imds_serving_another_role_or_nothing_fails_with_the_fix() {
    let emu = Emulator::get();
    let other = imds(&emu, "SomeoneElsesRole");
    let machine = Machine::new(&other.endpoint, &emu.endpoint);
    let (code, checks) = machine.report();
    expect(&checks, "imds reachable", "pass", &[]);
    expect(
        &checks,
        "imds role registry[1]",
        "fail",
        &[
            "serves role SomeoneElsesRole",
            &format!("names {ROLE}"),
            "role_name = \"SomeoneElsesRole\"",
        ],
    );
    assert_eq!(code, Some(1));

    // Nothing listens on port 9.
    let machine = Machine::new("http://127.0.0.1:9", &emu.endpoint);
    let (code, checks) = machine.report();
    expect(
        &checks,
        "imds reachable",
        "fail",
        &[
            "nothing answered at http://127.0.0.1:9",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "hop-limit",
        ],
    );
    expect(&checks, "imds token", "skip", &["did not answer"]);
    expect(&checks, "imds role registry[1]", "skip", &[]);
    assert_eq!(code, Some(1));

    // Something answers, and refuses the IMDSv2 token (403), as IMDS does when it is turned off.
    let refusing = DateServer::start(0);
    let machine = Machine::new(&refusing.endpoint, &emu.endpoint);
    let (code, checks) = machine.report();
    expect(&checks, "imds reachable", "pass", &[&refusing.endpoint]);
    expect(
        &checks,
        "imds token",
        "fail",
        &["no IMDSv2 session token", "--http-tokens required"],
    );
    expect(
        &checks,
        "imds role registry[1]",
        "skip",
        &["no IMDSv2 token"],
    );
    assert_eq!(code, Some(1));
}

#[test]
fn a_clock_more_than_five_minutes_off_fails() {
    let emu = Emulator::get();
    let server = imds(&emu, ROLE);
    for (offset, status, words) in [
        // The header has whole seconds: the minutes are what is certain.
        (600, "fail", vec![" min ", "behind", "timedatectl"]),
        (-900, "fail", vec![" min ", "ahead of"]),
        (120, "pass", vec![" min ", "behind", "within the 5 minutes"]),
    ] {
        let skewed = DateServer::start(offset);
        let machine = Machine::new(&server.endpoint, &skewed.endpoint);
        let (code, checks) = machine.report();
        let mut words = words;
        words.push(&skewed.endpoint);
        expect(&checks, "clock", status, &words);
        assert_eq!(
            code,
            Some(if status == "pass" { 0 } else { 1 }),
            "{offset}: {checks:#?}"
        );
    }
    // No endpoint answers: the clock cannot be compared.
    let machine = Machine::new(&server.endpoint, "http://127.0.0.1:9");
    let (_, checks) = machine.report();
    expect(
        &checks,
        "clock",
        "fail",
        &["could not ask http://127.0.0.1:9"],
    );
}

#[test]
fn secrets_cache_and_docker_problems_name_the_fix() {
    let emu = Emulator::get();
    let server = imds(&emu, ROLE);
    let mut machine = Machine::new(&server.endpoint, &emu.endpoint);
    machine.unset("DOCTOR_TEST_SECRET");
    std::fs::remove_file(machine.path().join("robot.password")).unwrap();
    // A cache directory others may write to.
    let cache = machine.path().join("cache/registry-auth");
    std::fs::create_dir_all(&cache).unwrap();
    set_mode(&cache, 0o777);
    // docker asks another helper for the ECR host and no one for the registry.
    write_docker_config(
        machine.path(),
        &json!({ "credHelpers": { ECR: "ecr-login" } }),
    );
    let (code, checks) = machine.report();
    assert_eq!(code, Some(1));
    expect(
        &checks,
        "registry[0] secrets",
        "fail",
        &[
            "iam_user.secret_access_key",
            "DOCTOR_TEST_SECRET",
            "export it",
        ],
    );
    expect(
        &checks,
        "registry[2] secrets",
        "fail",
        &["basic.password", "robot.password"],
    );
    expect(
        &checks,
        "cache",
        "fail",
        &["registry-auth", "0777", "group or others"],
    );
    expect(
        &checks,
        &format!("docker {ECR}"),
        "fail",
        &["docker-credential-ecr-login", "\"credHelpers\""],
    );
    expect(
        &checks,
        "docker 127.0.0.1:5999",
        "fail",
        &[
            "does not name registry-auth",
            "\"127.0.0.1:5999\": \"registry-auth\"",
        ],
    );

    // credsStore covers every host; the helper must then be on PATH.
    set_mode(&cache, 0o700);
    write_docker_config(machine.path(), &json!({ "credsStore": "registry-auth" }));
    machine.set("PATH", "/usr/bin:/bin");
    let (_, checks) = machine.report();
    expect(&checks, "cache", "pass", &[]);
    expect(&checks, "docker 127.0.0.1:5999", "pass", &["credsStore"]);
    expect(
        &checks,
        "docker helper",
        "fail",
        &["docker-credential-registry-auth is not on PATH"],
    );

    // A token file another process could read is refused; no docker config is skipped.
    write_private(&cache.join("planted.json"), "{}");
    set_mode(&cache.join("planted.json"), 0o644);
    std::fs::remove_file(machine.path().join("docker/config.json")).unwrap();
    let (_, checks) = machine.report();
    expect(
        &checks,
        "cache",
        "fail",
        &["planted.json (mode 0644)", "remove them"],
    );
    expect(
        &checks,
        "docker",
        "skip",
        &["no docker configuration", "credHelpers"],
    );
}

#[test]
fn the_configuration_and_why_that_one() {
    let emu = Emulator::get();
    let server = imds(&emu, ROLE);
    let mut machine = Machine::new(&server.endpoint, &emu.endpoint);
    let other: PathBuf = machine.path().join("other.toml");
    std::fs::copy(machine.path().join("registries.toml"), &other).unwrap();
    let out = machine.doctor(&["--json", "--config", other.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checks"][0]["check"], "config");
    assert!(
        v["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("other.toml (given with --config)"),
        "{v}"
    );

    machine.unset("REGISTRY_AUTH_CONFIG");
    let (code, checks) = machine.report();
    assert_eq!(code, Some(1));
    expect(
        &checks,
        "config",
        "fail",
        &[
            "neither --config nor REGISTRY_AUTH_CONFIG names one",
            ".config/registry-auth/registries.toml or /etc/registry-auth/registries.toml",
            "pass --config FILE",
        ],
    );
    // Without a configuration only the machine's own checks run.
    assert_eq!(
        checks
            .iter()
            .map(|(c, _, _)| c.as_str())
            .collect::<Vec<_>>(),
        ["config", "cache"]
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
