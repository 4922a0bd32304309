//! `registry-auth kubelet`, the built binary, end to end: a CredentialProviderRequest on stdin,
//! credentials from the moto emulator (through the counting proxy, which gives tokens real ECR's
//! 12-hour life), a CredentialProviderResponse on stdout.

use crate::support;

use std::process::{Command, Output};
use std::time::Duration;

use support::proxy::Proxy;
use support::{pull_policy, Emulator};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

struct Setup {
    proxy: Proxy,
    emulator: String,
    dir: tempfile::TempDir,
}

/// `patterns` become entries of one IAM user with the pull policy.
fn setup(name: &str, patterns: &[&str]) -> Setup {
    let emu = Emulator::get();
    let user = emu.user(name, Some(&pull_policy()));
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for p in patterns {
        config.push_str(&format!(
            "[[registry]]\npattern = \"{p}\"\niam_user = {{ access_key_id = \"{}\", secret_access_key = \"{}\", region = \"us-east-1\" }}\n\n",
            user.access_key_id, user.secret_access_key
        ));
    }
    std::fs::write(dir.path().join("registries.toml"), config).unwrap();
    Setup {
        proxy: Proxy::start(&emu.endpoint),
        emulator: emu.endpoint,
        dir,
    }
}

impl Setup {
    fn run_at(&self, endpoint: &str, request: &str) -> Output {
        support::run_with_input(
            Command::new(env!("CARGO_BIN_EXE_registry-auth"))
                .arg("kubelet")
                .arg("--config")
                .arg(self.dir.path().join("registries.toml"))
                .env_clear()
                .env("HOME", self.dir.path())
                .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
                .env("AWS_ENDPOINT_URL", endpoint)
                .env("AWS_EC2_METADATA_DISABLED", "true"),
            request.as_bytes(),
        )
    }

    fn run(&self, request: &str) -> Output {
        self.run_at(&self.proxy.endpoint, request)
    }
}

fn request(image: &str) -> String {
    serde_json::json!({ "apiVersion": V1, "kind": "CredentialProviderRequest", "image": image })
        .to_string()
}

fn response(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Go's `time.ParseDuration` for the `XhYmZs` forms `go_duration` writes.
fn parse_go_duration(text: &str) -> Duration {
    let mut secs = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number.parse().unwrap();
                secs += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => panic!("not a Go duration: {text}"),
        }
    }
    assert!(number.is_empty(), "not a Go duration: {text}");
    Duration::from_secs(secs)
}

#[test]
fn a_request_gets_registry_keyed_auth_for_half_the_tokens_life() {
    let s = setup("kubelet-v1", &[&format!("{HOST}/*")]);
    let v = response(&s.run(&request(&format!("{HOST}/my-ml-image:v1.0"))));
    assert_eq!(v["apiVersion"], V1);
    assert_eq!(v["kind"], "CredentialProviderResponse");
    assert_eq!(v["cacheKeyType"], "Registry");
    // Half the token's remaining life by this process's real clock: at most six hours of the
    // proxy's 12-hour token. The exact value is tested with a manual clock in claims.rs.
    let half = parse_go_duration(v["cacheDuration"].as_str().unwrap());
    assert!(
        half > Duration::ZERO && half <= Duration::from_secs(6 * 3600),
        "{}",
        v["cacheDuration"]
    );
    assert_eq!(
        v["auth"],
        serde_json::json!({ HOST: { "username": "AWS", "password": "123456789012-auth-token" } })
    );
    assert!(v.get("serviceAccountTokenCacheType").is_none());
    assert_eq!(s.proxy.count("GetAuthorizationToken"), 1);

    // The next image on the registry, in a new process: from the disk cache.
    let v = response(&s.run(&request(&format!("{HOST}/other"))));
    assert_eq!(v["auth"][HOST]["username"], "AWS");
    assert_eq!(s.proxy.count("GetAuthorizationToken"), 1);
}

#[test]
fn a_host_with_path_entries_is_cached_per_image() {
    let s = setup(
        "kubelet-paths",
        &[&format!("{HOST}/*"), &format!("{HOST}/team/*")],
    );
    for image in [format!("{HOST}/team/app:v1"), format!("{HOST}/other:v1")] {
        let v = response(&s.run(&request(&image)));
        assert_eq!(v["cacheKeyType"], "Image", "{image}");
        assert!(v["auth"][HOST].is_object(), "{v}");
    }
}

#[test]
fn an_image_no_entry_serves_gets_no_auth_and_no_caching() {
    let s = setup("kubelet-nomatch", &[&format!("{HOST}/*")]);
    let out = s.run(&request("ghcr.io/org/app:v1"));
    let v = response(&out);
    assert_eq!(v["kind"], "CredentialProviderResponse");
    assert_eq!(v["cacheDuration"], "0s");
    assert!(v.get("auth").is_none(), "{v}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no registry entry serves"));
    assert!(s.proxy.counts().is_empty());
}

#[test]
fn an_already_expired_token_is_not_cached_by_the_kubelet() {
    let s = setup("kubelet-expired", &[&format!("{HOST}/*")]);
    // Straight to moto: its tokens expired in 2015.
    let v = response(&s.run_at(&s.emulator, &request(&format!("{HOST}/app"))));
    assert_eq!(v["cacheDuration"], "0s");
    assert_eq!(v["auth"][HOST]["password"], "123456789012-auth-token");
}

