//! The live pull check against real parts: moto with its IAM checks on for ECR (`BatchGetImage`
//! with the entry's keys or instance role), Debian's docker-registry with an htpasswd robot for
//! the distribution API, and the same registry behind a Bearer token service
//! (`scripts/token_proxy.py`) for the token flow; then `check --live` and its progress lines.
//!
//! moto matches no statement scoped to one repository's ARN (in our trials, not even for that
//! repository), so the users here differ by the actions they hold on `*`, not by resource.

use std::process::Command;

use registry_auth::aws::policy::{READ_ACTIONS, TOKEN_ACTION};
use registry_auth::aws::{AwsOptions, IamUser, InstanceRole};
use registry_auth::basic::Basic;
use registry_auth::config::CredentialSource;
use registry_auth::live::{self, ImageCheck, Verdict};
use registry_auth::valohai::ValohaiFile;
use registry_auth::{DefaultResolver, ImageReference, MatchPattern, RegistryEntry, ResolveContext};
use serde_json::Value;

use crate::support::proxy::Proxy;
use crate::support::registry::Registry;
use crate::support::servers::ScriptServer;
use crate::support::{allow, clock_before_moto_expiry, unique, Emulator, User};

const BIN: &str = env!("CARGO_BIN_EXE_registry-auth");
const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// What a pull needs: the token action and the pull policy's read actions, on `*`.
fn read_policy() -> String {
    let mut actions: Vec<&str> = READ_ACTIONS.to_vec();
    actions.push(TOKEN_ACTION);
    allow(&actions, "*")
}

fn options(emu: &Emulator) -> AwsOptions {
    AwsOptions::default()
        .with_endpoint_url(&emu.endpoint)
        .with_max_attempts(1)
}

fn iam_entry(pattern: &str, user: &User) -> RegistryEntry {
    RegistryEntry::new(
        MatchPattern::parse(pattern).unwrap(),
        CredentialSource::IamUser(IamUser::new(
            &user.access_key_id,
            user.secret_access_key.as_str().into(),
            "us-east-1",
        )),
    )
}

fn basic_entry(pattern: &str, user: &str, password: &str) -> RegistryEntry {
    RegistryEntry::new(
        MatchPattern::parse(pattern).unwrap(),
        CredentialSource::Basic(Basic::new(user, password.into())),
    )
}

/// `HOST/*` as `robot` with `password`, and `HOST/locked/*` as `robot` with a wrong password.
fn robot_with_a_locked_path(host: &str, password: &str) -> DefaultResolver {
    DefaultResolver::builder()
        .entry(basic_entry(&format!("{host}/*"), "robot", password))
        .entry(basic_entry(
            &format!("{host}/locked/*"),
            "robot",
            "wrong-password",
        ))
        .build()
        .unwrap()
}

async fn check(resolver: &DefaultResolver, image: &str) -> ImageCheck {
    let image = ImageReference::parse(image).unwrap();
    live::check_image(resolver, &ResolveContext::unscoped(), &image).await
}

fn assert_verdict(check: &ImageCheck, verdict: Verdict, words: &[&str]) {
    assert_eq!(check.verdict, verdict, "{}: {}", check.image, check.detail);
    for w in words {
        assert!(check.detail.contains(w), "{:?} lacks {w:?}", check.detail);
    }
}

