//! Claims of the README and SECURITY.md that no other module pins down exactly: the default
//! AWS bounds, what makes two cache keys differ, and the kubelet's cache duration, computed
//! from an injected clock rather than read off the real one. docs/testing.md maps every claim
//! to its test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use registry_auth::aws::{
    AssumeRole, AwsOptions, EcrHost, EcrTarget, IamUserProvider, InstanceRoleProvider,
};
use registry_auth::cache::{CacheKey, IdentityKey, ManualClock};
use registry_auth::front::kubelet::{self, CacheKeyType, CredentialProviderRequest};
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use registry_auth::reference::ImageReference;
use registry_auth::{
    async_trait, DefaultResolver, Error, RegistryCredential, RegistryResolver, ResolveContext,
};
use secrecy::SecretString;

const HOUR: Duration = Duration::from_secs(3600);

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

#[test]
fn every_aws_call_is_bounded_by_default_3_s_connect_10_s_attempt_30_s_operation_3_attempts() {
    let options = AwsOptions::default();
    assert_eq!(options.connect_timeout, Duration::from_secs(3));
    assert_eq!(options.attempt_timeout, Duration::from_secs(10));
    assert_eq!(options.operation_timeout, Duration::from_secs(30));
    assert_eq!(options.max_attempts, 3);
    assert_eq!(options.endpoint_url, None);
    // At least one attempt, whatever is asked for.
    assert_eq!(AwsOptions::default().with_max_attempts(0).max_attempts, 1);
}

fn role(assume: Option<AssumeRole>, region: &str) -> CacheIdentity {
    let mut builder = InstanceRoleProvider::builder("ValohaiWorkerRole")
        .region(region)
        .imds_endpoint("http://127.0.0.1:9")
        .options(AwsOptions::default().with_endpoint_url("http://127.0.0.1:9"));
    if let Some(a) = assume {
        builder = builder.assume_role(a);
    }
    builder.build().unwrap().identity()
}

fn user(key: &str, secret: &str, region: &str, endpoint: &str) -> CacheIdentity {
    IamUserProvider::builder()
        .access_key_id(key)
        .secret_access_key(SecretString::from(secret.to_owned()))
        .region(region)
        .options(AwsOptions::default().with_endpoint_url(endpoint))
        .build()
        .unwrap()
        .identity()
}

#[test]
fn cache_identities_differ_by_assumed_role_external_id_region_and_endpoint() {
    let arn = "arn:aws:iam::123456789012:role/gpu-prod-pull";
    let other_arn = "arn:aws:iam::123456789012:role/cpu-dev-pull";
    let roles = [
        role(None, "us-east-1"),
        role(None, "eu-west-1"),
        role(Some(AssumeRole::new(arn)), "us-east-1"),
        role(Some(AssumeRole::new(other_arn)), "us-east-1"),
        role(
            Some(AssumeRole::new(arn).with_external_id("a")),
            "us-east-1",
        ),
        role(
            Some(AssumeRole::new(arn).with_external_id("b")),
            "us-east-1",
        ),
        role(Some(AssumeRole::new(arn)), "eu-west-1"),
    ];
    let users = [
        user(
            "AKIAAAAAAAAAAAAAAAAA",
            "s1",
            "us-east-1",
            "http://127.0.0.1:9",
        ),
        user(
            "AKIAAAAAAAAAAAAAAAAA",
            "s1",
            "eu-west-1",
            "http://127.0.0.1:9",
        ),
        user(
            "AKIABBBBBBBBBBBBBBBB",
            "s1",
            "us-east-1",
            "http://127.0.0.1:9",
        ),
        user(
            "AKIAAAAAAAAAAAAAAAAA",
            "s1",
            "us-east-1",
            "http://127.0.0.1:8",
        ),
    ];
    let key = IdentityKey::from_bytes([7; 32]);
    let digests: Vec<Arc<str>> = roles.iter().chain(&users).map(|i| key.digest(i)).collect();
    for (i, a) in digests.iter().enumerate() {
        for b in &digests[i + 1..] {
            assert_ne!(a, b, "two identities share a cache key");
        }
    }
    // The same settings are the same identity, so a second resolver shares the tokens...
    assert_eq!(
        key.digest(&role(
            Some(AssumeRole::new(arn).with_external_id("a")),
            "us-east-1"
        )),
        digests[4]
    );
    // ... and the public part names what differs, never a secret.
    for (identity, says) in [
        (&roles[2], format!("assume={arn}")),
        (&roles[4], "external-id=a".to_owned()),
        (&roles[1], "region=eu-west-1".to_owned()),
        (&users[1], "region=eu-west-1".to_owned()),
        (&users[3], "ecr=http://127.0.0.1:8".to_owned()),
    ] {
        assert!(identity.public().contains(&says), "{identity:?}: {says}");
    }
    // The secret access key is only in the keyed hash: another secret, another key.
    let right = user("AKIAAAAAAAAAAAAAAAAA", "right-secret", "us-east-1", "x");
    let wrong = user("AKIAAAAAAAAAAAAAAAAA", "wrong-secret", "us-east-1", "x");
    assert_eq!(right.public(), wrong.public());
    assert_ne!(key.digest(&right), key.digest(&wrong));
    assert!(!key.digest(&right).contains("right-secret"));
    assert!(!format!("{right:?}").contains("right-secret"));
}

