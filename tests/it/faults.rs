//! Fault injection: a loopback proxy (`support::proxy`) in front of the emulator's ECR and STS
//! and of the IMDS test server answers with HTTP 500, throttling, replies slower than the
//! timeouts and connection resets; a closed port stands for a refused connection. Every call
//! must end within its configured bound, retries must be bounded (counted at the proxy), a
//! still-valid cached token keeps being served, an expired one never is, and the error says
//! what failed.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use registry_auth::aws::{AwsError, AwsOptions, InstanceRoleProvider};
use registry_auth::cache::ManualClock;
use registry_auth::config::AssumeRole;
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::CredentialProvider;
use registry_auth::{DefaultResolver, Error, RegistryCredential, RegistryResolver};
use support::proxy::{Fault, Proxy};
use support::{pull_policy, Emulator, ImdsServer, User};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0";
const ECR_CALL: &str = "GetAuthorizationToken";
const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

/// Short bounds so the slow cases stay quick: 1 s per attempt, 3 s per operation.
fn options(endpoint: &str, attempts: u32) -> AwsOptions {
    AwsOptions::default()
        .with_endpoint_url(endpoint)
        .with_timeouts(
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(3),
        )
        .with_max_attempts(attempts)
}

fn user_provider(user: &User, options: AwsOptions) -> Arc<dyn CredentialProvider> {
    Arc::new(user.provider(options))
}

