//! The credential sources people already use, end to end against real parts on 127.0.0.1:
//! assume-role over an IAM user and a session token (moto, IAM checks on); the standard chain
//! with `credential_process` from a temporary `AWS_CONFIG_FILE`, ECS/EKS container credentials
//! from `scripts/container_credentials_server.py`, and a web identity token file; web identity
//! from a token file and from the kubelet's service-account token (a second moto with its
//! checks off: moto answers the unsigned `AssumeRoleWithWebIdentity` with a 500 when they are
//! on); ECR Public through `scripts/ecr_public_server.py` (moto has no ECR Public: that server
//! speaks its JSON protocol and checks each request's SigV4 signature for `ecr-public` in
//! us-east-1 with botocore's signer); an embedder's own `SdkConfig`.
//!
//! Tests that need environment variables (the chain reads them) run the binaries with their
//! own environment: nothing here sets a variable in the test process.

use crate::support;

#[allow(dead_code)]
#[path = "../../examples/embed_sdk_config.rs"]
mod embed_sdk_config;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use base64::Engine as _;
use registry_auth::aws::{AssumeRole, AwsError, AwsOptions, IamUserProvider, WebIdentityProvider};
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::{CredentialProvider, RequestAttributes};
use registry_auth::{DefaultResolver, Error, ImageReference, RegistryConfig, RegistryResolver};

use support::proxy::Proxy;
use support::servers::{open_moto, ScriptServer};
use support::{allow, pull_policy, trust_policy, write_private, Counting, Emulator, User};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const TOKEN: &str = "123456789012-auth-token";
const CLI: &str = env!("CARGO_BIN_EXE_registry-auth");
const HELPER: &str = env!("CARGO_BIN_EXE_docker-credential-registry-auth");
const ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";

fn options(endpoint: &str) -> AwsOptions {
    AwsOptions::default()
        .with_endpoint_url(endpoint)
        .with_max_attempts(1)
}

fn resolver(toml: &str, endpoint: &str) -> DefaultResolver {
    let config = RegistryConfig::from_toml_str(toml, "sources.toml").unwrap();
    DefaultResolver::builder()
        .aws_options(options(endpoint))
        .config(&config)
        .build()
        .unwrap()
}

fn image() -> String {
    format!("{ECR}/app:v1")
}

/// A service-account token as the kubelet sends it: a JWT whose subject names the account
/// (the signature is not checked by moto; STS would).
fn jwt(subject: &str, nonce: &str) -> String {
    let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let claims = serde_json::json!({ "sub": subject, "aud": ["sts.amazonaws.com"], "jti": nonce });
    format!(
        "{}.{}.{}",
        enc(br#"{"alg":"RS256","kid":"test"}"#),
        enc(claims.to_string().as_bytes()),
        enc(nonce.as_bytes())
    )
}

fn iam_user_toml(user: &User, extra: &str) -> String {
    format!(
        "[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nregion = \"us-east-1\"\n{extra}",
        user.access_key_id, user.secret_access_key
    )
}

// ---------------------------------------------------------------------------------------------
// Assume-role over any source, and session tokens.

#[tokio::test]
async fn an_iam_user_pulls_as_the_role_its_assume_role_table_names() {
    let emu = Emulator::get();
    let role = emu.role(
        "pull-role",
        &trust_policy("*", Some("ext-1")),
        &pull_policy(),
    );
    // The user may assume the role and nothing else: only the role can get a token.
    let user = emu.user("assumer", Some(&allow(&["sts:AssumeRole"], &role)));
    let with_role = iam_user_toml(
        &user,
        &format!("[registry.iam_user.assume_role]\nrole_arn = \"{role}\"\nexternal_id = \"ext-1\"\nsession_name = \"ci-pull\"\nduration_seconds = 900\n"),
    );
    let login = resolver(&with_role, &emu.endpoint)
        .resolve_str(&image())
        .await
        .unwrap();
    assert_eq!(login.credential.expose_password(), TOKEN);

    let without = iam_user_toml(&user, "");
    let err = resolver(&without, &emu.endpoint)
        .resolve_str(&image())
        .await
        .unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::AccessDenied { action, .. }) if action == "ecr:GetAuthorizationToken"),
        "the user alone may not pull: {err:?}"
    );
}

