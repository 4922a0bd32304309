//! Tests of the token cache, driven by a `ManualClock`: time is moved, never slept through.
//!
//! Concurrency tests that need "every caller has joined the flight" run on a current-thread
//! runtime, where a spawned task runs until it blocks as soon as the test task yields; every
//! wait that could deadlock is wrapped in a timeout so a bug fails the test instead of hanging.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::cache::{
    CacheKey, CachePolicy, Clock, IdentityKey, ManualClock, StoreGuard, StoredToken, SystemClock,
    TokenCache, TokenStore,
};
use crate::{Error, RegistryCredential};
use secrecy::SecretString;
use tokio::sync::Notify;

/// The identity part of the key the tests cache under.
const KEY: &str = "iam-user key=AKIAEXAMPLE";

/// The key the tests cache under.
fn key() -> CacheKey {
    k(KEY)
}

/// A key for identity `identity` at the test registry.
fn k(identity: &str) -> CacheKey {
    CacheKey::new(identity, "123456789012.dkr.ecr.us-east-1.amazonaws.com")
}
const HOUR: Duration = Duration::from_secs(3600);
const NS: Duration = Duration::from_nanos(1);
const GUARD: Duration = Duration::from_secs(10);

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// What moto answers for every token.
fn moto_expiry() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_420_070_400)
}

fn token(label: &str, expires_at: SystemTime) -> RegistryCredential {
    RegistryCredential::new(
        "AWS",
        SecretString::from(format!("secret-{label}")),
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        Some(expires_at),
    )
}

fn label(credential: &RegistryCredential) -> &str {
    credential
        .expose_password()
        .strip_prefix("secret-")
        .expect("a test token")
}

fn throttled() -> Error {
    Error::upstream(io::Error::other("ECR throttled the request"), true)
}

fn cache_with(policy: CachePolicy) -> (ManualClock, TokenCache) {
    let clock = ManualClock::new(start());
    let cache = TokenCache::new(policy, Arc::new(clock.clone()));
    (clock, cache)
}

fn cache() -> (ManualClock, TokenCache) {
    cache_with(CachePolicy::default())
}

/// A fetch that counts its calls and answers `result` at once.
fn counted(
    fetches: &AtomicUsize,
    result: Result<RegistryCredential, Error>,
) -> std::future::Ready<Result<RegistryCredential, Error>> {
    fetches.fetch_add(1, Ordering::SeqCst);
    std::future::ready(result)
}

/// A fetch that must not run.
fn unreachable_fetch() -> std::future::Ready<Result<RegistryCredential, Error>> {
    panic!("the cache fetched when it should have served the cached token")
}

/// Lets every spawned task on this current-thread runtime run until it blocks.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish: deadlock or lost wake-up"))
}

