//! The providers and the resolver against the moto emulator with IAM policy and signature
//! checks on (started by `scripts/emulator start`), and the IMDSv2 test server.

use crate::support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use registry_auth::aws::{AwsError, AwsOptions, IamUserProvider, InstanceRoleProvider};
use registry_auth::cache::CachePolicy;
use registry_auth::config::AssumeRole;
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::CredentialProvider;
use registry_auth::reference::ImageReference;
use registry_auth::Error;
use registry_auth::{DefaultResolver, RegistryResolver};

use support::{
    allow, clock_before_moto_expiry, pull_policy, trust_policy, Counting, Emulator, ImdsServer,
    MOTO_EXPIRY,
};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0";

fn options(emu: &Emulator) -> AwsOptions {
    AwsOptions::default()
        .with_endpoint_url(&emu.endpoint)
        .with_max_attempts(1)
}

fn iam_provider(emu: &Emulator, akid: &str, secret: &str) -> IamUserProvider {
    IamUserProvider::builder()
        .access_key_id(akid)
        .secret_access_key(secret.into())
        .region("us-east-1")
        .options(options(emu))
        .build()
        .unwrap()
}

fn resolver_with(provider: Arc<dyn CredentialProvider>, pattern: &str) -> DefaultResolver {
    DefaultResolver::builder()
        .provider_entry(MatchPattern::parse(pattern).unwrap(), provider)
        .build()
        .unwrap()
}

#[tokio::test]
async fn iam_user_with_the_pull_policy_gets_a_token() {
    let emu = Emulator::get();
    let user = emu.user("pull-user", Some(&pull_policy()));
    let r = resolver_with(
        Arc::new(iam_provider(
            &emu,
            &user.access_key_id,
            &user.secret_access_key,
        )),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let login = r.resolve_str(IMAGE).await.unwrap().credential;
    assert_eq!(login.username(), "AWS");
    // moto's token is AWS:<registryId>-auth-token: the registry id came from the host.
    assert_eq!(login.expose_password(), "123456789012-auth-token");
    assert!(
        login.server().contains("123456789012.dkr.ecr.us-east-1"),
        "{}",
        login.server()
    );
    assert_eq!(
        login.expires_at(),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(MOTO_EXPIRY))
    );
    assert!(!format!("{login:?}").contains("auth-token"));
}

#[tokio::test]
async fn the_hosts_account_and_region_are_used_not_the_entrys() {
    let emu = Emulator::get();
    let user = emu.user("cross-account", Some(&pull_policy()));
    let r = resolver_with(
        Arc::new(iam_provider(
            &emu,
            &user.access_key_id,
            &user.secret_access_key,
        )),
        "*.dkr.ecr.*.amazonaws.com/*",
    );
    let login = r
        .resolve_str("210987654321.dkr.ecr.eu-west-1.amazonaws.com/app:v2")
        .await
        .unwrap()
        .credential;
    assert_eq!(login.expose_password(), "210987654321-auth-token");
    assert!(
        login.server().contains("210987654321.dkr.ecr.eu-west-1"),
        "{}",
        login.server()
    );
}

#[tokio::test]
async fn a_user_without_the_permission_is_told_which_statement_to_add() {
    let emu = Emulator::get();
    let user = emu.user("no-ecr", Some(&allow(&["ecr:DescribeImages"], "*")));
    let r = resolver_with(
        Arc::new(iam_provider(
            &emu,
            &user.access_key_id,
            &user.secret_access_key,
        )),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let err = r.resolve_str(IMAGE).await.unwrap_err();
    match err.detail::<AwsError>() {
        Some(AwsError::AccessDenied {
            principal,
            action,
            statement,
        }) => {
            assert_eq!(principal, &user.arn);
            assert_eq!(action, "ecr:GetAuthorizationToken");
            assert!(
                statement.contains("\"ecr:GetAuthorizationToken\""),
                "{statement}"
            );
        }
        other => panic!("expected AccessDenied, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&user.arn) && text.contains("ecr:GetAuthorizationToken"),
        "{text}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_named_as_such_and_never_shown() {
    let emu = Emulator::get();
    let user = emu.user("wrong-secret", Some(&pull_policy()));
    let wrong = format!(
        "{}x",
        &user.secret_access_key[..user.secret_access_key.len() - 1]
    );
    let r = resolver_with(
        Arc::new(iam_provider(&emu, &user.access_key_id, &wrong)),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let err = r.resolve_str(IMAGE).await.unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::WrongSecretKey { access_key_id }) if *access_key_id == user.access_key_id),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&wrong) && !shown.contains(&user.secret_access_key));
}

