//! Upstream replies that hold secrets and cannot be used: an ECR 200 with a bad `expiresAt`, a
//! truncated one, one whose `expiresAt` no clock can hold, a 500 whose HTML body holds a token,
//! a 403 whose message holds one, and an STS `AssumeRole` 200 with a bad `<Expiration>` beside
//! its keys. A loopback proxy in front of the emulator answers them, each carrying known canary
//! values; every output of `registry-auth get`, `get --json`, the docker helper and `kubelet`
//! is searched for the canaries at every log level. The errors must name the operation and the
//! status instead, and the exit code must say "upstream" (3) for `get`.

use crate::support;

use std::process::{Command, Output};

use base64::Engine as _;
use support::proxy::{Fault, Proxy};
use support::{pull_policy, Emulator};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0";
/// The password inside the base64 ECR token.
const CANARY_PASSWORD: &str = "CANARYecrPASSWORD7f3a9";
/// STS keys of an assumed role.
const CANARY_SECRET: &str = "CANARYstsSECRETkey/0a1b2c";
const CANARY_SESSION: &str = "CANARYstsSESSIONtoken9d8e7f";
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

fn token() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("AWS:{CANARY_PASSWORD}"))
}

/// Every canary, and the base64 token, as they could appear.
fn canaries() -> Vec<String> {
    vec![
        token(),
        CANARY_PASSWORD.to_owned(),
        CANARY_SECRET.to_owned(),
        CANARY_SESSION.to_owned(),
        "CANARY".to_owned(),
    ]
}

/// The bad replies, by name, with what answers which action.
fn replies() -> Vec<(&'static str, &'static str, Fault)> {
    let t = token();
    vec![
        (
            "ECR 200, expiresAt not a date",
            "GetAuthorizationToken",
            Fault::status(
                200,
                format!(
                    r#"{{"authorizationData":[{{"authorizationToken":"{t}","expiresAt":"tomorrow","proxyEndpoint":"https://{HOST}"}}]}}"#
                ),
            ),
        ),
        (
            "ECR 200, truncated",
            "GetAuthorizationToken",
            Fault::status(
                200,
                format!(r#"{{"authorizationData":[{{"authorizationToken":"{t}","expiresAt":14"#),
            ),
        ),
        (
            "ECR 500 with an HTML body holding the token",
            "GetAuthorizationToken",
            Fault::reply(
                500,
                "text/html",
                format!("<html><body>upstream said {t} and {CANARY_PASSWORD}</body></html>"),
            ),
        ),
        (
            "ECR 403 whose message holds the token",
            "GetAuthorizationToken",
            Fault::reply(
                403,
                "text/xml",
                format!(
                    "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: {t} is not authorized {CANARY_PASSWORD}</Message></Error></ErrorResponse>"
                ),
            ),
        ),
        (
            "STS 200, Expiration not a date",
            "AssumeRole",
            Fault::reply(
                200,
                "text/xml",
                format!(
                    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials>\
                     <AccessKeyId>ASIACANARYCANARY0000</AccessKeyId><SecretAccessKey>{CANARY_SECRET}</SecretAccessKey>\
                     <SessionToken>{CANARY_SESSION}</SessionToken><Expiration>not-a-date</Expiration></Credentials>\
                     <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\
                     </AssumeRoleResult></AssumeRoleResponse>"
                ),
            ),
        ),
    ]
}

struct Rig {
    proxy: Proxy,
    dir: tempfile::TempDir,
    imds: String,
    /// Keeps the IMDS test server alive.
    _worker: support::Worker,
}

/// An IAM user entry for `HOST/*`, and an instance role with a dedicated role for
/// `HOST/role/*`; every AWS call through the proxy.
fn rig() -> Rig {
    let emu = Emulator::get();
    let user = emu.user("leaks", Some(&pull_policy()));
    let (worker, dedicated) = emu.worker_with_dedicated_role("leaks-worker");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("registries.toml"),
        format!(
            r#"
[[registry]]
pattern = "{HOST}/*"
iam_user = {{ access_key_id = "{}", secret_access_key = "{}", region = "us-east-1" }}

[[registry]]
pattern = "{HOST}/role/*"
instance_role = {{ role_name = "{}", region = "us-east-1", assume_role_arn = "{dedicated}" }}
"#,
            user.access_key_id, user.secret_access_key, worker.role_name
        ),
    )
    .unwrap();
    Rig {
        proxy: Proxy::start(&emu.endpoint),
        dir,
        imds: worker.imds.endpoint.clone(),
        _worker: worker,
    }
}

