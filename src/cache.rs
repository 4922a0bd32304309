//! The expiry-aware, single-flight token cache, its [`Clock`], and its second tier.
//!
//! A [`TokenCache`] holds one registry token per [`CacheKey`] (the provider's identity and the
//! registry; never a secret) and decides, on every read, whether the cached token can be served:
//!
//! - **Fresh**: served at once. This path takes no lock at all, so a read never waits behind a
//!   refresh.
//! - **Half-life passed** ([`CachePolicy::refresh_fraction`], 0.5 by default): still served, but
//!   one caller refreshes it first while every other caller gets the cached token immediately.
//!   Refreshing at half the lifetime is what AWS's own credential helper does; for a 12-hour ECR
//!   token it leaves six hours to ride out an ECR or STS outage.
//! - **Refresh failed**: the cached token is still good, so it keeps being served (with a
//!   warning) and the refresh is retried after a doubling backoff. Failing every pull because an
//!   early refresh failed would turn a transient error into an outage for no reason.
//! - **Expired** (at or past `expires_at` minus [`CachePolicy::expiry_margin`]): never served.
//!   Callers wait for a fetch, and get its error if it fails.
//!
//! However many callers ask for one key at once, at most one upstream call is made for it, and
//! they all get its result, error included ([`Error`] is `Clone` for this). A token that is
//! already expired when it arrives (clock skew, or an emulator that always answers 2015) is
//! handed to the callers of that one call and not cached. A token that claims to live longer
//! than [`CachePolicy::max_lifetime`] (12 hours, ECR's own maximum) is clamped to it, with a
//! warning. A credential without an expiry (a plain registry's password) is kept until
//! [`invalidate`](TokenCache::invalidate)d.
//!
//! # The second tier
//!
//! A short-lived process (docker runs its credential helper once per pull) starts with an
//! empty cache. With a [`TokenStore`] ([`DiskStore`] keeps tokens in `0600` files), a miss
//! first asks the store; if it has nothing fresh, the cache takes the store's lock for the key,
//! asks again (another process may have just fetched), and only then goes upstream, saving what
//! it got. So concurrent processes make one upstream call between them. If that upstream call
//! fails while the store holds a token that is past its refresh point but not yet expired, the
//! stored token is served, with a warning, exactly as the in-memory tier does.
//!
//! Time comes only from the [`Clock`], so tests move a [`ManualClock`] instead of sleeping.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//!
//! use registry_auth::cache::{CacheKey, CachePolicy, ManualClock, TokenCache};
//! use registry_auth::RegistryCredential;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
//! let cache = TokenCache::new(CachePolicy::default(), Arc::new(clock.clone()));
//! let fetch = |now: SystemTime| async move {
//!     Ok(RegistryCredential::new(
//!         "AWS",
//!         "password from ECR".into(),
//!         "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
//!         Some(now + Duration::from_secs(12 * 3600)),
//!     ))
//! };
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! runtime.block_on(async {
//!     let key = CacheKey::new("prod-ecr", "123456789012.dkr.ecr.us-east-1.amazonaws.com");
//!     // Cold: fetched. Warm: served from the cache, the closure is not called.
//!     let first = cache.get_or_fetch(&key, || fetch(clock.now())).await?;
//!     let again = cache
//!         .get_or_fetch(&key, || async { unreachable!("served from the cache") })
//!         .await?;
//!     assert_eq!(again.expires_at(), first.expires_at());
//!
//!     // Half of the 12 hours later, the next caller refreshes the token.
//!     clock.advance(Duration::from_secs(6 * 3600));
//!     let refreshed = cache.get_or_fetch(&key, || fetch(clock.now())).await?;
//!     assert!(refreshed.expires_at() > first.expires_at());
//!     Ok::<_, registry_auth::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```

mod clock;
#[cfg(unix)]
mod disk;
mod key;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};

pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(unix)]
pub use disk::DiskStore;
pub(crate) use key::KeyRef;
pub use key::{CacheKey, IdentityKey};
pub use store::{StoreGuard, StoredToken, TokenStore};

