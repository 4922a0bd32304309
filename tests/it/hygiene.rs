//! Secret hygiene: every `tracing` event at TRACE level (ours and the AWS SDK's) across real
//! end-to-end flows against the emulator is captured, and no secret access key, session token,
//! password or base64 token may appear in it; nor in Debug or Display of any public type.

use crate::support;

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use registry_auth::aws::{AwsOptions, IamUserProvider, InstanceRoleProvider};
use registry_auth::cache::{CachePolicy, SystemClock, TokenCache};
use registry_auth::config::{AssumeRole, CredentialSource, IamUser, RegistryConfig, RegistryEntry};
use registry_auth::pattern::MatchPattern;
use registry_auth::RegistryCredential;
use registry_auth::{DefaultResolver, RegistryResolver};

use support::{pull_policy, Emulator};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// Everything logged in this test binary, at every level.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fails naming which secret leaked and where, without printing the secret itself.
fn assert_clean(what: &str, text: &str, secrets: &[(&str, &str)]) {
    for (name, secret) in secrets {
        assert!(!secret.is_empty());
        assert!(
            !text.contains(secret),
            "{what}: the {name} appears ({} bytes checked)",
            text.len()
        );
    }
}

fn token_secrets(account: &str) -> Vec<(&'static str, String)> {
    let password = format!("{account}-auth-token");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    vec![("password", password), ("base64 token", token)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line_at_trace_level_across_the_end_to_end_flows() {
    let log = captured();
    let emu = Emulator::get();
    let options = AwsOptions::default()
        .with_endpoint_url(&emu.endpoint)
        .with_max_attempts(1);
    let mut secrets: Vec<(&str, String)> = token_secrets("123456789012");

    // IAM user: a success, then a wrong secret.
    let user = emu.user("hygiene", Some(&pull_policy()));
    secrets.push(("secret access key", user.secret_access_key.clone()));
    let provider = user.provider(options.clone());
    let pattern = || MatchPattern::parse(&format!("{ECR}/*")).unwrap();
    let r = DefaultResolver::builder()
        .provider_entry(pattern(), Arc::new(provider))
        .build()
        .unwrap();
    let login = r
        .resolve_str(&format!("{ECR}/app:v1"))
        .await
        .unwrap()
        .credential;
    assert_eq!(login.expose_password(), "123456789012-auth-token");
    let wrong = format!("{}-wrong", user.secret_access_key);
    secrets.push(("wrong secret access key", wrong.clone()));
    let bad = IamUserProvider::builder()
        .access_key_id(&user.access_key_id)
        .secret_access_key(wrong.as_str().into())
        .options(options.clone())
        .build()
        .unwrap();
    let r2 = DefaultResolver::builder()
        .provider_entry(pattern(), Arc::new(bad))
        .build()
        .unwrap();
    let err = r2.resolve_str(&format!("{ECR}/app:v1")).await.unwrap_err();

    // Instance role through IMDS, with a dedicated role assumed on top.
    let (worker, dedicated) = emu.worker_with_dedicated_role("hygiene-worker");
    for key in ["secret_access_key", "session_token"] {
        let value = worker.credentials[key].as_str().unwrap().to_owned();
        secrets.push(("instance role credential", value));
    }
    let (worker_name, imds) = (&worker.role_name, &worker.imds);
    let role = InstanceRoleProvider::builder(worker_name)
        .imds_endpoint(&imds.endpoint)
        .assume_role(AssumeRole::new(&dedicated))
        .options(options.clone())
        .build()
        .unwrap();
    let r3 = DefaultResolver::builder()
        .provider_entry(pattern(), Arc::new(role))
        .build()
        .unwrap();
    r3.resolve_str(&format!("{ECR}/app:v1")).await.unwrap();

    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(text.contains("TRACE"), "TRACE events were captured");
    // The SDK's DEBUG events still pass (only its TRACE events, which dump raw replies, are
    // kept out), and our own TRACE-level subscriber saw everything else.
    assert!(
        text.contains("DEBUG") && text.contains("aws_smithy_runtime"),
        "the SDK's own events were captured"
    );
    let refs: Vec<(&str, &str)> = secrets.iter().map(|(n, s)| (*n, s.as_str())).collect();
    assert_clean("tracing output", &text, &refs);
    assert_clean("the wrong-secret error", &format!("{err} {err:?}"), &refs);
    assert_clean("the credential's Debug", &format!("{login:?}"), &refs);
    assert_clean(
        "the resolvers' Debug",
        &format!("{r:?} {r2:?} {r3:?}"),
        &refs,
    );
}

#[test]
fn the_cli_logs_no_secret_at_trace_level() {
    let emu = Emulator::get();
    let user = emu.user("hygiene-cli", Some(&pull_policy()));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("registries.toml");
    std::fs::write(
        &config,
        format!(
            "[[registry]]\npattern = \"{ECR}/*\"\niam_user = {{ access_key_id = \"{}\", secret_access_key = {{ env = \"HYGIENE_SECRET\" }}, region = \"us-east-1\" }}\n",
            user.access_key_id
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args(["get", "--json", "--config"])
        .arg(&config)
        .args(["--endpoint-url", &emu.endpoint, &format!("{ECR}/app:v1")])
        .env("HYGIENE_SECRET", &user.secret_access_key)
        .env("REGISTRY_AUTH_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stderr.contains("TRACE"), "trace logging was on");
    let mut secrets = token_secrets("123456789012");
    secrets.push(("secret access key", user.secret_access_key.clone()));
    let refs: Vec<(&str, &str)> = secrets.iter().map(|(n, s)| (*n, s.as_str())).collect();
    assert_clean("CLI stderr", &stderr, &refs);
    assert_clean("CLI stdout without --show-password", &stdout, &refs);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["password"], "[REDACTED]");
}

#[test]
fn debug_and_display_of_public_types_redact() {
    let secret = "SENTINEL-secret-key-0123456789";
    let password = "SENTINEL-password-9876543210";
    let user = IamUser::new("AKIAIOSFODNN7EXAMPLE", secret.into(), "us-east-1");
    let entry = RegistryEntry::new(
        MatchPattern::parse(&format!("{ECR}/*")).unwrap(),
        CredentialSource::IamUser(user.clone()),
    );
    let config = RegistryConfig::from_entries(vec![entry.clone()]).unwrap();
    let provider = IamUserProvider::builder()
        .access_key_id("AKIAIOSFODNN7EXAMPLE")
        .secret_access_key(secret.into())
        .build()
        .unwrap();
    let credential = RegistryCredential::new(
        "AWS",
        password.into(),
        "https://x",
        Some(std::time::SystemTime::now()),
    );
    let cache: TokenCache = TokenCache::new(CachePolicy::default(), Arc::new(SystemClock));
    let text = format!(
        "{user:?} {entry:?} {config:?} {provider:?} {credential:?} {cache:?} {:?}",
        entry.source
    );
    assert_clean(
        "Debug",
        &text,
        &[("secret", secret), ("password", password)],
    );
    assert!(
        text.contains("AKIAIOSFODNN7EXAMPLE"),
        "ids are not secrets and help debugging"
    );

    // The types that hold a secret have no Display; the errors met on the way to one do, and
    // they name the place, never the secret: a broken field beside an inline secret, and a
    // secret of the wrong type.
    let broken = format!(
        "[[registry]]\npattern = \"{ECR}/*\"\niam_user = {{ access_key_id = \"AKIAIOSFODNN7EXAMPLE\", secret_access_key = \"{secret}\", region = 7 }}\n"
    );
    let mistyped = format!(
        "[[registry]]\npattern = \"{ECR}/*\"\niam_user = {{ access_key_id = \"AKIAIOSFODNN7EXAMPLE\", secret_access_key = [\"{password}\"], region = \"us-east-1\" }}\n"
    );
    for toml in [broken, mistyped] {
        let error = RegistryConfig::from_toml_str(&toml, "registries.toml").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("registries.toml"), "{text}");
        assert_clean(
            "Display",
            &text,
            &[("secret", secret), ("password", password)],
        );
    }
    let display = format!("{}", MatchPattern::parse(&format!("{ECR}/*")).unwrap());
    assert_eq!(display, format!("{ECR}/*"));
}