/// A 12-hour token "a" fetched at `start()`.
async fn warm(cache: &TokenCache, fetches: &AtomicUsize) {
    let first = cache
        .get_or_fetch(&key(), || {
            counted(fetches, Ok(token("a", start() + 12 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!(label(&first), "a");
}

#[tokio::test]
async fn a_cached_token_is_served_without_fetching() {
    let (_clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    assert!(cache.is_empty());
    warm(&cache, &fetches).await;

    let again = cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    assert_eq!(label(&again), "a");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(cache.peek(&key()).as_ref().map(label), Some("a"));
    assert_eq!(cache.len(), 1);
    assert!(cache.peek(&k("another key")).is_none());
}

#[tokio::test]
async fn refresh_ahead_starts_exactly_at_the_half_life() {
    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;

    clock.set(start() + 6 * HOUR - NS);
    let before = cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    assert_eq!(label(&before), "a");

    // At the half-life the caller refreshes, and gets the new token.
    clock.set(start() + 6 * HOUR);
    let b_expiry = clock.now() + 12 * HOUR;
    let refreshed = cache
        .get_or_fetch(&key(), || counted(&fetches, Ok(token("b", b_expiry))))
        .await
        .unwrap();
    assert_eq!(label(&refreshed), "b");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let after = cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    assert_eq!(label(&after), "b");

    // The next refresh point is half of b's lifetime, counted from when b was fetched.
    clock.set(start() + 12 * HOUR - NS);
    assert_eq!(
        label(&cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap()),
        "b"
    );
    clock.set(start() + 12 * HOUR);
    let c = cache
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("c", start() + 24 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!(label(&c), "c");
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn callers_during_a_slow_refresh_get_the_cached_token_at_once() {
    let (clock, cache) = cache();
    let cache = Arc::new(cache);
    let fetches = Arc::new(AtomicUsize::new(0));
    warm(&cache, &fetches).await;
    clock.set(start() + 6 * HOUR);

    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let refresher = tokio::spawn({
        let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        async move {
            cache
                .get_or_fetch(&key(), || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    async move {
                        started.notify_one();
                        release.notified().await;
                        Ok(token("b", start() + 18 * HOUR))
                    }
                })
                .await
        }
    });
    guarded("the refresh", started.notified()).await;

    // The refresh is stuck upstream until released; everyone else is served right now.
    for _ in 0..10 {
        let served = guarded("a caller during the refresh", async {
            cache.get_or_fetch(&key(), unreachable_fetch).await
        })
        .await
        .unwrap();
        assert_eq!(label(&served), "a");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    release.notify_one();
    let refreshed = guarded("the refresh", refresher).await.unwrap().unwrap();
    assert_eq!(label(&refreshed), "b");
    let after = cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    assert_eq!(label(&after), "b");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_refresh_serves_the_cached_token_and_backs_off_doubling() {
    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;
    let refresh_at = start() + 6 * HOUR;
    let failing = || counted(&fetches, Err(throttled()));

    // Attempts at +0, +5 s, +15 s (5 then 10 s apart); each failure is hidden from the caller.
    let mut attempt_at = refresh_at;
    for (attempt, wait) in [(2, 5), (3, 10), (4, 20)] {
        clock.set(attempt_at);
        let served = cache.get_or_fetch(&key(), failing).await.unwrap();
        assert_eq!(label(&served), "a");
        assert_eq!(fetches.load(Ordering::SeqCst), attempt);

        // No new attempt until the backoff has passed.
        clock.set(attempt_at + Duration::from_secs(wait) - NS);
        let served = cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
        assert_eq!(label(&served), "a");
        attempt_at += Duration::from_secs(wait);
    }

    // A success replaces the token and resets the backoff.
    clock.set(attempt_at);
    let b_fetched = clock.now();
    let refreshed = cache
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("b", b_fetched + 12 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!(label(&refreshed), "b");
    assert_eq!(fetches.load(Ordering::SeqCst), 5);

    clock.set(b_fetched + 6 * HOUR);
    assert_eq!(
        label(&cache.get_or_fetch(&key(), failing).await.unwrap()),
        "b"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 6);
    clock.advance(Duration::from_secs(5) - NS);
    cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    clock.advance(NS);
    cache.get_or_fetch(&key(), failing).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn the_retry_backoff_stops_doubling_at_max_retry() {
    let policy = CachePolicy::default()
        .with_min_retry(Duration::from_secs(1))
        .with_max_retry(Duration::from_secs(4));
    let (clock, cache) = cache_with(policy);
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;
    let failing = || counted(&fetches, Err(throttled()));

    clock.set(start() + 6 * HOUR);
    let mut attempts = 1;
    for wait in [1, 2, 4, 4, 4] {
        cache.get_or_fetch(&key(), failing).await.unwrap();
        attempts += 1;
        assert_eq!(fetches.load(Ordering::SeqCst), attempts);
        clock.advance(Duration::from_secs(wait) - NS);
        cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
        clock.advance(NS);
    }
}

#[tokio::test]
async fn an_expired_token_is_never_served_and_a_failing_fetch_surfaces_its_error() {
    // Refresh ahead off, so only expiry decides.
    let (clock, cache) = cache_with(CachePolicy::default().with_refresh_fraction(1.0));
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;
    let stale_at = start() + 12 * HOUR - Duration::from_secs(60);

    clock.set(stale_at - NS);
    assert_eq!(
        label(&cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap()),
        "a"
    );
    assert!(cache.peek(&key()).is_some());

    clock.set(stale_at);
    assert!(cache.peek(&key()).is_none());
    assert!(cache.is_empty());
    let error = cache
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "ECR throttled the request");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // Still never the old token; the next successful fetch is cached.
    clock.set(start() + 13 * HOUR);
    let b = cache
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("b", start() + 25 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!(label(&b), "b");
    assert_eq!(
        label(&cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap()),
        "b"
    );
}

#[tokio::test]
async fn after_failed_refreshes_the_expiry_margin_still_ends_serving() {
    let policy = CachePolicy::default()
        .with_refresh_fraction(0.99)
        .with_min_retry(HOUR);
    let (clock, cache) = cache_with(policy);
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;
    let stale_at = start() + 12 * HOUR - Duration::from_secs(60);

    // The refresh fails with a backoff (1 h) that would reach past the expiry margin.
    // (0.99 of 12 h is 11 h 52 min 48 s.)
    clock.set(start() + 12 * HOUR - Duration::from_secs(300));
    let served = cache
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap();
    assert_eq!(label(&served), "a");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    clock.set(stale_at - NS);
    cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();

    // At the margin the token is a miss: the caller waits for the fetch and sees its error.
    clock.set(stale_at);
    let error = cache
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "ECR throttled the request");
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_already_expired_token_is_returned_once_and_not_cached() {
    let (_clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    let moto = || counted(&fetches, Ok(token("moto", moto_expiry())));

    let first = cache.get_or_fetch(&key(), moto).await.unwrap();
    assert_eq!(label(&first), "moto");
    assert_eq!(first.expires_at(), Some(moto_expiry()));
    assert!(cache.peek(&key()).is_none());
    assert!(cache.is_empty());

    cache.get_or_fetch(&key(), moto).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_within_the_margin_counts_as_already_expired() {
    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    let margin = CachePolicy::default().expiry_margin;

    let at_margin = clock.now() + margin;
    cache
        .get_or_fetch(&key(), || counted(&fetches, Ok(token("a", at_margin))))
        .await
        .unwrap();
    assert!(cache.peek(&key()).is_none());

    let just_inside = clock.now() + margin + NS;
    cache
        .get_or_fetch(&key(), || counted(&fetches, Ok(token("b", just_inside))))
        .await
        .unwrap();
    assert_eq!(cache.peek(&key()).as_ref().map(label), Some("b"));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_already_expired_token_from_a_refresh_keeps_the_cached_one() {
    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;
    clock.set(start() + 6 * HOUR);
    let moto = || counted(&fetches, Ok(token("moto", moto_expiry())));

    assert_eq!(label(&cache.get_or_fetch(&key(), moto).await.unwrap()), "a");
    // Treated as a failed refresh: backed off, not refetched on every call.
    cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    clock.advance(Duration::from_secs(5));
    assert_eq!(label(&cache.get_or_fetch(&key(), moto).await.unwrap()), "a");
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

/// `n` callers of the test key, spawned at once: the one fetch among them counts itself in
/// `fetches` and, once `release` is notified, answers `answer()`.
fn gated_callers(
    cache: &Arc<TokenCache>,
    n: usize,
    fetches: &Arc<AtomicUsize>,
    release: &Arc<Notify>,
    answer: fn() -> Result<RegistryCredential, Error>,
) -> Vec<tokio::task::JoinHandle<Result<RegistryCredential, Error>>> {
    (0..n)
        .map(|_| {
            let (cache, fetches, release) =
                (Arc::clone(cache), Arc::clone(fetches), Arc::clone(release));
            tokio::spawn(async move {
                cache
                    .get_or_fetch(&key(), || {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        async move {
                            release.notified().await;
                            answer()
                        }
                    })
                    .await
            })
        })
        .collect()
}

#[tokio::test]
async fn the_waiters_of_an_already_expired_flight_share_its_one_fetch() {
    let (_clock, cache) = cache();
    let cache = Arc::new(cache);
    let fetches = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());

    let callers = gated_callers(&cache, 20, &fetches, &release, || {
        Ok(token("moto", moto_expiry()))
    });
    settle().await;
    release.notify_one();

    for caller in callers {
        let credential = guarded("a waiter", caller).await.unwrap().unwrap();
        assert_eq!(credential.expires_at(), Some(moto_expiry()));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // The flight is over and nothing was cached: the next caller fetches again.
    cache
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("moto", moto_expiry())))
        })
        .await
        .unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_thousand_cold_callers_over_ten_keys_make_ten_fetches() {
    let clock = ManualClock::new(start());
    let cache: Arc<TokenCache> = Arc::new(TokenCache::new(CachePolicy::default(), Arc::new(clock)));
    let per_key: Arc<Vec<AtomicUsize>> = Arc::new((0..10).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));

    let callers: Vec<_> = (0..1000)
        .map(|i| {
            let (cache, per_key, barrier) = (
                Arc::clone(&cache),
                Arc::clone(&per_key),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                let key = k(&format!("key-{}", i % 10));
                barrier.wait().await;
                let credential = cache
                    .get_or_fetch(&key, || {
                        per_key[i % 10].fetch_add(1, Ordering::SeqCst);
                        let label = key.identity().to_owned();
                        async move {
                            tokio::task::yield_now().await;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(token(&label, start() + 12 * HOUR))
                        }
                    })
                    .await
                    .unwrap();
                assert_eq!(label(&credential), key.identity());
            })
        })
        .collect();
    for caller in callers {
        guarded("a caller", caller).await.unwrap();
    }

    let counts: Vec<usize> = per_key.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, vec![1; 10]);
    assert_eq!(cache.len(), 10);
}

#[tokio::test]
async fn one_failed_flight_hands_its_error_to_all_hundred_callers() {
    let (_clock, cache) = cache();
    let cache = Arc::new(cache);
    let fetches = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());

    let callers = gated_callers(&cache, 100, &fetches, &release, || Err(throttled()));
    settle().await;
    release.notify_one();

    let mut errors = 0;
    for caller in callers {
        let error = guarded("a waiter", caller).await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "ECR throttled the request");
        errors += 1;
    }
    assert_eq!(errors, 100);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn a_waiter_takes_over_when_the_leader_is_cancelled() {
    let (_clock, cache) = cache();
    let cache = Arc::new(cache);
    let fetches = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());

    let leader = tokio::spawn({
        let (cache, fetches, started) = (
            Arc::clone(&cache),
            Arc::clone(&fetches),
            Arc::clone(&started),
        );
        async move {
            cache
                .get_or_fetch(&key(), || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    async move {
                        started.notify_one();
                        std::future::pending().await
                    }
                })
                .await
        }
    });
    guarded("the leader's fetch", started.notified()).await;

    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
            tokio::spawn(async move {
                cache
                    .get_or_fetch(&key(), || {
                        counted(&fetches, Ok(token("w", start() + 12 * HOUR)))
                    })
                    .await
            })
        })
        .collect();
    settle().await;
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "waiters must wait, not fetch"
    );

    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    for waiter in waiters {
        let credential = guarded("a waiter", waiter).await.unwrap().unwrap();
        assert_eq!(label(&credential), "w");
    }
    // One waiter took over; the others got its result.
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_cancelled_refresh_is_taken_over_by_the_next_caller() {
    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    warm(&cache, &fetches).await;
    clock.set(start() + 6 * HOUR);

    // The refreshing caller gives up (its future is dropped) while upstream hangs.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(10),
        cache.get_or_fetch(&key(), || {
            fetches.fetch_add(1, Ordering::SeqCst);
            std::future::pending()
        }),
    )
    .await;
    assert!(gave_up.is_err());

    let refreshed = guarded("the next refresh", async {
        cache
            .get_or_fetch(&key(), || {
                counted(&fetches, Ok(token("b", start() + 18 * HOUR)))
            })
            .await
    })
    .await
    .unwrap();
    assert_eq!(label(&refreshed), "b");
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn invalidate_and_clear_drop_tokens() {
    let (_clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    for key in ["one", "two"] {
        cache
            .get_or_fetch(&k(key), || {
                counted(&fetches, Ok(token(key, start() + 12 * HOUR)))
            })
            .await
            .unwrap();
    }
    assert_eq!(cache.len(), 2);

    cache.invalidate(&k("one"));
    assert!(cache.peek(&k("one")).is_none());
    assert_eq!(cache.peek(&k("two")).as_ref().map(label), Some("two"));
    assert_eq!(cache.len(), 1);
    cache
        .get_or_fetch(&k("one"), || {
            counted(&fetches, Ok(token("one-again", start() + 12 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 3);

    cache.clear();
    assert!(cache.is_empty());
    assert!(cache.peek(&k("two")).is_none());
    cache.invalidate(&k("never seen"));
}

/// Collects what the `tracing` fmt layer writes.
#[derive(Clone, Default)]
pub(super) struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures this thread's log lines at `level` and above until the guard is dropped; a
    /// current-thread test runtime keeps every poll on this thread.
    pub(super) fn install(level: tracing::Level) -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let logs = logs.clone();
                move || logs.clone()
            })
            .with_ansi(false)
            .with_max_level(level)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn warnings_name_the_key_and_expiry_and_never_a_secret() {
    let (logs, _guard) = Captured::install(tracing::Level::DEBUG);

    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    cache
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("moto", moto_expiry())))
        })
        .await
        .unwrap();
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains(&format!("{:?}", key())), "{text}");
    assert!(text.contains("2015-01-01T00:00:00Z"), "{text}");

    warm(&cache, &fetches).await;
    clock.set(start() + 6 * HOUR);
    cache
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap();
    let text = logs.text();
    assert!(text.contains("ECR throttled the request"), "{text}");
    assert!(
        !text.contains("secret-"),
        "a secret reached the log: {text}"
    );

    let debug = format!("{cache:?}");
    assert!(debug.contains(KEY), "{debug}");
    assert!(
        !debug.contains("secret-"),
        "a secret reached Debug: {debug}"
    );
}

#[test]
fn the_policy_clamps_the_refresh_fraction_and_has_the_documented_defaults() {
    let policy = CachePolicy::default();
    assert_eq!(policy.refresh_fraction, 0.5);
    assert_eq!(policy.expiry_margin, Duration::from_secs(60));
    assert_eq!(policy.min_retry, Duration::from_secs(5));
    assert_eq!(policy.max_retry, Duration::from_secs(300));

    let fraction = |f: f64| {
        CachePolicy::default()
            .with_refresh_fraction(f)
            .refresh_fraction
    };
    assert_eq!(fraction(0.25), 0.25);
    assert_eq!(fraction(1.0), 1.0);
    assert_eq!(fraction(2.0), 1.0);
    assert_eq!(fraction(0.0), 0.5);
    assert_eq!(fraction(-1.0), 0.5);
    assert_eq!(fraction(f64::NAN), 0.5);

    // Fields set directly are brought into range by the cache.
    let mut policy = CachePolicy::default().with_min_retry(Duration::from_secs(30));
    policy.refresh_fraction = 7.0;
    policy.max_retry = Duration::from_secs(1);
    let cache: TokenCache = TokenCache::new(policy, Arc::new(SystemClock));
    assert_eq!(cache.policy().refresh_fraction, 1.0);
    assert_eq!(cache.policy().max_retry, Duration::from_secs(30));
}

#[test]
fn a_manual_clock_moves_only_when_told_and_its_clones_share_it() {
    let clock = ManualClock::new(start());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    assert_eq!(shared.now(), start());
    clock.advance(HOUR);
    assert_eq!(shared.now(), start() + HOUR);
    clock.set(start() - HOUR);
    assert_eq!(shared.now(), start() - HOUR);

    let cache: TokenCache = TokenCache::new(CachePolicy::default(), shared);
    assert_eq!(cache.clock().now(), start() - HOUR);
}

#[test]
fn the_cache_and_its_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let cache: TokenCache = TokenCache::default();
    send_sync(&cache);
    let key = k("k");
    let future = cache.get_or_fetch(&key, || async { Err(throttled()) });
    send(&future);
}

/// A cache over `store` reading `clock`: one "process" sharing the store with others.
#[cfg(unix)]
fn process(store: &crate::cache::DiskStore, clock: &ManualClock) -> TokenCache {
    TokenCache::new(CachePolicy::default(), Arc::new(clock.clone()))
        .with_store(Arc::new(store.clone()))
}

#[cfg(unix)]
#[tokio::test]
async fn the_store_is_asked_first_and_judged_at_the_half_life_and_margin_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::cache::DiskStore::open(tmp.path().join("c")).unwrap();
    let clock = ManualClock::new(start());
    let fetches = AtomicUsize::new(0);

    // The first process fetches a 12-hour token and leaves it on disk.
    let first = process(&store, &clock)
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("a", start() + 12 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!((label(&first), fetches.load(Ordering::SeqCst)), ("a", 1));

    // One nanosecond before its half-life, a new process is served from disk.
    clock.set(start() + 6 * HOUR - NS);
    let got = process(&store, &clock)
        .get_or_fetch(&key(), unreachable_fetch)
        .await
        .unwrap();
    assert_eq!(label(&got), "a");

    // At the half-life, a new process refreshes, and the new token replaces the old on disk.
    clock.set(start() + 6 * HOUR);
    let got = process(&store, &clock)
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("b", start() + 18 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!((label(&got), fetches.load(Ordering::SeqCst)), ("b", 2));

    // Past b's half-life with upstream failing: a new process is served b from disk, and its
    // next caller waits out the backoff instead of calling again.
    clock.set(start() + 12 * HOUR + NS);
    let later = process(&store, &clock);
    let got = later
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap();
    assert_eq!((label(&got), fetches.load(Ordering::SeqCst)), ("b", 3));
    later.get_or_fetch(&key(), unreachable_fetch).await.unwrap();

    // One nanosecond before the margin, still served; at the margin, never.
    let margin = CachePolicy::default().expiry_margin;
    clock.set(start() + 18 * HOUR - margin - NS);
    let got = process(&store, &clock)
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap();
    assert_eq!(label(&got), "b");
    clock.set(start() + 18 * HOUR - margin);
    let err = process(&store, &clock)
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("throttled"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn passwords_without_expiry_are_kept_in_memory_and_never_written_to_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::cache::DiskStore::open(tmp.path().join("c")).unwrap();
    let clock = ManualClock::new(start());
    let cache = process(&store, &clock);
    let fetches = AtomicUsize::new(0);
    let forever = RegistryCredential::new("ci", "secret-basic".into(), "https://ghcr.io", None);
    cache
        .get_or_fetch(&key(), || counted(&fetches, Ok(forever.clone())))
        .await
        .unwrap();
    clock.advance(1000 * HOUR);
    let again = cache.get_or_fetch(&key(), unreachable_fetch).await.unwrap();
    assert_eq!((label(&again), again.expires_at()), ("basic", None));
    let files: Vec<_> = std::fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn the_policy_judges_freshness_and_servability_at_the_exact_boundaries() {
    let policy = CachePolicy::default();
    let margin = policy.expiry_margin;
    let (fetched, expires) = (start(), start() + 12 * HOUR);
    assert_eq!(policy.refresh_point(fetched, expires), start() + 6 * HOUR);
    assert_eq!(policy.stale_point(expires), expires - margin);
    assert!(policy.is_fresh(fetched, expires, start() + 6 * HOUR - NS));
    assert!(!policy.is_fresh(fetched, expires, start() + 6 * HOUR));
    assert!(policy.is_servable(expires, expires - margin - NS));
    assert!(!policy.is_servable(expires, expires - margin));
    assert!(!policy.is_servable(expires, expires + HOUR));

    // Without refresh ahead, freshness ends where serving does: at the margin.
    let late = CachePolicy::default().with_refresh_fraction(1.0);
    assert_eq!(late.refresh_point(fetched, expires), expires);
    assert!(late.is_fresh(fetched, expires, expires - margin - NS));
    assert!(!late.is_fresh(fetched, expires, expires - margin));
    let early = CachePolicy::default().with_refresh_fraction(0.25);
    assert_eq!(early.refresh_point(fetched, expires), start() + 3 * HOUR);

    // Times no arithmetic can reach: an expiry before the fetch, a margin before the epoch.
    assert_eq!(policy.refresh_point(expires, fetched), expires);
    assert_eq!(
        policy.stale_point(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
        SystemTime::UNIX_EPOCH
    );
}

#[cfg(unix)]
#[tokio::test]
async fn without_refresh_ahead_a_stored_token_is_fresh_until_the_margin_and_not_at_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::cache::DiskStore::open(tmp.path().join("c")).unwrap();
    let clock = ManualClock::new(start());
    let policy = CachePolicy::default().with_refresh_fraction(1.0);
    let margin = policy.expiry_margin;
    let process = || {
        TokenCache::new(policy.clone(), Arc::new(clock.clone())).with_store(Arc::new(store.clone()))
    };
    let fetches = AtomicUsize::new(0);
    process()
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("a", start() + 12 * HOUR)))
        })
        .await
        .unwrap();

    clock.set(start() + 12 * HOUR - margin - NS);
    let got = process()
        .get_or_fetch(&key(), unreachable_fetch)
        .await
        .unwrap();
    assert_eq!(label(&got), "a");

    clock.set(start() + 12 * HOUR - margin);
    let got = process()
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("b", start() + 24 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!((label(&got), fetches.load(Ordering::SeqCst)), ("b", 2));
}

#[tokio::test]
async fn the_policy_builders_set_their_field_and_only_it_and_len_counts_servable_tokens() {
    let d = CachePolicy::default();
    let minute = Duration::from_secs(60);
    assert_eq!(d.max_lifetime, 12 * HOUR);
    let margin = CachePolicy::default().with_expiry_margin(2 * minute);
    assert_eq!(margin.expiry_margin, 2 * minute);
    let lifetime = CachePolicy::default().with_max_lifetime(HOUR);
    assert_eq!(lifetime.max_lifetime, HOUR);
    let retries = CachePolicy::default()
        .with_min_retry(minute)
        .with_max_retry(10 * minute);
    assert_eq!(
        (retries.min_retry, retries.max_retry),
        (minute, 10 * minute)
    );
    for (changed, field) in [
        (margin, "margin"),
        (lifetime, "lifetime"),
        (retries, "retries"),
    ] {
        assert_eq!(changed.refresh_fraction, d.refresh_fraction, "{field}");
    }

    let (clock, cache) = cache();
    let fetches = AtomicUsize::new(0);
    assert!(cache.is_empty());
    assert_eq!(cache.len(), 0);
    warm(&cache, &fetches).await;
    assert!(!cache.is_empty());
    assert_eq!(cache.len(), 1);
    // An expired token is still held, but no longer counts.
    clock.set(start() + 12 * HOUR);
    assert!(cache.is_empty());
    assert_eq!(cache.len(), 0);
}

/// A second tier in memory that records what the cache asks of it.
#[derive(Debug, Default)]
struct RecordingStore {
    tokens: Mutex<Vec<(CacheKey, StoredToken)>>,
    saves: AtomicUsize,
    locks: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenStore for RecordingStore {
    fn load(&self, key: &CacheKey) -> Option<StoredToken> {
        let tokens = self.tokens.lock().unwrap();
        tokens
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, t)| t.clone())
    }

    async fn lock(&self, _key: &CacheKey) -> StoreGuard {
        self.locks.fetch_add(1, Ordering::SeqCst);
        StoreGuard::none()
    }

    fn save(&self, key: &CacheKey, token: &StoredToken) -> Result<(), Error> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        let mut tokens = self.tokens.lock().unwrap();
        tokens.retain(|(k, _)| k != key);
        tokens.push((key.clone(), token.clone()));
        Ok(())
    }

    fn identity_key(&self) -> IdentityKey {
        IdentityKey::from_bytes([3; 32])
    }
}