fn resolver(
    provider: Arc<dyn CredentialProvider>,
    clock: Option<Arc<ManualClock>>,
) -> DefaultResolver {
    let mut b = DefaultResolver::builder().provider_entry(
        MatchPattern::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/*").unwrap(),
        provider,
    );
    if let Some(clock) = clock {
        b = b.clock(clock);
    }
    b.build().unwrap()
}

/// Runs one resolve. A resolve that hangs fails the test instead of the suite: `guard` is far
/// above any configured bound, a deadlock detector rather than a measurement.
async fn resolve(r: &DefaultResolver, guard: Duration) -> Result<RegistryCredential, Error> {
    tokio::time::timeout(guard, r.resolve_str(IMAGE))
        .await
        .unwrap_or_else(|_| panic!("the resolve did not end within {guard:?}: it hangs"))
        .map(|resolved| resolved.credential)
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times_and_named() {
    let emu = Emulator::get();
    let user = emu.user("fault-500", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    proxy.set_hook(|req| {
        if req.action == ECR_CALL {
            Fault::status(500, r#"{"__type":"InternalFailure","message":"injected"}"#)
        } else {
            Fault::default()
        }
    });
    let r = resolver(user_provider(&user, options(&proxy.endpoint, 3)), None);
    let result = resolve(&r, Duration::from_secs(60)).await;
    let err = result.unwrap_err();
    assert_eq!(proxy.count(ECR_CALL), 3, "exactly max_attempts tries");
    let text = err.to_string();
    assert!(text.contains("ECR GetAuthorizationToken failed"), "{text}");
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_then_succeeds() {
    let emu = Emulator::get();
    let user = emu.user("fault-throttle", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    proxy.set_hook(|req| {
        if req.action == ECR_CALL && req.nth <= 2 {
            Fault::status(400, THROTTLED)
        } else {
            Fault::default()
        }
    });
    let r = resolver(user_provider(&user, options(&proxy.endpoint, 3)), None);
    let result = resolve(&r, Duration::from_secs(60)).await;
    let login = result.unwrap();
    assert_eq!(login.expose_password(), "123456789012-auth-token");
    assert_eq!(
        proxy.count(ECR_CALL),
        3,
        "two throttled tries, then one that went through"
    );
}

#[tokio::test]
async fn throttling_that_never_ends_gives_up_and_says_so() {
    let emu = Emulator::get();
    let user = emu.user("fault-throttle-forever", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    proxy.set_hook(|req| {
        if req.action == ECR_CALL {
            Fault::status(400, THROTTLED)
        } else {
            Fault::default()
        }
    });
    let r = resolver(user_provider(&user, options(&proxy.endpoint, 2)), None);
    let result = resolve(&r, Duration::from_secs(60)).await;
    let err = result.unwrap_err();
    assert_eq!(proxy.count(ECR_CALL), 2);
    assert!(
        matches!(err.detail(), Some(AwsError::Service { code: Some(c), .. }) if c == "ThrottlingException"),
        "{err:?}"
    );
}

#[tokio::test]
async fn replies_slower_than_the_timeouts_end_within_the_operation_bound() {
    let emu = Emulator::get();
    let user = emu.user("fault-slow", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    proxy.set_hook(|req| {
        if req.action == ECR_CALL {
            Fault::delay(Duration::from_secs(30))
        } else {
            Fault::default()
        }
    });
    // 1 s per attempt, 3 s per operation: the call ends by the operation bound, whatever the
    // retries would have wanted.
    let r = resolver(user_provider(&user, options(&proxy.endpoint, 10)), None);
    let result = resolve(&r, Duration::from_secs(60)).await;
    let err = result.unwrap_err();
    // Ended by a timeout (not by a reply, which the proxy holds back for 30 s).
    assert!(
        err.to_string().contains("within the configured timeout"),
        "{err}"
    );
    assert!(
        proxy.count(ECR_CALL) <= 3,
        "at most one try per started second: {:?}",
        proxy.counts()
    );
    let text = err.to_string();
    assert!(
        text.contains("ECR GetAuthorizationToken") && text.contains("timeout"),
        "{text}"
    );
}

#[tokio::test]
async fn connection_resets_are_retried_a_bounded_number_of_times() {
    let emu = Emulator::get();
    let user = emu.user("fault-reset", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    proxy.set_hook(|req| {
        if req.action == ECR_CALL {
            Fault::reset()
        } else {
            Fault::default()
        }
    });
    let r = resolver(user_provider(&user, options(&proxy.endpoint, 3)), None);
    let result = resolve(&r, Duration::from_secs(60)).await;
    let err = result.unwrap_err();
    assert_eq!(proxy.count(ECR_CALL), 3);
    assert!(
        err.to_string().contains("ECR GetAuthorizationToken failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_an_error_naming_the_service() {
    let emu = Emulator::get();
    let user = emu.user("fault-refused", Some(&pull_policy()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = resolver(
        user_provider(&user, options(&format!("http://127.0.0.1:{port}"), 3)),
        None,
    );
    let result = resolve(&r, Duration::from_secs(60)).await;
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ECR GetAuthorizationToken failed") && text.contains("could not reach"),
        "{text}"
    );
}

#[tokio::test]
async fn a_valid_cached_token_is_served_through_faults_and_an_expired_one_never() {
    let emu = Emulator::get();
    let user = emu.user("fault-cache", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    // The proxy makes tokens live 12 h from the real now; the cache's clock starts there too.
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let r = resolver(
        user_provider(&user, options(&proxy.endpoint, 2)),
        Some(clock.clone()),
    );
    let first = r.resolve_str(IMAGE).await.unwrap().credential;
    assert_eq!(proxy.count(ECR_CALL), 1);

    let faults: [(&str, Fault); 4] = [
        (
            "HTTP 500",
            Fault::status(500, r#"{"__type":"InternalFailure"}"#),
        ),
        ("throttling", Fault::status(400, THROTTLED)),
        ("reset", Fault::reset()),
        ("slow", Fault::delay(Duration::from_secs(30))),
    ];
    let mut calls = 1;
    // Five hours in: the next hour crosses the half-life (6 h), where refreshes start.
    clock.advance(Duration::from_secs(5 * 3600));
    for (name, fault) in faults {
        proxy.set_hook(move |req| {
            if req.action == ECR_CALL {
                fault.clone()
            } else {
                Fault::default()
            }
        });
        // Past the half-life and past any backoff (5 min at most) from the previous fault:
        // a refresh is due.
        clock.advance(Duration::from_secs(3600));
        let served = resolve(&r, Duration::from_secs(60)).await;
        let served =
            served.unwrap_or_else(|e| panic!("{name}: the valid token was not served: {e}"));
        assert_eq!(
            served.expires_at(),
            first.expires_at(),
            "{name}: the cached token"
        );
        assert!(proxy.count(ECR_CALL) > calls, "{name}: a refresh was tried");
        calls = proxy.count(ECR_CALL);
    }

    // Past expiry minus the margin: the failure surfaces and the old token is never returned.
    proxy.set_hook(|req| {
        if req.action == ECR_CALL {
            Fault::status(500, "{}")
        } else {
            Fault::default()
        }
    });
    clock.set(first.expires_at().unwrap() - Duration::from_secs(30));
    let result = resolve(&r, Duration::from_secs(60)).await;
    assert!(result.is_err(), "an expired token was served");

    // Upstream heals: a fresh token again.
    proxy.clear_hook();
    let healed = resolve(&r, Duration::from_secs(60)).await;
    assert!(healed.unwrap().expires_at() > first.expires_at());
}

/// The instance-role path: a worker allowed to assume a dedicated role; IMDS and STS go behind
/// the proxy in the tests below.
fn role_setup(emu: &Emulator) -> (String, String, ImdsServer) {
    let (worker, dedicated) = emu.worker_with_dedicated_role("fault-worker");
    (worker.role_name, dedicated, worker.imds)
}

#[tokio::test]
async fn sts_faults_end_in_a_bounded_error_naming_sts() {
    let emu = Emulator::get();
    let (role, dedicated, imds) = role_setup(&emu);
    let proxy = Proxy::start(&emu.endpoint);
    proxy.set_hook(|req| {
        if req.action == "AssumeRole" {
            Fault::status(500, "{}")
        } else {
            Fault::default()
        }
    });
    let provider = InstanceRoleProvider::builder(&role)
        .imds_endpoint(&imds.endpoint)
        .assume_role(AssumeRole::new(&dedicated))
        .options(options(&proxy.endpoint, 2))
        .build()
        .unwrap();
    let r = resolver(Arc::new(provider), None);
    let result = resolve(&r, Duration::from_secs(60)).await;
    let err = result.unwrap_err();
    assert_eq!(proxy.count("AssumeRole"), 2);
    assert_eq!(proxy.count(ECR_CALL), 0, "no ECR call without credentials");
    assert!(err.to_string().contains("STS AssumeRole failed"), "{err}");
}

#[tokio::test]
async fn imds_faults_end_in_a_bounded_error_naming_imds_and_the_role() {
    let emu = Emulator::get();
    let (role, _, imds) = role_setup(&emu);
    let cases: [(&str, Fault); 3] = [
        ("HTTP 500", Fault::status(500, "{}")),
        ("reset", Fault::reset()),
        ("slow", Fault::delay(Duration::from_secs(30))),
    ];
    for (name, fault) in cases {
        let proxy = Proxy::start(&imds.endpoint);
        proxy.set_hook(move |req| {
            if req.action.contains("security-credentials") {
                fault.clone()
            } else {
                Fault::default()
            }
        });
        let provider = InstanceRoleProvider::builder(&role)
            .imds_endpoint(&proxy.endpoint)
            .options(options(&emu.endpoint, 2))
            .build()
            .unwrap();
        let r = resolver(Arc::new(provider), None);
        // aws-config's IMDS client: 1 s connect, 1 s read, 4 attempts with backoff.
        let result = resolve(&r, Duration::from_secs(60)).await;
        let err = result.unwrap_err();
        assert!(
            matches!(err.detail(), Some(AwsError::Imds { .. })),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&proxy.endpoint) && text.contains(&role),
            "{name}: {text}"
        );
        let tries: usize = proxy
            .counts()
            .iter()
            .filter(|(k, _)| k.contains("security-credentials"))
            .map(|(_, n)| n)
            .sum();
        assert!(
            (1..=4).contains(&tries),
            "{name}: bounded retries, saw {:?}",
            proxy.counts()
        );
    }
}

#[tokio::test]
async fn an_upstream_claim_of_a_longer_life_than_twelve_hours_is_clamped() {
    let emu = Emulator::get();
    let user = emu.user("fault-year-9999", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    // ECR says the token lives for eight thousand years.
    proxy.set_token_lifetime(Some(Duration::from_secs(8000 * 365 * 24 * 3600)));
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let fetched_at = clock.now();
    let r = resolver(
        user_provider(&user, options(&proxy.endpoint, 1)),
        Some(clock.clone()),
    );
    let login = resolve(&r, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        login.expires_at(),
        Some(fetched_at + Duration::from_secs(12 * 3600)),
        "used for at most 12 hours after the fetch"
    );
    // And refreshed ahead at half of that, like any other token.
    clock.advance(Duration::from_secs(6 * 3600 + 1));
    resolve(&r, Duration::from_secs(60)).await.unwrap();
    assert_eq!(proxy.count(ECR_CALL), 2);
}
