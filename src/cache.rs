//! The expiry-aware, single-flight token cache, and the [`Clock`] it reads time from.
//!
//! A [`TokenCache`] holds one registry token per key (the credential identity, region, registry
//! id and endpoint variant: never the secret) and decides, on every read, whether the cached
//! token can be served:
//!
//! - **Fresh**: served at once. This path takes no lock at all, so a read never waits behind a
//!   refresh.
//! - **Half-life passed** ([`CachePolicy::refresh_fraction`], 0.5 by default): still served, but
//!   one caller refreshes it first while every other caller gets the cached token immediately.
//!   Refreshing at half the lifetime is what AWS's own `amazon-ecr-credential-helper` does; for a
//!   12-hour ECR token it leaves six hours to ride out an ECR or STS outage.
//! - **Refresh failed**: the cached token is still good, so it keeps being served (with a
//!   warning) and the refresh is retried after a doubling backoff. Failing every pull because an
//!   early refresh failed would turn a transient AWS error into an outage for no reason.
//! - **Expired** (at or past `expires_at` minus [`CachePolicy::expiry_margin`]): never served.
//!   Callers wait for a fetch, and get its error if it fails.
//!
//! However many callers ask for one key at once, at most one upstream call is made for it, and
//! they all get its result, error included ([`Error`] is `Clone` for this). A token that is
//! already expired when it arrives (clock skew, or an emulator that always answers 2015) is
//! handed to the callers of that one call and not cached.
//!
//! Time comes only from the [`Clock`], so tests move a [`ManualClock`] instead of sleeping.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//!
//! use registry_auth::cache::{CachePolicy, ManualClock, TokenCache};
//! use registry_auth::RegistryCredential;
//! use secrecy::SecretString;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
//! let cache = TokenCache::new(CachePolicy::default(), Arc::new(clock.clone()));
//! let fetch = |now: SystemTime| async move {
//!     let expires_at = now + Duration::from_secs(12 * 3600);
//!     Ok(RegistryCredential::new(
//!         "AWS",
//!         SecretString::from("password from ECR"),
//!         "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
//!         expires_at,
//!     ))
//! };
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     let key = "prod-ecr";
//!     // Cold: fetched. Warm: served from the cache, the closure is not called.
//!     let first = cache.get_or_fetch(&key, || fetch(clock.now())).await?;
//!     let again = cache
//!         .get_or_fetch(&key, || async { unreachable!("served from the cache") })
//!         .await?;
//!     assert_eq!(again.expires_at, first.expires_at);
//!
//!     // Half of the 12 hours later, the next caller refreshes the token.
//!     clock.advance(Duration::from_secs(6 * 3600));
//!     let refreshed = cache.get_or_fetch(&key, || fetch(clock.now())).await?;
//!     assert!(refreshed.expires_at > first.expires_at);
//!     Ok::<_, registry_auth::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::{Error, RegistryCredential};

/// Where the cache reads the current time from.
///
/// [`SystemClock`] in production; [`ManualClock`] in tests, so expiry is tested by moving time
/// rather than by sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to, for tests (an embedder's as well as ours).
///
/// Clones share one time: hand a clone to the cache and keep one to move time with.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock that reads `start` until it is moved.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// The time the clock shows.
    pub fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the clock forward by `by`.
    ///
    /// # Panics
    ///
    /// If the new time does not fit in a `SystemTime`.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// Sets the clock to `to`, forward or backward.
    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        ManualClock::now(self)
    }
}

/// When a cached token is refreshed, when it stops being served, and how failed refreshes back
/// off.
///
/// Build one from [`CachePolicy::default`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CachePolicy {
    /// The fraction of a token's lifetime (from fetch to `expires_at`) after which the next
    /// caller refreshes it. Default 0.5.
    ///
    /// Must lie in (0, 1]; anything else is clamped (see [`CachePolicy::with_refresh_fraction`]).
    /// At 1 there is no refresh ahead: the token is refetched when it reaches the expiry margin.
    pub refresh_fraction: f64,
    /// A token is never served once `now >= expires_at - expiry_margin`, so a credential handed
    /// out is still good for at least this long. Default 60 s.
    pub expiry_margin: Duration,
    /// The wait after the first failed refresh ahead before the next attempt. Default 5 s.
    pub min_retry: Duration,
    /// The longest wait between failed refreshes; the wait doubles up to this. Default 5 min.
    /// A value below `min_retry` counts as `min_retry`.
    pub max_retry: Duration,
}