#[tokio::test]
async fn the_second_tier_gets_only_tokens_that_outlive_their_fetch() {
    let store = Arc::new(RecordingStore::default());
    let clock = ManualClock::new(start());
    let cache =
        TokenCache::new(CachePolicy::default(), Arc::new(clock.clone())).with_store(store.clone());
    assert_eq!(
        cache.identity_key().to_bytes(),
        [3; 32],
        "identities are hashed with the store's key"
    );
    let fetches = AtomicUsize::new(0);

    // Expiring the moment it was fetched: handed back, never saved.
    let got = cache
        .get_or_fetch(&key(), || counted(&fetches, Ok(token("now", start()))))
        .await
        .unwrap();
    assert_eq!(label(&got), "now");
    assert_eq!(store.saves.load(Ordering::SeqCst), 0);
    assert_eq!(store.locks.load(Ordering::SeqCst), 1);

    // One nanosecond later than that: saved, with when it was fetched.
    let got = cache
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("later", start() + 12 * HOUR)))
        })
        .await
        .unwrap();
    assert_eq!(label(&got), "later");
    assert_eq!(store.saves.load(Ordering::SeqCst), 1);
    let saved = store.load(&key()).unwrap();
    assert_eq!(saved.fetched_at, start());
    assert_eq!(saved.credential.expires_at(), Some(start() + 12 * HOUR));
}