#[tokio::test]
async fn a_user_without_sts_assume_role_is_told_the_action_and_the_principal() {
    let emu = Emulator::get();
    let role = emu.role("not-for-them", &trust_policy("*", None), &pull_policy());
    let user = emu.user("no-assume", Some(&allow(&["ecr:DescribeImages"], "*")));
    let toml = iam_user_toml(
        &user,
        &format!("[registry.iam_user.assume_role]\nrole_arn = \"{role}\"\n"),
    );
    let err = resolver(&toml, &emu.endpoint)
        .resolve_str(&image())
        .await
        .unwrap_err();
    match err.detail::<AwsError>() {
        Some(AwsError::AccessDenied {
            principal,
            action,
            statement,
        }) => {
            assert_eq!(principal, &user.arn);
            assert_eq!(action, "sts:AssumeRole");
            assert!(statement.contains(&role), "{statement}");
        }
        other => panic!("expected AccessDenied for sts:AssumeRole, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&user.arn) && text.contains("sts:AssumeRole"),
        "{text}"
    );
    assert!(!text.contains(&user.secret_access_key));
}

#[test]
fn a_layered_identity_is_the_base_with_its_secrets_hashed_plus_the_role() {
    let provider = |role: Option<AssumeRole>| {
        let mut b = IamUserProvider::builder()
            .access_key_id("AKIAIOSFODNN7EXAMPLE")
            .secret_access_key("the-secret".into())
            .region("us-east-1");
        if let Some(r) = role {
            b = b.assume_role(r);
        }
        b.build().unwrap().identity()
    };
    let plain = provider(None);
    let a = provider(Some(
        AssumeRole::new("arn:aws:iam::123456789012:role/a").with_external_id("x"),
    ));
    let b = provider(Some(AssumeRole::new("arn:aws:iam::123456789012:role/b")));
    assert!(
        a.public()
            .starts_with("assume-role role=arn:aws:iam::123456789012:role/a external-id=x sts="),
        "{a:?}"
    );
    assert!(
        a.public()
            .contains("base=(iam-user key=AKIAIOSFODNN7EXAMPLE)"),
        "{a:?}"
    );
    assert_ne!(a.public(), b.public());
    assert_ne!(a.public(), plain.public());
    assert!(
        format!("{a:?}").contains("+1 secret"),
        "the base's secret, hashed: {a:?}"
    );
    assert!(!format!("{a:?}").contains("the-secret"));
}

#[tokio::test]
async fn a_temporary_key_works_with_its_session_token_and_not_without() {
    let emu = Emulator::get();
    let role = emu.role("temporary", &trust_policy("*", None), &pull_policy());
    let c = emu.assume_as_admin(&role);
    let (akid, secret, token) = (
        c["access_key_id"].as_str().unwrap(),
        c["secret_access_key"].as_str().unwrap(),
        c["session_token"].as_str().unwrap(),
    );
    let toml = |session: &str| {
        format!(
            "[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"{akid}\"\nsecret_access_key = \"{secret}\"\n{session}region = \"us-east-1\"\n"
        )
    };
    let with = toml(&format!("session_token = \"{token}\"\n"));
    let login = resolver(&with, &emu.endpoint)
        .resolve_str(&image())
        .await
        .unwrap();
    assert_eq!(login.credential.expose_password(), TOKEN);
    let err = resolver(&toml(""), &emu.endpoint)
        .resolve_str(&image())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), registry_auth::ErrorKind::Credentials, "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// The standard chain, through the binaries with their own environment.

/// A scratch directory and a `registries.toml` in it.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(config: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registries.toml"), config).unwrap();
        Scratch { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `bin args` with only `env` (and a scratch HOME, no IMDS) in its environment, `stdin`
    /// on its standard input.
    fn run(&self, bin: &str, args: &[&str], env: &[(&str, String)], stdin: &str) -> Output {
        support::run_with_input(
            Command::new(bin)
                .args(args)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", self.dir.path())
                .env("XDG_CACHE_HOME", self.path("cache"))
                .env("REGISTRY_AUTH_CONFIG", self.path("registries.toml"))
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", self.path("no-aws-config"))
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    self.path("no-aws-credentials"),
                )
                .envs(env.iter().map(|(k, v)| (*k, v.as_str()))),
            stdin.as_bytes(),
        )
    }

    /// `registry-auth get --show-password --json IMAGE`, its JSON.
    fn get(&self, image: &str, env: &[(&str, String)]) -> Result<serde_json::Value, String> {
        let config = self.path("registries.toml");
        let out = self.run(
            CLI,
            &[
                "get",
                "--config",
                config.to_str().unwrap(),
                "--show-password",
                "--json",
                image,
            ],
            env,
            "",
        );
        if out.status.success() {
            Ok(serde_json::from_slice(&out.stdout).unwrap())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `docker-credential-registry-auth get` for `host`: the secret.
    fn helper_get(&self, host: &str, env: &[(&str, String)]) -> Result<String, String> {
        let out = self.run(HELPER, &["get"], env, host);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            Ok(v["Secret"].as_str().unwrap().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    }
}

fn chain_config(extra: &str) -> String {
    format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.aws_chain]\n{extra}")
}

/// A profile `ci` whose `credential_process` prints `user`'s key (from a 0600 file).
fn credential_process_profile(s: &Scratch, user: &User) -> PathBuf {
    let creds = s.path("creds.json");
    write_private(
        &creds,
        &serde_json::json!({
            "Version": 1,
            "AccessKeyId": user.access_key_id,
            "SecretAccessKey": user.secret_access_key,
        })
        .to_string(),
    );
    let script = s.path("print-creds.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec cat '{}'\n", creds.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = s.path("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile ci]\ncredential_process = {}\nregion = us-east-1\n",
            script.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn the_chain_reads_a_profile_whose_credential_process_prints_the_key() {
    let emu = Emulator::get();
    let user = emu.user("chain-process", Some(&pull_policy()));
    let s = Scratch::new(&chain_config("profile = \"ci\"\n"));
    let aws_config = credential_process_profile(&s, &user);
    let env = [
        ("AWS_CONFIG_FILE", aws_config.display().to_string()),
        ("AWS_ENDPOINT_URL", emu.endpoint.clone()),
    ];
    let got = s.get(&image(), &env).unwrap();
    assert_eq!(got["password"], TOKEN);
    // The docker helper, the same way.
    assert_eq!(s.helper_get(ECR, &env).unwrap(), TOKEN);

    // AWS_PROFILE picks it when the entry names none.
    let s2 = Scratch::new(&chain_config(""));
    let aws_config = credential_process_profile(&s2, &user);
    let env = [
        ("AWS_CONFIG_FILE", aws_config.display().to_string()),
        ("AWS_PROFILE", "ci".to_owned()),
        ("AWS_ENDPOINT_URL", emu.endpoint.clone()),
    ];
    assert_eq!(s2.get(&image(), &env).unwrap()["password"], TOKEN);

    // A profile that is not there: the chain has nothing, and says where it looked.
    let s3 = Scratch::new(&chain_config("profile = \"missing\"\n"));
    let aws_config = credential_process_profile(&s3, &user);
    let env = [
        ("AWS_CONFIG_FILE", aws_config.display().to_string()),
        ("AWS_ENDPOINT_URL", emu.endpoint.clone()),
    ];
    let err = s3.get(&image(), &env).unwrap_err();
    assert!(
        err.contains("the standard AWS chain (profile missing)"),
        "{err}"
    );
    assert!(!err.contains(&user.secret_access_key), "{err}");
}

#[test]
fn the_chain_reads_ecs_and_eks_container_credentials_with_the_authorization_token_file() {
    let emu = Emulator::get();
    let role = emu.role("task-role", &trust_policy("*", None), &pull_policy());
    let s = Scratch::new(&chain_config(""));
    let creds = s.path("task-creds.json");
    write_private(&creds, &emu.assume_as_admin(&role).to_string());
    let token_file = s.path("auth-token");
    write_private(&token_file, "pod-identity-token-1");
    let server = ScriptServer::start(
        &emu,
        "container_credentials_server.py",
        [
            "--credentials-file".as_ref(),
            creds.as_os_str(),
            "--token-file".as_ref(),
            token_file.as_os_str(),
        ],
    );
    let env = |token_path: &Path| {
        [
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}/credentials", server.endpoint),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_path.display().to_string(),
            ),
            ("AWS_ENDPOINT_URL", emu.endpoint.clone()),
        ]
    };
    let got = s.get(&image(), &env(&token_file)).unwrap();
    assert_eq!(got["password"], TOKEN);
    assert_eq!(server.stats()["ok"], 1);

    // The wrong authorization token: the server refuses, and so does the chain.
    let wrong = s.path("wrong-token");
    write_private(&wrong, "not-the-token");
    let err = s.get(&image(), &env(&wrong)).unwrap_err();
    assert!(
        err.contains("could not get AWS credentials from the standard AWS chain"),
        "{err}"
    );
    assert!(server.stats()["unauthorized"].as_u64().unwrap() >= 1);
}

#[test]
fn the_chain_reads_a_web_identity_token_file_and_role_from_the_environment() {
    let emu = Emulator::get();
    let open = open_moto(&emu);
    let role = emu
        .at(&open.endpoint)
        .role("irsa-env", &trust_policy("*", None), &pull_policy());
    let s = Scratch::new(&chain_config(""));
    let token = s.path("token");
    write_private(&token, &jwt("system:serviceaccount:ci:builder", "env"));
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_ROLE_ARN", role.clone()),
        ("AWS_ENDPOINT_URL", open.endpoint.clone()),
    ];
    assert_eq!(s.get(&image(), &env).unwrap()["password"], TOKEN);

    // The same token file named by a web_identity entry, through the docker helper.
    let s2 = Scratch::new(&format!(
        "[[registry]]\npattern = \"{ECR}/*\"\n[registry.web_identity]\nrole_arn = \"{role}\"\ntoken_file = \"{}\"\n",
        token.display()
    ));
    let env = [("AWS_ENDPOINT_URL", open.endpoint.clone())];
    assert_eq!(s2.helper_get(ECR, &env).unwrap(), TOKEN);
}

// ---------------------------------------------------------------------------------------------
// Web identity: token files and the kubelet's service-account tokens.

#[tokio::test]
async fn a_web_identity_token_file_is_read_on_each_call_and_its_tokens_are_cached() {
    let emu = Emulator::get();
    let open = open_moto(&emu);
    let role = emu
        .at(&open.endpoint)
        .role("irsa-file", &trust_policy("*", None), &pull_policy());
    let proxy = Proxy::start(&open.endpoint);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("token"),
        jwt("system:serviceaccount:ci:builder", "file"),
    )
    .unwrap();
    let config = dir.path().join("registries.toml");
    std::fs::write(
        &config,
        format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.web_identity]\nrole_arn = \"{role}\"\ntoken_file = \"token\"\nsession_name = \"ci-builder\"\n"),
    )
    .unwrap();
    // The relative token file is next to the configuration.
    let config = RegistryConfig::load(&config).unwrap();
    let r = DefaultResolver::builder()
        .config(&config)
        .aws_options(options(&proxy.endpoint))
        .build()
        .unwrap();
    assert_eq!(
        r.resolve_str(&image())
            .await
            .unwrap()
            .credential
            .expose_password(),
        TOKEN
    );
    r.resolve_str(&image()).await.unwrap();
    assert_eq!(
        proxy.count("AssumeRoleWithWebIdentity"),
        1,
        "{:?}",
        proxy.counts()
    );

    // A missing token file is named.
    std::fs::remove_file(dir.path().join("token")).unwrap();
    r.cache().clear();
    let err = r.resolve_str(&image()).await.unwrap_err();
    assert!(err.to_string().contains("web identity token file"), "{err}");
    assert!(err.to_string().contains("token"), "{err}");
}