#[tokio::test]
async fn an_unknown_key_is_named_as_such() {
    let emu = Emulator::get();
    let r = resolver_with(
        Arc::new(iam_provider(
            &emu,
            "AKIAUNKNOWNKEY000000",
            "not-a-real-secret",
        )),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let err = r.resolve_str(IMAGE).await.unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::UnknownAccessKey { access_key_id }) if access_key_id == "AKIAUNKNOWNKEY000000"),
        "{err:?}"
    );
}

fn role_provider(
    emu: &Emulator,
    role: &str,
    imds: &ImdsServer,
    assume: Option<AssumeRole>,
) -> InstanceRoleProvider {
    let mut b = InstanceRoleProvider::builder(role)
        .imds_endpoint(&imds.endpoint)
        .options(options(emu));
    if let Some(a) = assume {
        b = b.assume_role(a);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn instance_role_gets_a_token_through_imds() {
    let emu = Emulator::get();
    let worker = emu.worker("worker-role", &pull_policy());
    let (role, imds) = (&worker.role_name, &worker.imds);
    let r = resolver_with(
        Arc::new(role_provider(&emu, role, imds, None)),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let login = r.resolve_str(IMAGE).await.unwrap().credential;
    assert_eq!(login.expose_password(), "123456789012-auth-token");
    let stats = imds.stats();
    assert!(
        stats.to_string().contains(role.as_str()),
        "IMDS was asked for the role: {stats}"
    );
}

#[tokio::test]
async fn a_dedicated_role_is_assumed_on_top_when_allowed_and_named_when_denied() {
    let emu = Emulator::get();
    // The dedicated role trusts the account; the worker role may assume only it.
    let dedicated = emu.role(
        "dedicated",
        &trust_policy("*", Some("team-a")),
        &pull_policy(),
    );
    let worker = emu.worker("worker-role", &allow(&["sts:AssumeRole"], &dedicated));
    let (role, worker_arn, imds) = (&worker.role_name, &worker.role_arn, &worker.imds);

    let allowed = resolver_with(
        Arc::new(role_provider(
            &emu,
            role,
            imds,
            Some(AssumeRole::new(&dedicated).with_external_id("team-a")),
        )),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let login = allowed.resolve_str(IMAGE).await.unwrap().credential;
    assert_eq!(login.expose_password(), "123456789012-auth-token");

    // A role the worker may not assume.
    let other = emu.role("not-allowed", &trust_policy("*", None), &pull_policy());
    let denied = resolver_with(
        Arc::new(role_provider(
            &emu,
            role,
            imds,
            Some(AssumeRole::new(&other)),
        )),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let err = denied.resolve_str(IMAGE).await.unwrap_err();
    match err.detail::<AwsError>() {
        Some(AwsError::AccessDenied {
            principal,
            action,
            statement,
        }) => {
            assert_eq!(action, "sts:AssumeRole");
            assert!(statement.contains(&other), "{statement}");
            let worker_name = worker_arn.rsplit('/').next().unwrap();
            assert!(principal.contains(worker_name), "{principal}");
        }
        e => panic!("expected AccessDenied for sts:AssumeRole, got {e:?}"),
    }
}

#[tokio::test]
async fn unreachable_imds_names_the_endpoint_and_the_role() {
    let emu = Emulator::get();
    // Bind then drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let p = InstanceRoleProvider::builder("ValohaiWorkerRole")
        .imds_endpoint(&endpoint)
        .options(options(&emu))
        .build()
        .unwrap();
    let r = resolver_with(
        Arc::new(p),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let err = r.resolve_str(IMAGE).await.unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::Imds { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&endpoint) && text.contains("ValohaiWorkerRole"),
        "{text}"
    );
}

#[tokio::test]
async fn the_cache_hits_refreshes_ahead_serves_through_failures_and_never_serves_expired() {
    let emu = Emulator::get();
    let worker = emu.worker("worker-role", &pull_policy());
    let imds = &worker.imds;
    let provider = Counting::new(role_provider(&emu, &worker.role_name, imds, None));
    let calls = provider.calls.clone();
    let clock = clock_before_moto_expiry();
    let r = DefaultResolver::builder()
        .clock(clock.clone())
        .cache_policy(CachePolicy::default().with_min_retry(Duration::from_secs(60)))
        .provider_entry(
            MatchPattern::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/*").unwrap(),
            Arc::new(provider),
        )
        .build()
        .unwrap();

    r.resolve_str(IMAGE).await.unwrap();
    r.resolve_str(IMAGE).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "second resolve is a hit");

    clock.advance(Duration::from_secs(6 * 3600 - 1));
    r.resolve_str(IMAGE).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "before half-life: still a hit"
    );
    clock.advance(Duration::from_secs(2));
    r.resolve_str(IMAGE).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "past half-life: refreshed ahead"
    );

    // Upstream starts failing for real: IMDS now hands out credentials moto does not know.
    std::fs::write(
        &imds.credentials_file,
        serde_json::json!({
            "access_key_id": "ASIAREVOKEDREVOKED00",
            "secret_access_key": "revoked",
            "session_token": "revoked",
            "expiration": "2099-01-01T00:00:00Z",
        })
        .to_string(),
    )
    .unwrap();
    // moto's token was fetched "now" each time, expiring at the same 2015 instant: the
    // refresh point is half of what is left.
    clock.advance(Duration::from_secs(3 * 3600 + 1));
    let served = r.resolve_str(IMAGE).await.unwrap().credential;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "refresh attempted");
    assert_eq!(served.expose_password(), "123456789012-auth-token");
    r.resolve_str(IMAGE).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "backoff: no retry yet");
    clock.advance(Duration::from_secs(61));
    r.resolve_str(IMAGE).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4, "retried after the backoff");

    // Past expiry minus the margin: the cached token is never served; the failure surfaces.
    clock.set(SystemTime::UNIX_EPOCH + Duration::from_secs(MOTO_EXPIRY - 30));
    let err = r.resolve_str(IMAGE).await.unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::UnknownAccessKey { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_already_expired_upstream_token_is_returned_but_not_cached() {
    let emu = Emulator::get();
    let user = emu.user("expired", Some(&pull_policy()));
    let provider = Counting::new(iam_provider(
        &emu,
        &user.access_key_id,
        &user.secret_access_key,
    ));
    let calls = provider.calls.clone();
    // The real clock: moto's 2015 expiry is long past.
    let r = resolver_with(
        Arc::new(provider),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
    );
    let first = r.resolve_str(IMAGE).await.unwrap().credential;
    assert!(first.expires_at() < Some(SystemTime::now()));
    r.resolve_str(IMAGE).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "not cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_cold_resolves_over_ten_registries_make_ten_calls() {
    let emu = Emulator::get();
    let user = emu.user("single-flight", Some(&pull_policy()));
    let provider = Counting::new(iam_provider(
        &emu,
        &user.access_key_id,
        &user.secret_access_key,
    ));
    let calls = provider.calls.clone();
    let r = Arc::new(
        DefaultResolver::builder()
            .clock(clock_before_moto_expiry())
            .provider_entry(
                MatchPattern::parse("*.dkr.ecr.us-east-1.amazonaws.com/*").unwrap(),
                Arc::new(provider),
            )
            .build()
            .unwrap(),
    );
    let images: Vec<ImageReference> = (0..10)
        .map(|i| {
            ImageReference::parse(&format!(
                "10000000000{i}.dkr.ecr.us-east-1.amazonaws.com/app:v1"
            ))
            .unwrap()
        })
        .collect();
    let mut tasks = Vec::new();
    for n in 0..1000 {
        let r = r.clone();
        let image = images[n % 10].clone();
        tasks.push(tokio::spawn(async move { r.resolve(&image).await }));
    }
    for (n, t) in tasks.into_iter().enumerate() {
        let login = t.await.unwrap().unwrap();
        assert_eq!(
            login.credential.expose_password(),
            &format!("10000000000{}-auth-token", n % 10)
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn an_entry_without_a_region_says_where_to_set_it() {
    let emu = Emulator::get();
    let provider = IamUserProvider::builder()
        .access_key_id("AKIAIOSFODNN7EXAMPLE")
        .secret_access_key("unused".into())
        .options(options(&emu))
        .build()
        .unwrap();
    // A host that is not an ECR hostname takes the entry's region, and this entry has none.
    let r = DefaultResolver::builder()
        .provider_entry(
            MatchPattern::parse("registry.internal.example/*").unwrap(),
            Arc::new(provider),
        )
        .build()
        .unwrap();
    let err = r
        .resolve_str("registry.internal.example/app:v1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("registry.internal.example") && text.contains("set `region`"),
        "{text}"
    );
}

#[tokio::test]
async fn an_entry_naming_anothers_key_id_with_a_wrong_secret_never_shares_its_token() {
    let emu = Emulator::get();
    let user = emu.user("impostor", Some(&pull_policy()));
    // One resolver over a multi-organisation export: acme's entry holds the key; globex's
    // entry names acme's key id (it shows in logs) with a secret of its own.
    let export = serde_json::json!([
        {"type": "aws_ecr", "image_pattern": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/*", "owner": "acme",
         "configuration": {"access_key_id": user.access_key_id, "secret_access_key": user.secret_access_key, "region": "us-east-1"}},
        {"type": "aws_ecr", "image_pattern": "123456789012.dkr.ecr.us-east-1.amazonaws.com/globex/*", "owner": "globex",
         "configuration": {"access_key_id": user.access_key_id, "secret_access_key": "guessed", "region": "us-east-1"}},
    ]);
    let config =
        registry_auth::RegistryConfig::from_json_str(&export.to_string(), "export.json").unwrap();
    let r = DefaultResolver::builder()
        .aws_options(options(&emu))
        .clock(clock_before_moto_expiry())
        .config(&config)
        .build()
        .unwrap();
    let acme = registry_auth::ResolveContext::organization("acme");
    let globex = registry_auth::ResolveContext::organization("globex");
    let image = |path: &str| {
        ImageReference::parse(&format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/{path}"
        ))
        .unwrap()
    };
    let login = r.resolve_in(&acme, &image("acme/app:v1")).await.unwrap();
    assert_eq!(
        login.credential.expose_password(),
        "123456789012-auth-token"
    );
    assert_eq!(r.cache().len(), 1);

    let err = r
        .resolve_in(&globex, &image("globex/app:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.detail(), Some(AwsError::WrongSecretKey { .. })),
        "AWS judged the impostor's secret: {err:?}"
    );
    assert_eq!(r.cache().len(), 1, "no token for the impostor");
}

#[test]
fn cache_identities_differ_by_endpoint_and_hold_no_secret() {
    let provider = |endpoint: &str| {
        IamUserProvider::builder()
            .access_key_id("AKIAIOSFODNN7EXAMPLE")
            .secret_access_key("the-secret".into())
            .options(AwsOptions::default().with_endpoint_url(endpoint))
            .build()
            .unwrap()
            .identity()
    };
    let a = provider("http://127.0.0.1:1");
    let b = provider("http://127.0.0.1:2");
    assert_ne!(
        a.public(),
        b.public(),
        "a token minted at one endpoint is not another's"
    );
    assert!(a.public().contains("http://127.0.0.1:1"), "{a:?}");
    assert!(!format!("{a:?}").contains("the-secret"));
    let role = |imds: &str| {
        InstanceRoleProvider::builder("Worker")
            .imds_endpoint(imds)
            .build()
            .unwrap()
            .identity()
    };
    assert_ne!(
        role("http://127.0.0.1:3").public(),
        role("http://127.0.0.1:4").public()
    );
}