impl CachePolicy {
    const DEFAULT_REFRESH_FRACTION: f64 = 0.5;

    /// When a token fetched at `fetched_at` and expiring at `expires_at` is due for a refresh:
    /// `refresh_fraction` of its lifetime after it was fetched.
    pub fn refresh_point(&self, fetched_at: SystemTime, expires_at: SystemTime) -> SystemTime {
        let lifetime = expires_at.duration_since(fetched_at).unwrap_or_default();
        fetched_at + lifetime.mul_f64(self.refresh_fraction)
    }

    /// Whether such a token may be handed out at `now` without a refresh: before its refresh
    /// point and before `expires_at - expiry_margin`. A token persisted by another process is
    /// judged this way.
    pub fn is_fresh(
        &self,
        fetched_at: SystemTime,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> bool {
        let before_margin = expires_at
            .checked_sub(self.expiry_margin)
            .is_some_and(|stale_at| now < stale_at);
        before_margin && now < self.refresh_point(fetched_at, expires_at)
    }

    /// Sets [`refresh_fraction`](Self::refresh_fraction).
    ///
    /// The value is clamped into (0, 1] rather than rejected: above 1 means 1 (no refresh
    /// ahead), and 0, a negative number or NaN, which name no point in a token's life, mean the
    /// default 0.5. The cache applies the same rule to a value assigned to the field directly.
    pub fn with_refresh_fraction(mut self, fraction: f64) -> Self {
        self.refresh_fraction = clamp_fraction(fraction);
        self
    }

    /// Sets [`expiry_margin`](Self::expiry_margin).
    pub fn with_expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// Sets [`min_retry`](Self::min_retry).
    pub fn with_min_retry(mut self, wait: Duration) -> Self {
        self.min_retry = wait;
        self
    }

    /// Sets [`max_retry`](Self::max_retry).
    pub fn with_max_retry(mut self, wait: Duration) -> Self {
        self.max_retry = wait;
        self
    }

    /// The policy with every field brought into its documented range.
    fn normalised(mut self) -> Self {
        self.refresh_fraction = clamp_fraction(self.refresh_fraction);
        self.max_retry = self.max_retry.max(self.min_retry);
        self
    }
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            refresh_fraction: Self::DEFAULT_REFRESH_FRACTION,
            expiry_margin: Duration::from_secs(60),
            min_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(5 * 60),
        }
    }
}

fn clamp_fraction(fraction: f64) -> f64 {
    if fraction.is_nan() || fraction <= 0.0 {
        CachePolicy::DEFAULT_REFRESH_FRACTION
    } else {
        fraction.min(1.0)
    }
}

// How the concurrency works.
//
// The keys live in an `ArcSwap<HashMap<K, Arc<Slot>>>`, copied only when a new key appears.
// Each slot holds its token in an `ArcSwapOption`, so a read of a fresh token is two lock-free
// loads and a clone of the credential: it never waits and never allocates otherwise.
//
// Fetches go through a *flight*: an `Arc` holding a `tokio::sync::Mutex<Option<Result>>`,
// published in the slot while it is current. Whoever locks the flight's mutex and finds no
// result leads: it fetches while holding the lock, stores the token, retires the flight from the
// slot and writes the result before unlocking. Everyone else who joined the flight queues on the
// mutex and, once it is theirs, finds the result and returns a clone of it without fetching.
// If the leader is cancelled, its guard drops with no result in it, and tokio's FIFO mutex hands
// the lock to the next waiter, which then leads with its own fetch: no deadlock, and no wake-up
// can be lost because waking is the mutex's job. A refresh ahead only `try_lock`s the flight,
// so while one caller refreshes, the others are served the cached token without waiting.
// (`tokio::sync::OnceCell` would not do: it hands an error to the caller whose init failed
// only, and lets the next waiter start a fetch of its own.)