/// A web identity provider taking the role from the service account's annotation, behind a
/// counter, against the open moto through a proxy (which gives tokens a 12-hour life).
fn per_service_account(proxy: &Proxy, fallback: Option<&str>) -> Counting<WebIdentityProvider> {
    let mut b = WebIdentityProvider::builder()
        .role_arn_annotation(ROLE_ANNOTATION)
        .options(options(&proxy.endpoint));
    if let Some(role) = fallback {
        b = b.role_arn(role);
    }
    Counting::new(b.build().unwrap())
}

fn request(subject: &str, nonce: &str, role: Option<&str>) -> RequestAttributes {
    let mut r = RequestAttributes::new().with_service_account_token(jwt(subject, nonce).into());
    if let Some(role) = role {
        r = r.with_annotation(ROLE_ANNOTATION, role);
    }
    r
}

#[tokio::test]
async fn service_account_tokens_are_cached_per_token_never_per_claimed_subject() {
    let emu = Emulator::get();
    let open = open_moto(&emu);
    let at_open = emu.at(&open.endpoint);
    let team_a = at_open.role("team-a", &trust_policy("*", None), &pull_policy());
    let team_b = at_open.role("team-b", &trust_policy("*", None), &pull_policy());
    let proxy = Proxy::start(&open.endpoint);
    let provider = per_service_account(&proxy, None);
    let calls = provider.calls.clone();
    let r = DefaultResolver::builder()
        .provider_entry(
            MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
            Arc::new(provider),
        )
        .build()
        .unwrap();
    let image = ImageReference::parse(&image()).unwrap();
    let anyone = registry_auth::ResolveContext::unscoped();
    let resolve = |req: RequestAttributes| {
        let (r, image, anyone) = (&r, &image, &anyone);
        async move { r.resolve_with(anyone, image, &req).await }
    };

    let a1 = request("system:serviceaccount:a:puller", "1", Some(&team_a));
    let login = resolve(a1.clone()).await.unwrap();
    assert_eq!(login.credential.expose_password(), TOKEN);
    resolve(a1).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the same token: a hit");

    // Another token claiming the same subject and role is not the same token.
    resolve(request(
        "system:serviceaccount:a:puller",
        "2",
        Some(&team_a),
    ))
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "a subject is only a claim");
    // Another service account, with its own role.
    resolve(request(
        "system:serviceaccount:b:puller",
        "3",
        Some(&team_b),
    ))
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.count("AssumeRoleWithWebIdentity"), 3);

    // No token (the docker helper's path, or a kubelet without tokenAttributes).
    let err = r.resolve(&image).await.unwrap_err();
    assert!(err.to_string().contains("tokenAttributes"), "{err}");
    // A service account without the annotation, and no fallback role.
    let err = resolve(request("system:serviceaccount:c:x", "4", None))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(ROLE_ANNOTATION) && err.to_string().contains("role_arn"),
        "{err}"
    );
    // An annotation that is not a role ARN.
    let err = resolve(request("system:serviceaccount:c:x", "5", Some("team-a")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not an IAM role ARN"), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&jwt("system:serviceaccount:c:x", "5")));
}

#[tokio::test]
async fn providers_that_ignore_the_request_never_see_it_and_share_their_cache() {
    let emu = Emulator::get();
    let user = emu.user("ignores-request", Some(&pull_policy()));
    let provider = Counting::new(user.provider(options(&emu.endpoint)));
    let calls = provider.calls.clone();
    let r = DefaultResolver::builder()
        .clock(support::clock_before_moto_expiry())
        .provider_entry(
            MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
            Arc::new(provider),
        )
        .build()
        .unwrap();
    let image = ImageReference::parse(&image()).unwrap();
    let anyone = registry_auth::ResolveContext::unscoped();
    r.resolve(&image).await.unwrap();
    let req = request("system:serviceaccount:a:b", "x", None);
    r.resolve_with(&anyone, &image, &req).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.cache().len(), 1);
}