impl Rig {
    fn run(&self, binary: &str, args: &[&str], level: &str, stdin: &str) -> Output {
        let cache = tempfile::tempdir().unwrap();
        support::run_with_input(
            Command::new(binary)
                .args(args)
                .env_clear()
                .env("HOME", self.dir.path())
                .env("XDG_CACHE_HOME", cache.path())
                .env(
                    "REGISTRY_AUTH_CONFIG",
                    self.dir.path().join("registries.toml"),
                )
                .env("REGISTRY_AUTH_LOG", level)
                .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
                .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &self.imds),
            stdin.as_bytes(),
        )
    }
}

fn all_output(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_expiry_no_clock_can_hold_is_no_panic_but_an_expired_token() {
    let rig = rig();
    let t = token();
    rig.proxy.set_hook(move |req| {
        if req.action == "GetAuthorizationToken" {
            Fault::status(
                200,
                format!(
                    r#"{{"authorizationData":[{{"authorizationToken":"{t}","expiresAt":-1e300,"proxyEndpoint":"https://{HOST}"}}]}}"#
                ),
            )
        } else {
            Fault::default()
        }
    });
    let out = rig.run(
        env!("CARGO_BIN_EXE_registry-auth"),
        &["get", "--json", IMAGE],
        "warn",
        "",
    );
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["expired"], true, "{v}");
    assert!(all.contains("already expired"), "a warning says so: {all}");
    assert!(!all.contains(CANARY_PASSWORD), "{all}");
}

#[test]
fn unusable_replies_never_leak_their_secrets_through_any_front_end_at_any_level() {
    let rig = rig();
    let cli = env!("CARGO_BIN_EXE_registry-auth");
    let helper = env!("CARGO_BIN_EXE_docker-credential-registry-auth");
    for (name, action, fault) in replies() {
        rig.proxy.set_hook(move |req| {
            if req.action == action {
                fault.clone()
            } else {
                Fault::default()
            }
        });
        // The STS reply is met on the dedicated role's path; the ECR ones on the user's.
        let image = if action == "AssumeRole" {
            format!("{HOST}/role/app:v1")
        } else {
            IMAGE.to_owned()
        };
        let kubelet_request = serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": image,
        })
        .to_string();
        for level in LEVELS {
            let runs: Vec<(&str, Output)> = vec![
                ("get", rig.run(cli, &["get", &image], level, "")),
                (
                    "get --json",
                    rig.run(cli, &["get", "--json", &image], level, ""),
                ),
                (
                    "kubelet",
                    rig.run(cli, &["kubelet"], level, &kubelet_request),
                ),
            ];
            for (front, out) in &runs {
                let all = all_output(out);
                assert!(
                    !out.status.success(),
                    "{name}, {front}, {level}: should fail\n{all}"
                );
                for canary in canaries() {
                    assert!(
                        !all.contains(&canary),
                        "{name}, {front}, {level}: {canary:?} leaked:\n{all}"
                    );
                }
            }
            // The errors say what failed, and `get` exits 3: upstream.
            let (_, get) = &runs[0];
            assert_eq!(get.status.code(), Some(3), "{name}, {level}: exit code");
            let operation = if action == "AssumeRole" {
                "AssumeRole"
            } else {
                "GetAuthorizationToken"
            };
            let said = all_output(get);
            // A denial names the action and the statement to add instead of a status.
            assert!(
                said.contains(operation)
                    && (said.contains("HTTP ") || said.contains("not allowed to perform")),
                "{name}, {level}: the error names the operation and the status:\n{said}"
            );
            let (_, json) = &runs[1];
            let v: serde_json::Value = serde_json::from_slice(&json.stdout)
                .unwrap_or_else(|e| panic!("{name}, {level}: --json prints JSON: {e}"));
            assert!(v["error"].is_string(), "{name}, {level}: {v}");
            assert!(
                matches!(v["kind"].as_str(), Some("upstream" | "credentials")),
                "{name}, {level}: {v}"
            );
            // The helper is asked per host: only the user's entry serves a bare host, so it
            // meets only the ECR replies.
            if action != "AssumeRole" {
                let out = rig.run(helper, &["get"], level, HOST);
                let all = all_output(&out);
                assert!(!out.status.success(), "{name}, helper, {level}\n{all}");
                for canary in canaries() {
                    assert!(
                        !all.contains(&canary),
                        "{name}, helper, {level}: {canary:?} leaked:\n{all}"
                    );
                }
            }
        }
    }
}