/// A repository with `tag` pushed into moto, and its digest.
fn ecr_image(emu: &Emulator, name: &str, tag: &str) -> (String, String) {
    let repository = unique(name);
    let v = emu.fixture(&["image", &repository, "--tag", tag]);
    assert_eq!(v["registry_id"], "123456789012");
    (repository, v["digest"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn ecr_read_actions_pass_and_a_token_only_user_misses_batch_get_image() {
    let emu = Emulator::get();
    let (repository, digest) = ecr_image(&emu, "live/app", "v1");
    let reader = emu.user("live-reader", Some(&read_policy()));
    let token_only = emu.user("live-token-only", Some(&allow(&[TOKEN_ACTION], "*")));
    let resolver = DefaultResolver::builder()
        .aws_options(options(&emu))
        .clock(clock_before_moto_expiry())
        .entry(iam_entry(&format!("{ECR}/*"), &reader))
        .entry(iam_entry(&format!("{ECR}/locked/*"), &token_only))
        .build()
        .unwrap();

    let ok = check(&resolver, &format!("{ECR}/{repository}:v1")).await;
    let puller = format!("to access key {}", reader.access_key_id);
    assert_verdict(
        &ok,
        Verdict::Ok,
        &[&digest, &puller, "ecr:BatchGetImage allowed"],
    );
    assert_eq!(ok.entry.as_ref().map(|(i, _)| *i), Some(0));
    let by_digest = check(&resolver, &format!("{ECR}/{repository}@{digest}")).await;
    assert_verdict(&by_digest, Verdict::Ok, &[&digest]);

    let tag = check(&resolver, &format!("{ECR}/{repository}:v2")).await;
    assert_verdict(
        &tag,
        Verdict::ReferenceNotFound,
        &["tag v2", &repository, "push it"],
    );
    let missing_digest = format!("sha256:{}", "0".repeat(64));
    let by_missing_digest = check(&resolver, &format!("{ECR}/{repository}@{missing_digest}")).await;
    assert_verdict(
        &by_missing_digest,
        Verdict::ReferenceNotFound,
        &[&missing_digest],
    );
    let repo = check(&resolver, &format!("{ECR}/{repository}-typo:v1")).await;
    assert_verdict(
        &repo,
        Verdict::RepositoryNotFound,
        &[&format!("{repository}-typo"), "create-repository"],
    );

    // The token-only user gets a token, and ECR refuses the read a pull needs.
    let (locked, _) = ecr_image(&emu, "locked/eval", "v1");
    let denied = check(&resolver, &format!("{ECR}/{locked}:v1")).await;
    let arn = format!("arn:aws:ecr:us-east-1:123456789012:repository/{locked}");
    assert_verdict(
        &denied,
        Verdict::PermissionMissing,
        &[
            "ecr:BatchGetImage",
            &arn,
            &token_only.arn,
            "\"Sid\": \"ReadECRRepository\"",
            &format!("\"Resource\": \"{arn}\""),
            "registry-auth policy --region us-east-1 --account 123456789012",
        ],
    );
    assert_eq!(denied.entry.as_ref().map(|(i, _)| *i), Some(1));
}

#[tokio::test]
async fn wrong_keys_missing_entries_and_a_dead_endpoint_are_told_apart() {
    let emu = Emulator::get();
    let (repository, _) = ecr_image(&emu, "live/keys", "v1");
    let reader = emu.user("live-keys", Some(&read_policy()));
    let wrong = User {
        secret_access_key: "not-the-secret".into(),
        ..reader.clone()
    };
    let no_token = emu.user("live-no-token", Some(&allow(&["ecr:BatchGetImage"], "*")));
    let resolver = DefaultResolver::builder()
        .aws_options(options(&emu))
        .clock(clock_before_moto_expiry())
        .entry(iam_entry(&format!("{ECR}/*"), &wrong))
        .entry(iam_entry(&format!("{ECR}/{repository}-notoken"), &no_token))
        .build()
        .unwrap();
    let rejected = check(&resolver, &format!("{ECR}/{repository}:v1")).await;
    assert_verdict(
        &rejected,
        Verdict::CredentialsRejected,
        &[&reader.access_key_id, "secret access key"],
    );
    assert!(!rejected.detail.contains("not-the-secret"));
    // Without ecr:GetAuthorizationToken there is no token to pull with.
    let no_token_check = check(&resolver, &format!("{ECR}/{repository}-notoken:v1")).await;
    assert_verdict(
        &no_token_check,
        Verdict::PermissionMissing,
        &["ecr:GetAuthorizationToken", &no_token.arn],
    );
    // A private ECR registry no entry serves: never asked anonymously.
    let other = check(
        &resolver,
        "210987654321.dkr.ecr.us-west-2.amazonaws.com/x:v1",
    )
    .await;
    assert_verdict(&other, Verdict::NoEntry, &["add an entry"]);
    assert_eq!(other.entry, None);

    // Nothing listens on port 9.
    let dead = DefaultResolver::builder()
        .aws_options(
            AwsOptions::default()
                .with_endpoint_url("http://127.0.0.1:9")
                .with_max_attempts(1),
        )
        .entry(iam_entry(&format!("{ECR}/*"), &reader))
        .build()
        .unwrap();
    let unreachable = check(&dead, &format!("{ECR}/{repository}:v1")).await;
    assert_verdict(&unreachable, Verdict::Unreachable, &["127.0.0.1:9"]);
}

#[tokio::test]
async fn many_images_of_one_entry_take_one_token() {
    let emu = Emulator::get();
    // The proxy stamps tokens with a real expiry, so the cache keeps them.
    let proxy = Proxy::start(&emu.endpoint);
    let reader = emu.user("live-once", Some(&read_policy()));
    let (a, _) = ecr_image(&emu, "live/once-a", "v1");
    let (b, _) = ecr_image(&emu, "live/once-b", "v1");
    let resolver = DefaultResolver::builder()
        .aws_options(
            AwsOptions::default()
                .with_endpoint_url(&proxy.endpoint)
                .with_max_attempts(1),
        )
        .entry(iam_entry(&format!("{ECR}/*"), &reader))
        .build()
        .unwrap();
    let images: Vec<ImageReference> = [
        format!("{ECR}/{a}:v1"),
        format!("{ECR}/{b}:v1"),
        format!("{ECR}/{a}:v2"),
    ]
    .iter()
    .map(|i| ImageReference::parse(i).unwrap())
    .collect();
    let mut done = Vec::new();
    let checks = live::check_images(
        &resolver,
        &ResolveContext::unscoped(),
        &images,
        3,
        |i, _| done.push(i),
    )
    .await;
    let verdicts: Vec<Verdict> = checks.iter().map(|c| c.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Ok, Verdict::Ok, Verdict::ReferenceNotFound]
    );
    done.sort_unstable();
    assert_eq!(done, [0, 1, 2]);
    assert_eq!(
        proxy.count("GetAuthorizationToken"),
        1,
        "{:?}",
        proxy.counts()
    );
    assert_eq!(proxy.count("BatchGetImage"), 3, "{:?}", proxy.counts());
}

#[tokio::test]
async fn an_instance_role_proves_its_pull_and_a_role_without_reads_does_not() {
    let emu = Emulator::get();
    let (repository, _) = ecr_image(&emu, "live/worker", "v1");
    for (name, policy, verdict) in [
        ("live-worker", read_policy(), Verdict::Ok),
        (
            "live-worker-token",
            allow(&[TOKEN_ACTION], "*"),
            Verdict::PermissionMissing,
        ),
    ] {
        let worker = emu.worker(name, &policy);
        let resolver = DefaultResolver::builder()
            .aws_options(options(&emu).with_imds_endpoint(&worker.imds.endpoint))
            .clock(clock_before_moto_expiry())
            .entry(RegistryEntry::new(
                MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
                CredentialSource::InstanceRole(InstanceRole::new(&worker.role_name, "us-east-1")),
            ))
            .build()
            .unwrap();
        let c = check(&resolver, &format!("{ECR}/{repository}:v1")).await;
        assert_eq!(c.verdict, verdict, "{name}: {}", c.detail);
        if verdict == Verdict::Ok {
            assert!(
                c.detail
                    .contains(&format!("instance role {}", worker.role_name)),
                "{}",
                c.detail
            );
        } else {
            assert!(c.detail.contains(&worker.role_name), "{}", c.detail);
        }
    }
}

/// A docker-registry whose robot is `robot` with `password`, holding `tiny:v1`.
fn plain_registry(password: &str) -> (Registry, String) {
    let registry = Registry::start_as("robot", password);
    let digest = registry.push("tiny:v1");
    (registry, digest)
}

#[tokio::test]
async fn a_plain_registry_answers_ok_wrong_password_unknown_tag_and_unknown_repository() {
    let (registry, digest) = plain_registry("robot-pass-1");
    let host = &registry.addr;
    let resolver = robot_with_a_locked_path(host, "robot-pass-1");
    let ok = check(&resolver, &format!("{host}/tiny:v1")).await;
    assert_verdict(&ok, Verdict::Ok, &[&digest, "user robot"]);
    let pinned = check(&resolver, &format!("{host}/tiny@{digest}")).await;
    assert_verdict(&pinned, Verdict::Ok, &[&digest]);
    let tag = check(&resolver, &format!("{host}/tiny:v9")).await;
    assert_verdict(&tag, Verdict::ReferenceNotFound, &["tag v9", "tiny"]);
    let repo = check(&resolver, &format!("{host}/nothere:v1")).await;
    assert_verdict(&repo, Verdict::RepositoryNotFound, &["nothere"]);
    let wrong = check(&resolver, &format!("{host}/locked/tiny:v1")).await;
    assert_verdict(
        &wrong,
        Verdict::CredentialsRejected,
        &["user robot", "HTTP 401"],
    );
    for c in [&ok, &tag, &repo, &wrong] {
        assert!(!c.detail.contains("robot-pass-1") && !c.detail.contains("wrong-password"));
    }

    // No entry: asked without credentials, and the registry wants some.
    let none = DefaultResolver::builder()
        .entry(basic_entry(
            &format!("{host}/other/*"),
            "robot",
            "robot-pass-1",
        ))
        .build()
        .unwrap();
    let no_entry = check(&none, &format!("{host}/tiny:v1")).await;
    assert_verdict(
        &no_entry,
        Verdict::NoEntry,
        &["asks for credentials", "add an entry"],
    );
}

#[tokio::test]
async fn a_bearer_token_service_in_front_of_the_registry() {
    let emu = Emulator::get();
    let (registry, digest) = plain_registry("robot-pass-2");
    let proxy = ScriptServer::start(
        &emu,
        "token_proxy.py",
        [
            "--upstream",
            registry.addr.as_str(),
            "--deny",
            "tiny-denied",
        ],
    );
    let host = proxy.endpoint.trim_start_matches("http://").to_owned();
    let resolver = robot_with_a_locked_path(&host, "robot-pass-2");
    let ok = check(&resolver, &format!("{host}/tiny:v1")).await;
    assert_verdict(&ok, Verdict::Ok, &[&digest]);
    let tag = check(&resolver, &format!("{host}/tiny:v9")).await;
    assert_verdict(&tag, Verdict::ReferenceNotFound, &["tag v9"]);
    let denied = check(&resolver, &format!("{host}/tiny-denied:v1")).await;
    assert_verdict(
        &denied,
        Verdict::PermissionMissing,
        &["user robot", "tiny-denied"],
    );
    let wrong = check(&resolver, &format!("{host}/locked/tiny:v1")).await;
    assert_verdict(&wrong, Verdict::CredentialsRejected, &["user robot"]);
    let stats = proxy.stats();
    assert_eq!(stats["token"], 3, "{stats}");
    assert_eq!(stats["token_refused"], 1, "{stats}");
}

#[tokio::test]
async fn an_aws_entry_for_a_registry_that_is_not_ecr_is_asked_with_its_token() {
    // moto's token for a host that is not an ECR host opens this registry (as in the pull
    // tests), so the check goes through the distribution API with it.
    let emu = Emulator::get();
    let registry = Registry::start("123456789012-auth-token");
    let digest = registry.push("tiny:v1");
    let reader = emu.user("live-proxy-ecr", Some(&read_policy()));
    let resolver = DefaultResolver::builder()
        .aws_options(options(&emu))
        .clock(clock_before_moto_expiry())
        .entry(iam_entry(&format!("{}/*", registry.addr), &reader))
        .build()
        .unwrap();
    let ok = check(&resolver, &format!("{}/tiny:v1", registry.addr)).await;
    assert_verdict(&ok, Verdict::Ok, &[&digest, "user AWS"]);
}

/// `check FILE --config CONFIG --live [--json]` with the emulator as AWS.
fn run_check(dir: &std::path::Path, emu: &Emulator, json: bool) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg(dir.join("valohai.yaml"))
        .arg("--config")
        .arg(dir.join("registries.toml"))
        .arg("--live")
        .env_clear()
        .env("HOME", dir)
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("REGISTRY_AUTH_LOG", "error");
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

#[test]
fn check_live_prints_one_verdict_per_image_and_exits_1_unless_all_pull() {
    let emu = Emulator::get();
    let (repository, digest) = ecr_image(&emu, "live/cli", "v1");
    let reader = emu.user("live-cli", Some(&read_policy()));
    let token_only = emu.user("live-cli-token", Some(&allow(&[TOKEN_ACTION], "*")));
    let (locked, _) = ecr_image(&emu, "cli-locked/eval", "v1");
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str, u: &User| {
        crate::support::write_private(&dir.path().join(name), &u.secret_access_key);
    };
    secret("reader.secret", &reader);
    secret("token.secret", &token_only);
    let locked_prefix = locked.split('/').next().unwrap();
    std::fs::write(
        dir.path().join("registries.toml"),
        format!(
            "[[registry]]\npattern = \"{ECR}/*\"\niam_user = {{ access_key_id = \"{}\", secret_access_key = {{ file = \"reader.secret\" }}, region = \"us-east-1\" }}\n\n[[registry]]\npattern = \"{ECR}/{locked_prefix}/*\"\niam_user = {{ access_key_id = \"{}\", secret_access_key = {{ file = \"token.secret\" }}, region = \"us-east-1\" }}\n",
            reader.access_key_id, token_only.access_key_id
        ),
    )
    .unwrap();
    let good = format!(
        "- step:\n    name: train\n    image: {ECR}/{repository}:v1\n- step:\n    name: again\n    image: {ECR}/{repository}:v1\n"
    );
    std::fs::write(dir.path().join("valohai.yaml"), &good).unwrap();
    let out = run_check(dir.path(), &emu, false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&digest), "{stdout}");
    assert!(stdout.contains("2 image(s): 2 ok"), "{stdout}");
    // Not a terminal: no progress lines.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("[1/1]"));

    let bad = format!(
        "{good}- step:\n    name: eval\n    image: {ECR}/{locked}:v1\n- endpoint:\n    name: serve\n    image: {ECR}/{repository}:v2\n- step:\n    name: broken\n    image: [a, b]\n"
    );
    std::fs::write(dir.path().join("valohai.yaml"), bad).unwrap();
    let out = run_check(dir.path(), &emu, true);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = v["images"].as_array().unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let rows: Vec<(&str, u64, &str)> = images
        .iter()
        .map(|i| {
            let keys: Vec<&String> = i.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["detail", "entry", "image", "line", "step", "verdict"],
                "{i}"
            );
            (
                i["step"].as_str().unwrap(),
                i["line"].as_u64().unwrap(),
                i["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("train", 3, "ok"),
            ("again", 6, "ok"),
            ("eval", 9, "permission_missing"),
            ("serve", 12, "reference_not_found"),
            ("broken", 15, "reference_not_found"),
        ]
    );
    assert_eq!(images[2]["entry"]["index"], 1);
    assert!(images[2]["detail"]
        .as_str()
        .unwrap()
        .contains("ecr:BatchGetImage"));
    assert_eq!(images[4]["entry"], Value::Null);
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(
        !all.contains(&reader.secret_access_key) && !all.contains(&token_only.secret_access_key)
    );
}

#[tokio::test]
async fn progress_lines_go_to_a_terminal_only() {
    let (registry, _) = plain_registry("robot-pass-3");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("registries.toml");
    std::fs::write(
        &config,
        format!(
            "[[registry]]\npattern = \"{}/*\"\nbasic = {{ username = \"robot\", password = \"robot-pass-3\" }}\n",
            registry.addr
        ),
    )
    .unwrap();
    let file = ValohaiFile::parse(
        &format!(
            "- step:\n    name: a\n    image: {0}/tiny:v1\n- step:\n    name: b\n    image: {0}/tiny:v1\n- step:\n    name: c\n    image: {0}/tiny:v2\n",
            registry.addr
        ),
        "valohai.yaml",
    )
    .unwrap();
    let mut setup = registry_auth::front::Setup::new(&config);
    setup.disk = registry_auth::front::DiskChoice::Off;
    for terminal in [true, false] {
        let mut progress = Vec::new();
        let report = registry_auth::front::check::live(&setup, &file, &mut progress, terminal)
            .await
            .unwrap();
        assert_eq!(report.rows.len(), 3);
        assert!(!report.passed());
        let text = String::from_utf8(progress).unwrap();
        if terminal {
            // Two distinct images: one line each, counted as they finish.
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{text}");
            assert!(
                lines[0].starts_with("[1/2] ") && lines[1].starts_with("[2/2] "),
                "{text}"
            );
            for (label, tag) in [("ok", "v1"), ("tag/digest not found", "v2")] {
                let line = format!("{label:<22} {}/tiny:{tag}", registry.addr);
                assert!(text.contains(&line), "{text}");
            }
        } else {
            assert_eq!(text, "");
        }
    }
}

#[test]
fn trace_logs_of_a_live_check_hold_no_secret() {
    use base64::Engine as _;
    let emu = Emulator::get();
    let (repository, _) = ecr_image(&emu, "live/hygiene", "v1");
    let reader = emu.user("live-hygiene", Some(&read_policy()));
    let (registry, _) = plain_registry("robot-pass-4");
    let tokens = ScriptServer::start(
        &emu,
        "token_proxy.py",
        ["--upstream", registry.addr.as_str()],
    );
    let behind = tokens.endpoint.trim_start_matches("http://");
    let dir = tempfile::tempdir().unwrap();
    crate::support::write_private(&dir.path().join("reader.secret"), &reader.secret_access_key);
    std::fs::write(
        dir.path().join("registries.toml"),
        format!(
            "[[registry]]\npattern = \"{ECR}/*\"\niam_user = {{ access_key_id = \"{}\", secret_access_key = {{ file = \"reader.secret\" }}, region = \"us-east-1\" }}\n\n[[registry]]\npattern = \"{}/*\"\nbasic = {{ username = \"robot\", password = \"robot-pass-4\" }}\n\n[[registry]]\npattern = \"{behind}/*\"\nbasic = {{ username = \"robot\", password = \"robot-pass-4\" }}\n",
            reader.access_key_id, registry.addr
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("valohai.yaml"),
        format!(
            "- step:\n    name: a\n    image: {ECR}/{repository}:v1\n- step:\n    name: b\n    image: {}/tiny:v1\n- step:\n    name: c\n    image: {behind}/tiny:v1\n- step:\n    name: d\n    image: {behind}/tiny:v2\n",
            registry.addr
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("check")
        .arg(dir.path().join("valohai.yaml"))
        .arg("--config")
        .arg(dir.path().join("registries.toml"))
        .args(["--live", "--json"])
        .env_clear()
        .env("HOME", dir.path())
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("REGISTRY_AUTH_LOG", "trace")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["ok", "ok", "ok", "reference_not_found"], "{v}");
    assert!(
        all.contains("TRACE") || all.contains("DEBUG"),
        "no trace output at all"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("robot:robot-pass-4");
    let ecr_token = base64::engine::general_purpose::STANDARD.encode("AWS:123456789012-auth-token");
    for (name, secret) in [
        ("secret access key", reader.secret_access_key.as_str()),
        ("registry password", "robot-pass-4"),
        ("Basic authorization", basic.as_str()),
        ("ECR token", "123456789012-auth-token"),
        ("ECR token, base64", ecr_token.as_str()),
    ] {
        assert!(!all.contains(secret), "the {name} appears in the output");
    }
}