fn kubelet(s: &Scratch, endpoint: &str, request: &serde_json::Value) -> Output {
    let config = s.path("registries.toml");
    s.run(
        CLI,
        &["kubelet", "--config", config.to_str().unwrap()],
        &[("AWS_ENDPOINT_URL", endpoint.to_owned())],
        &request.to_string(),
    )
}

#[test]
fn the_kubelet_passes_the_service_account_token_and_the_role_annotation() {
    let emu = Emulator::get();
    let open = open_moto(&emu);
    let role = emu
        .at(&open.endpoint)
        .role("kubelet-sa", &trust_policy("*", None), &pull_policy());
    let s = Scratch::new(&format!(
        "[[registry]]\npattern = \"{ECR}/*\"\n[registry.web_identity]\nrole_arn_annotation = \"{ROLE_ANNOTATION}\"\n"
    ));
    let token = jwt("system:serviceaccount:ml:trainer", "kubelet");
    let req = serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image(),
        "serviceAccountToken": token,
        "serviceAccountAnnotations": { ROLE_ANNOTATION: role },
    });
    let out = kubelet(&s, &open.endpoint, &req);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["auth"][ECR]["password"], TOKEN, "{v}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&token));

    // Without the token: the error says how to configure the kubelet.
    let mut bare = req.clone();
    bare.as_object_mut().unwrap().remove("serviceAccountToken");
    let out = kubelet(&s, &open.endpoint, &bare);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tokenAttributes.serviceAccountTokenAudience"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// ECR Public.