#[tokio::test]
async fn serving_a_stored_token_while_upstream_fails_is_a_warning_naming_the_key() {
    let (logs, _guard) = Captured::install(tracing::Level::WARN);

    let store = Arc::new(RecordingStore::default());
    let clock = ManualClock::new(start());
    let process = || {
        TokenCache::new(CachePolicy::default(), Arc::new(clock.clone())).with_store(store.clone())
    };
    let fetches = AtomicUsize::new(0);
    process()
        .get_or_fetch(&key(), || {
            counted(&fetches, Ok(token("a", start() + 12 * HOUR)))
        })
        .await
        .unwrap();
    assert!(logs.text().is_empty(), "{}", logs.text());

    clock.set(start() + 7 * HOUR);
    let got = process()
        .get_or_fetch(&key(), || counted(&fetches, Err(throttled())))
        .await
        .unwrap();
    assert_eq!(label(&got), "a");
    let text = logs.text();
    assert!(
        text.contains("WARN")
            && text.contains("serving the stored token until it expires")
            && text.contains(KEY)
            && text.contains("ECR throttled the request"),
        "{text}"
    );
    assert!(!text.contains("secret-"), "{text}");
}

#[test]
fn debug_says_whether_a_guard_holds_a_lock_and_never_shows_an_identity_key() {
    assert_eq!(format!("{:?}", StoreGuard::none()), "StoreGuard(false)");
    assert!(!StoreGuard::default().is_held());
    assert_eq!(format!("{:?}", StoreGuard::holding(())), "StoreGuard(true)");
    assert_eq!(
        format!("{:?}", IdentityKey::from_bytes([7; 32])),
        "IdentityKey([REDACTED])"
    );
}