/// Records which registries it was asked for, and answers a 12-hour token naming it.
#[derive(Debug)]
struct Recording {
    clock: ManualClock,
    asked: Mutex<Vec<String>>,
}

#[async_trait]
impl CredentialProvider for Recording {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        self.asked.lock().unwrap().push(target.registry());
        Ok(RegistryCredential::new(
            "AWS",
            SecretString::from(format!("token-for-{}", target.registry())),
            target.server(),
            Some(self.clock.now() + 12 * HOUR),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("recording")
    }
}

#[tokio::test]
async fn tokens_are_cached_per_registry_so_account_region_fips_and_dual_stack_never_share_one() {
    let hosts = [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        "123456789012.dkr-ecr.us-east-1.on.aws",
        "123456789012.dkr-ecr-fips.us-east-1.on.aws",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "210987654321.dkr.ecr.us-east-1.amazonaws.com",
    ];
    // What the ECR call would be told: every host is another target.
    let targets: Vec<EcrTarget> = hosts
        .iter()
        .map(|h| EcrTarget::resolve(&RegistryTarget::for_host(h, None), None).unwrap())
        .collect();
    for (i, a) in targets.iter().enumerate() {
        for b in &targets[i + 1..] {
            assert_ne!(
                (&a.registry_id, &a.region, a.fips, a.dual_stack),
                (&b.registry_id, &b.region, b.fips, b.dual_stack),
                "{} and {}",
                a.registry,
                b.registry
            );
        }
    }
    assert!(targets[1].fips && !targets[1].dual_stack);
    assert!(!targets[2].fips && targets[2].dual_stack);
    assert!(EcrHost::parse(hosts[3]).is_some_and(|h| h.fips() && h.dual_stack()));

    // One provider (one identity) behind every host: the registry alone tells the keys apart.
    let clock = ManualClock::new(start());
    let provider = Arc::new(Recording {
        clock: clock.clone(),
        asked: Mutex::default(),
    });
    let resolver = DefaultResolver::builder()
        .clock(Arc::new(clock.clone()))
        .provider_entry(
            MatchPattern::parse("*.*.*.*.*.*/*").unwrap(),
            provider.clone(),
        )
        .provider_entry(
            MatchPattern::parse("*.*.*.*.*/*").unwrap(),
            provider.clone(),
        )
        .build()
        .unwrap();
    for round in 0..2 {
        for host in hosts {
            let image = ImageReference::parse(&format!("{host}/app:v1")).unwrap();
            let login = resolver.resolve(&image).await.unwrap();
            assert_eq!(
                login.credential.expose_password(),
                format!("token-for-{host}"),
                "round {round}"
            );
            assert_eq!(login.credential.server(), format!("https://{host}"));
        }
    }
    assert_eq!(*provider.asked.lock().unwrap(), hosts.to_vec());
    for host in hosts {
        let key = CacheKey::new(
            resolver.cache().identity_key().digest(&provider.identity()),
            host,
        );
        assert!(resolver.cache().peek(&key).is_some(), "{host}");
    }
}

/// Answers tokens that expire `lifetime` after the clock's now (or never), counting calls.
#[derive(Debug)]
struct Expiring {
    clock: ManualClock,
    lifetime: Option<Duration>,
    calls: AtomicUsize,
}

#[async_trait]
impl CredentialProvider for Expiring {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(RegistryCredential::new(
            "AWS",
            "token".into(),
            target.server(),
            self.lifetime.map(|l| self.clock.now() + l),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("expiring")
    }
}

fn kubelet_request(image: &str) -> CredentialProviderRequest {
    CredentialProviderRequest::parse(
        &serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": image,
        })
        .to_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_kubelet_caches_for_half_the_tokens_remaining_life_by_the_resolvers_clock() {
    let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let clock = ManualClock::new(start());
    let provider = Arc::new(Expiring {
        clock: clock.clone(),
        lifetime: Some(12 * HOUR),
        calls: AtomicUsize::new(0),
    });
    let resolver = DefaultResolver::builder()
        .clock(Arc::new(clock.clone()))
        .provider_entry(
            MatchPattern::parse(&format!("{host}/*")).unwrap(),
            provider.clone(),
        )
        .build()
        .unwrap();
    let anyone = ResolveContext::unscoped();
    let request = kubelet_request(&format!("{host}/app:v1"));

    // A fresh 12-hour token: six hours, the cache's own refresh point.
    let response = kubelet::respond(&resolver, &anyone, &request)
        .await
        .unwrap();
    assert_eq!(response.cache_duration, 6 * HOUR);
    assert!(matches!(response.cache_key_type, CacheKeyType::Registry));
    assert_eq!(
        response
            .auth
            .as_ref()
            .map(|(h, u, _)| (h.as_str(), u.as_str())),
        Some((host, "AWS"))
    );

    // Two hours on, the same cached token has ten hours left: five.
    clock.advance(2 * HOUR);
    let response = kubelet::respond(&resolver, &anyone, &request)
        .await
        .unwrap();
    assert_eq!(response.cache_duration, 5 * HOUR);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);