use crate::{Error, RegistryCredential};

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
    /// The longest a token may be used after it was fetched, whatever upstream claims; a longer
    /// claim is clamped to this with a warning. Default 12 h, ECR's own maximum.
    pub max_lifetime: Duration,
}

impl CachePolicy {
    const DEFAULT_REFRESH_FRACTION: f64 = 0.5;

    /// When a token fetched at `fetched_at` and expiring at `expires_at` is due for a refresh:
    /// `refresh_fraction` of its lifetime after it was fetched.
    pub fn refresh_point(&self, fetched_at: SystemTime, expires_at: SystemTime) -> SystemTime {
        let lifetime = expires_at.duration_since(fetched_at).unwrap_or_default();
        let ahead = Duration::try_from_secs_f64(lifetime.as_secs_f64() * self.refresh_fraction)
            .unwrap_or(lifetime);
        fetched_at.checked_add(ahead).unwrap_or(expires_at)
    }

    /// When a token expiring at `expires_at` stops being served: `expires_at - expiry_margin`,
    /// and never earlier than the Unix epoch (no token was valid before it).
    pub fn stale_point(&self, expires_at: SystemTime) -> SystemTime {
        expires_at
            .checked_sub(self.expiry_margin)
            .filter(|point| *point >= SystemTime::UNIX_EPOCH)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Whether such a token may be handed out at `now` without a refresh: before its refresh
    /// point and before `expires_at - expiry_margin`. A token from a [`TokenStore`] is judged
    /// this way.
    pub fn is_fresh(
        &self,
        fetched_at: SystemTime,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> bool {
        now < self.stale_point(expires_at) && now < self.refresh_point(fetched_at, expires_at)
    }

    /// Whether such a token may still be served at `now`, refresh point or not.
    pub fn is_servable(&self, expires_at: SystemTime, now: SystemTime) -> bool {
        now < self.stale_point(expires_at)
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

    /// Sets [`max_lifetime`](Self::max_lifetime).
    pub fn with_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// The policy with every field brought into its documented range.
    fn normalised(mut self) -> Self {
        self.refresh_fraction = clamp_fraction(self.refresh_fraction);
        self.max_retry = self.max_retry.max(self.min_retry);
        self
    }

    /// `credential` with its expiry clamped to `fetched_at + max_lifetime`.
    fn clamped(
        &self,
        credential: RegistryCredential,
        fetched_at: SystemTime,
    ) -> RegistryCredential {
        let (Some(expires_at), Some(limit)) = (
            credential.expires_at(),
            fetched_at.checked_add(self.max_lifetime),
        ) else {
            return credential;
        };
        if expires_at <= limit {
            return credential;
        }
        tracing::warn!(
            server = %credential.server(),
            claimed = %crate::time::rfc3339(expires_at),
            used_until = %crate::time::rfc3339(limit),
            "the registry token claims a longer life than any registry gives; using it for at most {} h",
            self.max_lifetime.as_secs() / 3600
        );
        credential.with_expires_at(Some(limit))
    }
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            refresh_fraction: Self::DEFAULT_REFRESH_FRACTION,
            expiry_margin: Duration::from_secs(60),
            min_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(5 * 60),
            max_lifetime: Duration::from_secs(12 * 3600),
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
// The keys live in an `ArcSwap<HashMap<CacheKey, Arc<Slot>>>`, copied only when a new key
// appears. Each slot holds its token in an `ArcSwapOption`, so a read of a fresh token is two
// lock-free loads and a reference-count increment: it never waits and never allocates.
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

// The keys are hashed with foldhash, seeded per process, not SipHash: a hit hashes an identity
// and a registry name (often over 100 bytes together) on every resolve, and SipHash was a fifth
// of the hit path. A key enters the map only after its provider was asked for a token, so
// nobody can fill it with chosen colliding keys without that many upstream calls.
type Slots = hashbrown::HashMap<CacheKey, Arc<Slot>, foldhash::fast::RandomState>;

/// An expiry-aware, single-flight cache of registry tokens, one per [`CacheKey`], with an
/// optional second tier.
///
/// See the [module documentation](self) for the policy. `Debug` shows the keys that hold a
/// token and the policy, never a token.
pub struct TokenCache {
    slots: ArcSwap<Slots>,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn TokenStore>>,
    identity_key: IdentityKey,
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
    /// From here on the next caller refreshes the token; `None`: never.
    refresh_at: Option<SystemTime>,
    /// `expires_at - expiry_margin`: from here on the token is never served; `None`: never.
    stale_at: Option<SystemTime>,
    /// Set after a failed refresh.
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

/// What a fetch through the tiers got.
struct Fetched {
    credential: RegistryCredential,
    fetched_at: SystemTime,
    /// Upstream failed and this is the store's still-servable token: the error it failed with.
    failed: Option<Error>,
}

impl Entry {
    fn servable(&self, now: SystemTime) -> bool {
        self.stale_at.is_none_or(|stale_at| now < stale_at)
    }

    fn refresh_due(&self, now: SystemTime) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
            && self.retry.is_none_or(|retry| now >= retry.not_before)
    }
}

/// Where one key's token lives in a [`TokenCache`], found by the key once and then read without
/// hashing the key again. A key's place stays for the cache's life (invalidating the key empties
/// it, nothing removes it), so reading a kept place always sees what a look-up by the key sees.
#[derive(Clone)]
pub(crate) struct Place(Arc<Slot>);

impl Slot {
    /// The token if it is fresh: servable and not yet due for a refresh.
    fn fresh(&self, now: SystemTime) -> Option<RegistryCredential> {
        let entry = self.entry.load();
        let entry = entry.as_ref()?;
        (entry.servable(now) && !entry.refresh_due(now)).then(|| entry.credential.clone())
    }

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

impl TokenCache {
    /// An empty in-memory cache that follows `policy` and reads time from `clock`, hashing
    /// identities with a random per-process [`IdentityKey`].
    pub fn new(policy: CachePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            slots: ArcSwap::default(),
            policy: policy.normalised(),
            clock,
            store: None,
            identity_key: IdentityKey::random(),
        }
    }

    /// Adds a second tier; identities are then hashed with the store's key, so every process
    /// that shares the store files a token under the same key.
    pub fn with_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.identity_key = store.identity_key();
        self.store = Some(store);
        self
    }

    /// The key identities are hashed with (see [`IdentityKey::digest`]).
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The cached token for the key (`identity`, `registry`) if it is fresh: served without a
    /// lock, an allocation, or a look at the second tier. `registry` must be lowercase.
    pub(crate) fn get_fresh(&self, identity: &str, registry: &str) -> Option<RegistryCredential> {
        let now = self.clock.now();
        self.slots
            .load()
            .get(&KeyRef(identity, registry))?
            .fresh(now)
    }

    /// `key`'s place, made if this is the key's first use, for
    /// [`get_fresh_at`](Self::get_fresh_at).
    pub(crate) fn place(&self, key: &CacheKey) -> Place {
        Place(self.slot(key))
    }

    /// [`get_fresh`](Self::get_fresh) for the key whose place this is: no hash, no key compared.
    pub(crate) fn get_fresh_at(&self, place: &Place) -> Option<RegistryCredential> {
        place.0.fresh(self.clock.now())
    }

    /// The cached token for `key` if it can be served; otherwise the result of `fetch`, run at
    /// most once at a time per key however many callers ask (after the second tier, if there is
    /// one, had nothing fresh).
    ///
    /// Callers that arrive while a fetch for `key` is running wait for it and get its result
    /// (a clone of its error if it failed); their own `fetch` is not called, unless the caller
    /// running the fetch is dropped, in which case the next waiter takes over with its own.
    /// Once the token's refresh point has passed, this caller refreshes it while other callers
    /// are served the cached token; a failed refresh is logged and the cached token returned.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &CacheKey,
        fetch: F,
    ) -> Result<RegistryCredential, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RegistryCredential, Error>> + Send,
    {
        if let Some(credential) = self.get_fresh(key.identity(), key.registry()) {
            return Ok(credential);
        }
        let now = self.clock.now();
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
    pub fn peek(&self, key: &CacheKey) -> Option<RegistryCredential> {
        let now = self.clock.now();
        self.slots.load().get(key)?.servable(now)
    }

    /// Drops the cached token for `key`, so the next caller fetches. A fetch already running
    /// for `key` still completes and caches its token. The second tier is not touched.
    pub fn invalidate(&self, key: &CacheKey) {
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
    fn slot(&self, key: &CacheKey) -> Arc<Slot> {
        if let Some(slot) = self.slots.load().get(key) {
            return Arc::clone(slot);
        }
        let fresh = Arc::new(Slot::default());
        let previous = self.slots.rcu(|slots| {
            if slots.contains_key(key) {
                Arc::clone(slots)
            } else {
                let mut slots = Slots::clone(slots);
                slots.insert(key.clone(), Arc::clone(&fresh));
                Arc::new(slots)
            }
        });
        previous.get(key).cloned().unwrap_or(fresh)
    }

    /// The miss path: join the key's flight, lead it if nobody has finished it yet.
    async fn fetch_shared<F, Fut>(
        &self,
        key: &CacheKey,
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

        let result = self.fetch_tiered(key, fetch).await.map(|fetched| {
            if let Some(error) = &fetched.failed {
                self.warn_serving_stored(key, error, &fetched.credential);
            }
            self.remember(key, slot, &fetched);
            fetched.credential
        });
        if let Err(error) = &result {
            tracing::debug!(key = ?key, %error, "fetching a registry token failed");
        }
        slot.retire(&flight);
        *outcome = Some(result.clone());
        result
    }

    /// The refresh-ahead path: `stale` can still be served, and its refresh point has passed.
    async fn refresh_ahead<F, Fut>(
        &self,
        key: &CacheKey,
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

        let result = self.fetch_tiered(key, fetch).await;
        let done = self.clock.now();
        let (served, shared) = match result {
            // Upstream failed (the store's token, if any, is no newer than ours).
            Ok(Fetched {
                failed: Some(error),
                ..
            })
            | Err(error) => (self.back_off(key, slot, &stale, done, &error), Err(error)),
            Ok(fetched) => {
                let credential = fetched.credential.clone();
                if self.remember(key, slot, &fetched) {
                    (Some(credential.clone()), Ok(credential))
                } else {
                    let reason = "the new token had already expired";
                    (
                        self.back_off(key, slot, &stale, done, &reason),
                        Ok(credential),
                    )
                }
            }
        };
        slot.retire(&flight);
        // Callers who joined this flight did so because the token stopped being servable
        // meanwhile: they get what upstream said, not the stale token.
        *outcome = Some(shared.clone());
        served.map_or(shared, Ok)
    }

    /// A fetch through the tiers: the store's token if it is fresh, else upstream under the
    /// store's lock, else (upstream failed) the store's token if it can still be served.
    async fn fetch_tiered<F, Fut>(&self, key: &CacheKey, fetch: F) -> Result<Fetched, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RegistryCredential, Error>> + Send,
    {
        let Some(store) = &self.store else {
            let fetched_at = self.clock.now();
            let credential = self.policy.clamped(fetch().await?, fetched_at);
            return Ok(Fetched {
                credential,
                fetched_at,
                failed: None,
            });
        };
        let fresh = |stored: &Option<StoredToken>| -> Option<StoredToken> {
            let now = self.clock.now();
            stored
                .as_ref()
                .filter(|s| {
                    s.credential
                        .expires_at()
                        .is_some_and(|at| self.policy.is_fresh(s.fetched_at, at, now))
                })
                .cloned()
        };
        let stored = store.load(key).map(|s| self.clamp_stored(s));
        if let Some(s) = fresh(&stored) {
            return Ok(Fetched {
                credential: s.credential,
                fetched_at: s.fetched_at,
                failed: None,
            });
        }
        let _guard = store.lock(key).await;
        let stored = store.load(key).map(|s| self.clamp_stored(s));
        if let Some(s) = fresh(&stored) {
            return Ok(Fetched {
                credential: s.credential,
                fetched_at: s.fetched_at,
                failed: None,
            });
        }
        let fetched_at = self.clock.now();
        match fetch().await {
            Ok(credential) => {
                let credential = self.policy.clamped(credential, fetched_at);
                let unexpired = credential.expires_at().is_some_and(|at| at > fetched_at);
                if unexpired {
                    let token = StoredToken::new(credential.clone(), fetched_at);
                    if let Err(e) = store.save(key, &token) {
                        tracing::warn!(error = %e, "could not keep the token in the second tier; going on without it");
                    }
                }
                Ok(Fetched {
                    credential,
                    fetched_at,
                    failed: None,
                })
            }
            Err(error) => {
                let now = self.clock.now();
                match stored.filter(|s| {
                    s.credential
                        .expires_at()
                        .is_some_and(|at| self.policy.is_servable(at, now))
                }) {
                    Some(s) => Ok(Fetched {
                        credential: s.credential,
                        fetched_at: s.fetched_at,
                        failed: Some(error),
                    }),
                    None => Err(error),
                }
            }
        }
    }

    fn clamp_stored(&self, stored: StoredToken) -> StoredToken {
        let credential = self.policy.clamped(stored.credential, stored.fetched_at);
        StoredToken::new(credential, stored.fetched_at)
    }

    fn warn_serving_stored(&self, key: &CacheKey, error: &Error, credential: &RegistryCredential) {
        tracing::warn!(
            key = ?key,
            %error,
            expires_at = %credential.expires_at().map(crate::time::rfc3339).unwrap_or_default(),
            "refreshing the registry token failed; serving the stored token until it expires"
        );
    }

    /// Caches what a fetch got, unless it is already past the expiry margin, in which case it is
    /// only logged. Returns whether it was cached. A token the store served because upstream
    /// failed is cached with a retry time, so the next caller does not hammer upstream.
    fn remember(&self, key: &CacheKey, slot: &Slot, fetched: &Fetched) -> bool {
        let credential = &fetched.credential;
        let now = self.clock.now();
        let (stale_at, refresh_at) = match credential.expires_at() {
            None => (None, None),
            Some(expires_at) => {
                let stale_at = self.policy.stale_point(expires_at);
                if now >= stale_at {
                    tracing::warn!(
                        key = ?key,
                        expires_at = %crate::time::rfc3339(expires_at),
                        now = %crate::time::rfc3339(now),
                        "the registry token from upstream has already expired (is a clock off?); \
                         returning it to the callers waiting for it, not caching it"
                    );
                    return false;
                }
                let refresh_at = self.policy.refresh_point(fetched.fetched_at, expires_at);
                (Some(stale_at), Some(refresh_at))
            }
        };
        let retry = fetched.failed.as_ref().map(|_| Retry {
            not_before: now.checked_add(self.policy.min_retry).unwrap_or(now),
            next_backoff: self
                .policy
                .min_retry
                .saturating_mul(2)
                .min(self.policy.max_retry),
        });
        slot.entry.store(Some(Arc::new(Entry {
            credential: credential.clone(),
            refresh_at,
            stale_at,
            retry,
        })));
        true
    }

    /// After a failed refresh ahead: keep `stale`, schedule the next attempt, and hand back the
    /// stale token if it can still be served at `now`.
    fn back_off(
        &self,
        key: &CacheKey,
        slot: &Slot,
        stale: &Arc<Entry>,
        now: SystemTime,
        reason: &dyn fmt::Display,
    ) -> Option<RegistryCredential> {
        let backoff = stale
            .retry
            .map_or(self.policy.min_retry, |retry| retry.next_backoff);
        let mut not_before = now.checked_add(backoff).unwrap_or(now);
        if let Some(stale_at) = stale.stale_at {
            not_before = not_before.min(stale_at);
        }
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
            expires_at = %stale.credential.expires_at().map(crate::time::rfc3339).unwrap_or_default(),
            "refreshing the registry token failed; serving the cached token until it expires"
        );
        stale.servable(now).then(|| stale.credential.clone())
    }
}

impl Default for TokenCache {
    /// An empty cache with the default policy and the system clock.
    fn default() -> Self {
        Self::new(CachePolicy::default(), Arc::new(SystemClock))
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.slots.load();
        let cached: Vec<&CacheKey> = slots
            .iter()
            .filter(|(_, slot)| slot.entry.load().is_some())
            .map(|(key, _)| key)
            .collect();
        f.debug_struct("TokenCache")
            .field("cached", &cached)
            .field("keys", &slots.len())
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .field("store", &self.store)
            .finish()
    }
}