/// The ECR Public server, knowing `key` (JSON with access_key_id, secret_access_key,
/// session_token?), and the file it reads the key from.
fn ecr_public(emu: &Emulator, key: &serde_json::Value) -> (ScriptServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.json");
    write_private(&file, &key.to_string());
    let server = ScriptServer::start(
        emu,
        "ecr_public_server.py",
        ["--credentials-file".as_ref(), file.as_os_str()],
    );
    (server, dir)
}

#[tokio::test]
async fn ecr_public_tokens_come_from_the_ecr_public_api_signed_for_us_east_1() {
    // moto has no ECR Public: the loopback server speaks its protocol and verifies SigV4.
    let emu = Emulator::get();
    let user = emu.user("public-puller", None);
    let (server, _key) = ecr_public(
        &emu,
        &serde_json::json!({ "access_key_id": user.access_key_id, "secret_access_key": user.secret_access_key }),
    );
    let toml = format!(
        "[[registry]]\npattern = \"public.ecr.aws/*\"\n[registry.iam_user]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nregion = \"eu-west-1\"\n",
        user.access_key_id, user.secret_access_key
    );
    let r = resolver(&toml, &server.endpoint);
    let login = r
        .resolve_str("public.ecr.aws/docker/library/alpine:3")
        .await
        .unwrap()
        .credential;
    assert_eq!(login.username(), "AWS");
    assert_eq!(
        login.expose_password(),
        format!("public-token-{}", user.access_key_id)
    );
    assert_eq!(login.server(), "https://public.ecr.aws");
    assert!(login.expires_at().is_some());
    let stats = server.stats();
    // The entry's region is eu-west-1; the call still went to us-east-1, for ecr-public.
    assert_eq!(
        stats["last_scope"], "us-east-1/ecr-public/aws4_request",
        "{stats}"
    );
    assert_eq!(
        stats["last_target"],
        "SpencerFrontendService.GetAuthorizationToken"
    );
    assert_eq!(stats["signed_ok"], 1, "{stats}");

    // A wrong secret: the signature does not verify, and the error says so.
    let wrong = toml.replace(&user.secret_access_key, "not-the-secret");
    let err = resolver(&wrong, &server.endpoint)
        .resolve_str("public.ecr.aws/docker/library/alpine:3")
        .await
        .unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::WrongSecretKey { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn ecr_public_takes_temporary_credentials_with_their_session_token() {
    let emu = Emulator::get();
    let key = serde_json::json!({
        "access_key_id": "ASIAPUBLICTEMPORARY1",
        "secret_access_key": "temporary-secret",
        "session_token": "temporary-session-token",
    });
    let (server, _key) = ecr_public(&emu, &key);
    let provider = IamUserProvider::builder()
        .access_key_id("ASIAPUBLICTEMPORARY1")
        .secret_access_key("temporary-secret".into())
        .session_token("temporary-session-token".into())
        .options(options(&server.endpoint))
        .build()
        .unwrap();
    let r = DefaultResolver::builder()
        .provider_entry(
            MatchPattern::parse("public.ecr.aws/*").unwrap(),
            Arc::new(provider),
        )
        .build()
        .unwrap();
    let login = r.resolve_str("public.ecr.aws/x/y:1").await.unwrap();
    assert_eq!(
        login.credential.expose_password(),
        "public-token-ASIAPUBLICTEMPORARY1"
    );
}

#[test]
fn the_docker_helper_lists_and_serves_ecr_public() {
    let emu = Emulator::get();
    let user = emu.user("public-helper", None);
    let (server, _key) = ecr_public(
        &emu,
        &serde_json::json!({ "access_key_id": user.access_key_id, "secret_access_key": user.secret_access_key }),
    );
    let s = Scratch::new(&format!(
        "[[registry]]\npattern = \"public.ecr.aws/*\"\n[registry.iam_user]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nregion = \"us-east-1\"\n",
        user.access_key_id, user.secret_access_key
    ));
    let env = [("AWS_ENDPOINT_URL", server.endpoint.clone())];
    let out = s.run(HELPER, &["list"], &env, "");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed,
        serde_json::json!({ "https://public.ecr.aws": "AWS" })
    );
    assert_eq!(
        s.helper_get("public.ecr.aws", &env).unwrap(),
        format!("public-token-{}", user.access_key_id)
    );
}

// ---------------------------------------------------------------------------------------------
// Embedders bring their own AWS.

async fn sdk_for(emu: &Emulator, user: &User) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&emu.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            &user.access_key_id,
            &user.secret_access_key,
            None,
            None,
            "test",
        ))
        .app_name(aws_config::AppName::new("registry-auth-tests").unwrap())
        .load()
        .await
}