#[test]
fn older_api_versions_and_service_account_tokens_are_answered_in_kind() {
    let s = setup("kubelet-beta", &[&format!("{HOST}/*")]);
    let req = serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1beta1",
        "kind": "CredentialProviderRequest",
        "image": format!("{HOST}/app"),
        "serviceAccountToken": "sa-token-never-echoed",
        "serviceAccountAnnotations": { "a": "b" },
    });
    let out = s.run(&req.to_string());
    let v = response(&out);
    assert_eq!(v["apiVersion"], "credentialprovider.kubelet.k8s.io/v1beta1");
    // The cache type of a token belongs in the kubelet's own configuration; the response has
    // no such field, and the kubelet's strict decoder would reject one.
    assert!(v.get("serviceAccountTokenCacheType").is_none(), "{v}");
    let alpha = req.to_string().replace("v1beta1", "v1alpha1");
    let v = response(&s.run(&alpha));
    assert_eq!(
        v["apiVersion"],
        "credentialprovider.kubelet.k8s.io/v1alpha1"
    );
    assert_eq!(v["kind"], "CredentialProviderResponse");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("sa-token-never-echoed"));
}

#[test]
fn bad_requests_exit_1_with_the_reason() {
    let s = setup("kubelet-bad", &[&format!("{HOST}/*")]);
    for (req, want) in [
        ("not json".to_owned(), "not a CredentialProviderRequest"),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"a"}"#.to_owned(),
            "unsupported apiVersion",
        ),
        (request("example.com/Team/app"), "the request's image"),
    ] {
        let out = s.run(&req);
        assert_eq!(out.status.code(), Some(1), "{req}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{req}: {err}");
    }
    assert!(s.proxy.counts().is_empty());
}

/// `registry-auth kubelet ARGS` with `config` and extra environment.
fn run_kubelet(s: &Setup, args: &[&str], env: &[(&str, &str)], request: &str) -> Output {
    support::run_with_input(
        Command::new(env!("CARGO_BIN_EXE_registry-auth"))
            .arg("kubelet")
            .args(args)
            .env_clear()
            .env("HOME", s.dir.path())
            .env("XDG_CACHE_HOME", s.dir.path().join("cache"))
            .env("REGISTRY_AUTH_CONFIG", s.dir.path().join("registries.toml"))
            .env("AWS_ENDPOINT_URL", &s.proxy.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied()),
        request.as_bytes(),
    )
}

#[test]
fn scopes_apply_to_the_kubelet_from_its_args_or_environment_and_fail_closed_without_one() {
    let s = setup("kubelet-scopes", &[]);
    // The README's scope example: a dedicated role for acme's gpu-prod nodes first, then an
    // IAM user for acme's other nodes.
    let emu = Emulator::get();
    let user = emu.user("kubelet-scopes-user", Some(&pull_policy()));
    std::fs::write(
        s.dir.path().join("registries.toml"),
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
iam_user = {{ access_key_id = "{}", secret_access_key = "{}", region = "us-east-1" }}
"#,
            user.access_key_id, user.secret_access_key
        ),
    )
    .unwrap();
    let req = request(&format!("{HOST}/app:v1"));

    // A cpu-dev node, by args (as a CredentialProviderConfig's `args` pass them).
    let out = run_kubelet(
        &s,
        &["--owner", "acme", "--environment", "cpu-dev"],
        &[],
        &req,
    );
    let v = response(&out);
    assert_eq!(v["auth"][HOST]["password"], "123456789012-auth-token");
    // The same by environment (the CredentialProviderConfig's `env`).
    let env = [
        ("REGISTRY_AUTH_OWNER", "acme"),
        ("REGISTRY_AUTH_ENVIRONMENT", "cpu-dev"),
    ];
    let v = response(&run_kubelet(&s, &[], &env, &req));
    assert_eq!(v["auth"][HOST]["username"], "AWS");
    assert_eq!(
        s.proxy.count("GetAuthorizationToken"),
        1,
        "the second was a disk hit"
    );

    // A gpu-prod node gets the dedicated role (which fails here: no metadata service).
    let out = run_kubelet(
        &s,
        &["--owner", "acme", "--environment", "gpu-prod"],
        &[],
        &req,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GpuWorkerRole"));

    // No context: an error naming the settings, not a response without credentials.
    let out = run_kubelet(&s, &[], &[], &req);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("REGISTRY_AUTH_OWNER") && said.contains("--owner"),
        "{said}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_configuration_that_pins_tags_is_refused_for_the_kubelet_naming_the_entry() {
    let s = setup(
        "kubelet-pins",
        &[&format!("{HOST}/*"), &format!("{HOST}/app:release-*")],
    );
    let out = s.run(&request(&format!("{HOST}/app")));
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("registry[1]")
            && said.contains("app:release-*")
            && said.contains("pins a tag"),
        "{said}"
    );
    assert_eq!(s.proxy.count("GetAuthorizationToken"), 0);
}