/// An expiry-aware, single-flight cache of registry tokens, one per key.
///
/// See the [module documentation](self) for the policy. `Debug` shows the keys that hold a
/// token and the policy, never a token.
pub struct TokenCache<K> {
    slots: ArcSwap<HashMap<K, Arc<Slot>>>,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
}

/// Everything the cache knows about one key.
#[derive(Default)]
struct Slot {
    entry: ArcSwapOption<Entry>,
    flight: ArcSwapOption<Flight>,
}

/// A cached token and when to act on it. Replaced whole, never mutated.
struct Entry {
    credential: RegistryCredential,
    /// From here on the next caller refreshes the token.
    refresh_at: SystemTime,
    /// `expires_at - expiry_margin`: from here on the token is never served.
    stale_at: SystemTime,
    /// Set after a failed refresh ahead.
    retry: Option<Retry>,
}

#[derive(Clone, Copy)]
struct Retry {
    /// No refresh is attempted before this.
    not_before: SystemTime,
    /// How long to wait after the next failure.
    next_backoff: Duration,
}

/// One upstream call and, once it is over, its outcome (see [`TokenCache`]).
#[derive(Default)]
struct Flight {
    outcome: tokio::sync::Mutex<Option<Result<RegistryCredential, Error>>>,
}

impl Entry {
    fn servable(&self, now: SystemTime) -> bool {
        now < self.stale_at
    }

    fn refresh_due(&self, now: SystemTime) -> bool {
        now >= self.refresh_at && self.retry.is_none_or(|retry| now >= retry.not_before)
    }
}

impl Slot {
    fn servable(&self, now: SystemTime) -> Option<RegistryCredential> {
        self.entry
            .load()
            .as_ref()
            .filter(|entry| entry.servable(now))
            .map(|entry| entry.credential.clone())
    }

    /// The current flight, or a new one if there is none.
    fn join_flight(&self) -> Arc<Flight> {
        if let Some(flight) = self.flight.load_full() {
            return flight;
        }
        let fresh = Arc::new(Flight::default());
        let previous = self
            .flight
            .rcu(|current| current.clone().or_else(|| Some(Arc::clone(&fresh))));
        previous.unwrap_or(fresh)
    }

    /// Unpublishes `flight` so that later callers start a new one; those already holding it
    /// still read its outcome.
    fn retire(&self, flight: &Arc<Flight>) {
        self.flight.compare_and_swap(Arc::as_ptr(flight), None);
    }
}