#[tokio::test]
async fn the_example_embeds_an_sdk_config_and_a_credentials_provider() {
    let emu = Emulator::get();
    let user = emu.user("embedder", Some(&pull_policy()));
    let other = emu.user("embedder-ci", Some(&pull_policy()));
    let sdk = sdk_for(&emu, &user).await;
    let other_registry = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
    let ci = SharedCredentialsProvider::new(Credentials::new(
        &other.access_key_id,
        &other.secret_access_key,
        None,
        None,
        "ci",
    ));
    let r = embed_sdk_config::resolver(sdk, other_registry, ci).unwrap();
    let mine = r.resolve_str(&image()).await.unwrap();
    assert_eq!((mine.entry, mine.credential.expose_password()), (0, TOKEN));
    let theirs = r
        .resolve_str(&format!("{other_registry}/app:v1"))
        .await
        .unwrap();
    assert_eq!(
        (theirs.entry, theirs.credential.expose_password()),
        (1, "210987654321-auth-token")
    );
}

#[tokio::test]
async fn an_sdk_config_entry_uses_its_credentials_and_an_opaque_one_is_its_own_identity() {
    let emu = Emulator::get();
    let user = emu.user("sdk-entry", Some(&pull_policy()));
    let denied = emu.user("sdk-entry-denied", None);
    let r = DefaultResolver::builder()
        .aws_sdk_entry(
            MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
            sdk_for(&emu, &user).await,
        )
        .aws_sdk_entry(
            MatchPattern::parse("210987654321.dkr.ecr.us-east-1.amazonaws.com/*").unwrap(),
            sdk_for(&emu, &denied).await,
        )
        .build()
        .unwrap();
    assert_eq!(
        r.resolve_str(&image())
            .await
            .unwrap()
            .credential
            .expose_password(),
        TOKEN
    );
    let err = r
        .resolve_str("210987654321.dkr.ecr.us-east-1.amazonaws.com/app:v1")
        .await
        .unwrap_err();
    match err.detail::<AwsError>() {
        Some(AwsError::AccessDenied { principal, .. }) => assert_eq!(principal, &denied.arn),
        other => panic!("expected AccessDenied, got {other:?}"),
    }
    let a = registry_auth::aws::SdkCredentialsProvider::builder()
        .sdk_config(sdk_for(&emu, &user).await)
        .build()
        .unwrap()
        .identity();
    let b = registry_auth::aws::SdkCredentialsProvider::builder()
        .sdk_config(sdk_for(&emu, &user).await)
        .build()
        .unwrap()
        .identity();
    assert!(a.public().starts_with("aws-sdk instance="), "{a:?}");
    assert_ne!(
        a.public(),
        b.public(),
        "an opaque provider shares with no other"
    );
}