    // An odd second rounds down, never up.
    clock.advance(Duration::from_secs(1));
    let response = kubelet::respond(&resolver, &anyone, &request)
        .await
        .unwrap();
    assert_eq!(response.cache_duration, 5 * HOUR - Duration::from_secs(1));
}

#[tokio::test]
async fn the_kubelet_caches_a_password_without_expiry_for_an_hour() {
    let clock = ManualClock::new(start());
    let resolver = DefaultResolver::builder()
        .clock(Arc::new(clock.clone()))
        .provider_entry(
            MatchPattern::parse("registry.example.com/*").unwrap(),
            Arc::new(Expiring {
                clock,
                lifetime: None,
                calls: AtomicUsize::new(0),
            }),
        )
        .build()
        .unwrap();
    let response = kubelet::respond(
        &resolver,
        &ResolveContext::unscoped(),
        &kubelet_request("registry.example.com/app"),
    )
    .await
    .unwrap();
    assert_eq!(response.cache_duration, HOUR);
}

#[test]
fn the_helper_finds_its_configuration_in_the_users_config_directory() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/registry-auth");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("registries.toml"),
        "[[registry]]\npattern = \"registry.example.com/*\"\nbasic = { username = \"ci\", password = \"pw\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"))
        .arg("list")
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed,
        serde_json::json!({ "https://registry.example.com": "ci" })
    );
}