impl<K> TokenCache<K>
where
    K: Hash + Eq + Clone + Send + Sync + fmt::Debug + 'static,
{
    /// An empty cache that follows `policy` and reads time from `clock`.
    pub fn new(policy: CachePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            slots: ArcSwap::default(),
            policy: policy.normalised(),
            clock,
        }
    }

    /// The cached token for `key` if it can be served; otherwise the result of `fetch`, run at
    /// most once at a time per key however many callers ask.
    ///
    /// Callers that arrive while a fetch for `key` is running wait for it and get its result
    /// (a clone of its error if it failed); their own `fetch` is not called, unless the caller
    /// running the fetch is dropped, in which case the next waiter takes over with its own.
    /// Once the token's refresh point has passed, this caller refreshes it while other callers
    /// are served the cached token; a failed refresh is logged and the cached token returned.
    pub async fn get_or_fetch<F, Fut>(&self, key: &K, fetch: F) -> Result<RegistryCredential, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RegistryCredential, Error>> + Send,
    {
        let now = self.clock.now();
        if let Some(slot) = self.slots.load().get(key) {
            if let Some(entry) = &*slot.entry.load() {
                if entry.servable(now) && !entry.refresh_due(now) {
                    return Ok(entry.credential.clone());
                }
            }
        }

        let slot = self.slot(key);
        match slot.entry.load_full() {
            Some(entry) if entry.servable(now) => {
                if entry.refresh_due(now) {
                    self.refresh_ahead(key, &slot, entry, now, fetch).await
                } else {
                    Ok(entry.credential.clone())
                }
            }
            _ => self.fetch_shared(key, &slot, fetch).await,
        }
    }

    /// The cached token for `key` if it can be served now; never fetches.
    pub fn peek(&self, key: &K) -> Option<RegistryCredential> {
        let now = self.clock.now();
        self.slots.load().get(key)?.servable(now)
    }

    /// Drops the cached token for `key`, so the next caller fetches. A fetch already running
    /// for `key` still completes and caches its token.
    pub fn invalidate(&self, key: &K) {
        if let Some(slot) = self.slots.load().get(key) {
            slot.entry.store(None);
        }
    }

    /// Drops every cached token. The cache keeps its per-key bookkeeping (no token, just the
    /// place for one), so a fetch already running still has exactly one flight per key.
    pub fn clear(&self) {
        for slot in self.slots.load().values() {
            slot.entry.store(None);
        }
    }

    /// The number of keys whose cached token can be served now.
    pub fn len(&self) -> usize {
        let now = self.clock.now();
        self.slots
            .load()
            .values()
            .filter(|slot| slot.entry.load().as_ref().is_some_and(|e| e.servable(now)))
            .count()
    }

    /// Whether no key has a token that can be served now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clock the cache reads time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The policy in force, with out-of-range values already clamped.
    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// The slot for `key`, created if this is the key's first use.
    fn slot(&self, key: &K) -> Arc<Slot> {
        if let Some(slot) = self.slots.load().get(key) {
            return Arc::clone(slot);
        }
        let fresh = Arc::new(Slot::default());
        let previous = self.slots.rcu(|slots| {
            if slots.contains_key(key) {
                Arc::clone(slots)
            } else {
                let mut slots = HashMap::clone(slots);
                slots.insert(key.clone(), Arc::clone(&fresh));
                Arc::new(slots)
            }
        });
        previous.get(key).cloned().unwrap_or(fresh)
    }

    /// The miss path: join the key's flight, lead it if nobody has finished it yet.
    async fn fetch_shared<F, Fut>(
        &self,
        key: &K,
        slot: &Slot,
        fetch: F,
    ) -> Result<RegistryCredential, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RegistryCredential, Error>> + Send,
    {
        let flight = slot.join_flight();
        let mut outcome = flight.outcome.lock().await;
        if let Some(result) = &*outcome {
            return result.clone();
        }

        // We lead: the first to lock this flight, or next in line after a cancelled leader.
        // A flight that ended just before ours was created may have left a token behind.
        let now = self.clock.now();
        if let Some(stale) = slot.entry.load_full() {
            if stale.servable(now) {
                return Ok(stale.credential.clone());
            }
            // Don't keep an expired secret around while the fetch runs (or keeps failing).
            slot.entry.compare_and_swap(Arc::as_ptr(&stale), None);
        }

        let result = fetch().await;
        match &result {
            Ok(credential) => {
                self.store(key, slot, credential, self.clock.now());
            }
            Err(error) => tracing::debug!(key = ?key, %error, "fetching a registry token failed"),
        }
        slot.retire(&flight);
        *outcome = Some(result.clone());
        result
    }

    /// The refresh-ahead path: `stale` can still be served, and its refresh point has passed.
    async fn refresh_ahead<F, Fut>(
        &self,
        key: &K,
        slot: &Slot,
        stale: Arc<Entry>,
        now: SystemTime,
        fetch: F,
    ) -> Result<RegistryCredential, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RegistryCredential, Error>> + Send,
    {
        let flight = slot.join_flight();
        let Ok(mut outcome) = flight.outcome.try_lock() else {
            // Someone is fetching for this key already; the cached token is still good.
            return Ok(stale.credential.clone());
        };
        let current = slot.entry.load_full();
        let unchanged = current
            .as_ref()
            .is_some_and(|entry| Arc::ptr_eq(entry, &stale));
        if outcome.is_some() || !unchanged {
            // A flight ended since we looked: serve what it left, or the token we saw.
            let credential = current.filter(|entry| entry.servable(now)).map_or_else(
                || stale.credential.clone(),
                |entry| entry.credential.clone(),
            );
            return Ok(credential);
        }

        let result = fetch().await;
        let done = self.clock.now();
        let served = match &result {
            Ok(credential) => {
                if self.store(key, slot, credential, done) {
                    Ok(credential.clone())
                } else {
                    let reason = "the new token had already expired";
                    self.back_off(key, slot, &stale, done, &reason)
                }
            }
            Err(error) => self.back_off(key, slot, &stale, done, error),
        };
        slot.retire(&flight);
        // Callers who joined this flight did so because the token stopped being servable
        // meanwhile: they get what upstream said, not the stale token.
        *outcome = Some(result.clone());
        served.or(result)
    }

    /// Caches `credential`, fetched at `now`, unless it is already past the expiry margin, in
    /// which case it is only logged. Returns whether it was cached.
    fn store(
        &self,
        key: &K,
        slot: &Slot,
        credential: &RegistryCredential,
        now: SystemTime,
    ) -> bool {
        let stale_at = credential.expires_at.checked_sub(self.policy.expiry_margin);
        let Some(stale_at) = stale_at.filter(|&stale_at| now < stale_at) else {
            tracing::warn!(
                key = ?key,
                expires_at = %crate::time::rfc3339(credential.expires_at),
                now = %crate::time::rfc3339(now),
                "the registry token from upstream has already expired (is a clock off?); \
                 returning it to the callers waiting for it, not caching it"
            );
            return false;
        };
        let refresh_at = self.policy.refresh_point(now, credential.expires_at);
        slot.entry.store(Some(Arc::new(Entry {
            credential: credential.clone(),
            refresh_at,
            stale_at,
            retry: None,
        })));
        true
    }

    /// After a failed refresh ahead: keep `stale`, schedule the next attempt, and hand back the
    /// stale token if it can still be served at `now`.
    fn back_off(
        &self,
        key: &K,
        slot: &Slot,
        stale: &Arc<Entry>,
        now: SystemTime,
        reason: &dyn fmt::Display,
    ) -> Result<RegistryCredential, ()> {
        let backoff = stale
            .retry
            .map_or(self.policy.min_retry, |retry| retry.next_backoff);
        let not_before = now
            .checked_add(backoff)
            .map_or(stale.stale_at, |at| at.min(stale.stale_at));
        let retrying = Entry {
            credential: stale.credential.clone(),
            refresh_at: stale.refresh_at,
            stale_at: stale.stale_at,
            retry: Some(Retry {
                not_before,
                next_backoff: backoff.saturating_mul(2).min(self.policy.max_retry),
            }),
        };
        // Only if nobody invalidated the token meanwhile.
        slot.entry
            .compare_and_swap(Arc::as_ptr(stale), Some(Arc::new(retrying)));
        tracing::warn!(
            key = ?key,
            error = %reason,
            retry_in = ?backoff,
            expires_at = %crate::time::rfc3339(stale.credential.expires_at),
            "refreshing the registry token failed; serving the cached token until it expires"
        );
        if stale.servable(now) {
            Ok(stale.credential.clone())
        } else {
            Err(())
        }
    }
}

impl<K> Default for TokenCache<K>
where
    K: Hash + Eq + Clone + Send + Sync + fmt::Debug + 'static,
{
    /// An empty cache with the default policy and the system clock.
    fn default() -> Self {
        Self::new(CachePolicy::default(), Arc::new(SystemClock))
    }
}

impl<K: fmt::Debug> fmt::Debug for TokenCache<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.slots.load();
        let cached: Vec<&K> = slots
            .iter()
            .filter(|(_, slot)| slot.entry.load().is_some())
            .map(|(key, _)| key)
            .collect();
        f.debug_struct("TokenCache")
            .field("cached", &cached)
            .field("keys", &slots.len())
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .finish()
    }
}