#[tokio::test]
async fn aws_options_given_after_the_config_are_honoured() {
    let emu = Emulator::get();
    let user = emu.user("late-options", Some(&pull_policy()));
    let config = RegistryConfig::from_toml_str(&iam_user_toml(&user, ""), "late.toml").unwrap();
    // Options after the entries: the call must still go to the emulator. Were they dropped,
    // it would go to AWS itself, unreachable from here, and fail.
    let late = DefaultResolver::builder()
        .config(&config)
        .aws_options(options(&emu.endpoint))
        .build()
        .unwrap();
    assert_eq!(
        late.resolve_str(&image())
            .await
            .unwrap()
            .credential
            .expose_password(),
        TOKEN
    );
    // And an SdkConfig given last, too.
    let chain = RegistryConfig::from_toml_str(&chain_config(""), "chain.toml").unwrap();
    let r = DefaultResolver::builder()
        .config(&chain)
        .aws_sdk_config(sdk_for(&emu, &user).await)
        .build()
        .unwrap();
    assert_eq!(
        r.resolve_str(&image())
            .await
            .unwrap()
            .credential
            .expose_password(),
        TOKEN
    );
}

#[tokio::test]
async fn an_embedders_failing_credentials_provider_is_named_without_its_text() {
    #[derive(Debug)]
    struct Broken;
    impl aws_credential_types::provider::ProvideCredentials for Broken {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::provider_error(
                    "secret-looking-detail",
                ),
            ))
        }
    }
    let r = DefaultResolver::builder()
        .aws_credentials_entry(
            MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
            SharedCredentialsProvider::new(Broken),
            "us-east-1",
        )
        .aws_options(options("http://127.0.0.1:9"))
        .build()
        .unwrap();
    let err = r.resolve_str(&image()).await.unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::NoCredentials { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("the embedder's AWS credentials provider"),
        "{text}"
    );
    assert!(!text.contains("secret-looking-detail"), "{text}");
    assert!(err.is_retryable());
    let _: &Error = &err;
}

// ---------------------------------------------------------------------------------------------
// Secret hygiene of the new flows.

/// A log sink for one thread's events.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_token_key_or_service_account_token_in_any_trace_line_of_the_new_flows() {
    let emu = Emulator::get();
    let open = open_moto(&emu);
    let role = emu
        .at(&open.endpoint)
        .role("hygiene-sa", &trust_policy("*", None), &pull_policy());
    let pull_role = emu.role("hygiene-pull", &trust_policy("*", None), &pull_policy());
    let user = emu.user(
        "hygiene-assumer",
        Some(&allow(&["sts:AssumeRole"], &pull_role)),
    );
    let (public, _key) = ecr_public(
        &emu,
        &serde_json::json!({ "access_key_id": user.access_key_id, "secret_access_key": user.secret_access_key }),
    );
    let sa_token = jwt("system:serviceaccount:hygiene:puller", "hygiene");
    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            // Web identity with the request's token.
            let web = WebIdentityProvider::builder()
                .role_arn_annotation(ROLE_ANNOTATION)
                .options(options(&open.endpoint))
                .build()
                .unwrap();
            let r = DefaultResolver::builder()
                .provider_entry(
                    MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
                    Arc::new(web),
                )
                .build()
                .unwrap();
            let req = RequestAttributes::new()
                .with_service_account_token(sa_token.as_str().into())
                .with_annotation(ROLE_ANNOTATION, &role);
            let image = ImageReference::parse(&image()).unwrap();
            r.resolve_with(&registry_auth::ResolveContext::unscoped(), &image, &req)
                .await
                .unwrap();
            // Assume-role over an IAM user, then ECR Public with the same key.
            let toml = iam_user_toml(
                &user,
                &format!("[registry.iam_user.assume_role]\nrole_arn = \"{pull_role}\"\n"),
            );
            resolver(&toml, &emu.endpoint)
                .resolve_str(&image.to_string())
                .await
                .unwrap();
            let toml = toml.replace(&format!("{ECR}/*"), "public.ecr.aws/*");
            let toml = toml
                .split("[registry.iam_user.assume_role]")
                .next()
                .unwrap()
                .to_owned();
            resolver(&toml, &public.endpoint)
                .resolve_str("public.ecr.aws/x/y:1")
                .await
                .unwrap();
        })
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("TRACE"), "the capture saw trace events");
    let public_password = format!("public-token-{}", user.access_key_id);
    let secrets = [
        ("service-account token", sa_token.clone()),
        ("secret access key", user.secret_access_key.clone()),
        ("ECR password", TOKEN.to_owned()),
        ("ECR Public password", public_password.clone()),
        (
            "ECR Public token",
            base64::engine::general_purpose::STANDARD.encode(format!("AWS:{public_password}")),
        ),
    ];
    for (name, secret) in secrets {
        assert!(
            !text.contains(&secret),
            "the {name} appears in the log ({} bytes checked)",
            text.len()
        );
    }
}

#[test]
fn chain_tokens_on_disk_are_never_served_to_a_process_with_other_credentials() {
    let emu = Emulator::get();
    // The proxy gives tokens a 12-hour life, so the helper keeps them on disk.
    let proxy = Proxy::start(&emu.endpoint);
    let allowed = emu.user("chain-disk-allowed", Some(&pull_policy()));
    let denied = emu.user("chain-disk-denied", None);
    let s = Scratch::new(&chain_config(""));
    let env = |u: &User| {
        [
            ("AWS_ACCESS_KEY_ID", u.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", u.secret_access_key.clone()),
            ("AWS_ENDPOINT_URL", proxy.endpoint.clone()),
        ]
    };
    assert_eq!(s.helper_get(ECR, &env(&allowed)).unwrap(), TOKEN);
    assert_eq!(s.helper_get(ECR, &env(&allowed)).unwrap(), TOKEN);
    assert_eq!(
        proxy.count("GetAuthorizationToken"),
        1,
        "the second process was served from disk"
    );
    // Same configuration, same cache directory, another principal in the environment.
    let err = s.helper_get(ECR, &env(&denied)).unwrap_err();
    assert!(err.contains(&denied.arn), "AWS judged the other key: {err}");
    assert_eq!(proxy.count("GetAuthorizationToken"), 2);
}

#[tokio::test]
async fn the_imds_endpoint_comes_from_the_options_not_only_the_environment() {
    let emu = Emulator::get();
    let worker = emu.worker("options-imds", &pull_policy());
    let config = RegistryConfig::from_toml_str(
        &format!(
            "[[registry]]\npattern = \"{ECR}/*\"\n[registry.instance_role]\nrole_name = \"{}\"\nregion = \"us-east-1\"\n",
            worker.role_name
        ),
        "imds.toml",
    )
    .unwrap();
    let r = DefaultResolver::builder()
        .config(&config)
        .aws_options(options(&emu.endpoint).with_imds_endpoint(&worker.imds.endpoint))
        .build()
        .unwrap();
    let login = r.resolve_str(&image()).await.unwrap();
    assert_eq!(login.credential.expose_password(), TOKEN);
    assert!(worker.imds.stats().to_string().contains(&worker.role_name));
}

#[test]
fn every_front_end_serves_the_chain_and_an_assumed_role() {
    let emu = Emulator::get();
    let chain_user = emu.user("fronts-chain", Some(&pull_policy()));
    let role = emu.role("fronts-role", &trust_policy("*", None), &pull_policy());
    let assumer = emu.user("fronts-assumer", Some(&allow(&["sts:AssumeRole"], &role)));
    let other = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
    let s = Scratch::new(&format!(
        "{}\n[[registry]]\npattern = \"{other}/*\"\n[registry.iam_user]\naccess_key_id = \"{}\"\nsecret_access_key = {{ file = \"assumer.secret\" }}\nregion = \"us-east-1\"\n[registry.iam_user.assume_role]\nrole_arn = \"{role}\"\n",
        chain_config("profile = \"ci\"\n"),
        assumer.access_key_id
    ));
    write_private(&s.path("assumer.secret"), &assumer.secret_access_key);
    let aws_config = credential_process_profile(&s, &chain_user);
    let env = [
        ("AWS_CONFIG_FILE", aws_config.display().to_string()),
        ("AWS_ENDPOINT_URL", emu.endpoint.clone()),
    ];
    for (host, password) in [(ECR, TOKEN), (other, "210987654321-auth-token")] {
        let image = format!("{host}/app:v1");
        assert_eq!(
            s.get(&image, &env).unwrap()["password"],
            password,
            "get {host}"
        );
        assert_eq!(s.helper_get(host, &env).unwrap(), password, "helper {host}");
        let request = serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": image,
        });
        let config = s.path("registries.toml");
        let out = s.run(
            CLI,
            &["kubelet", "--config", config.to_str().unwrap()],
            &env,
            &request.to_string(),
        );
        assert!(
            out.status.success(),
            "kubelet {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["auth"][host]["password"], password, "kubelet {host}");
    }
}
