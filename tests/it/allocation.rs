//! The hot paths allocate nothing: a lookup in the compiled index, and a resolve from an image
//! string to a cached credential. This binary counts each thread's allocations with its own
//! global allocator. (The index's equivalence with the plain scan is a unit property beside
//! the index, `index::tests::index_agrees_with_the_plain_scan`.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use registry_auth::index::PatternIndex;
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use registry_auth::reference::ImageReference;
use registry_auth::{
    async_trait, DefaultResolver, Error, RegistryCredential, ResolveContext, Resolved,
};
use secrecy::SecretString;

use crate::support::Counting;

const DIGEST_1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

// Counts this thread's allocations, so tests running beside this one don't disturb the count.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn lookup_allocates_nothing() {
    let mut patterns = vec![
        "*.dkr.ecr.*.amazonaws.com".to_owned(),
        "*.dkr.ecr.us-east-1.amazonaws.com/team/*".to_owned(),
        "registry.example.com:5000/team/app:v*".to_owned(),
        "Registry.Example.com/*".to_owned(),
    ];
    for k in 0..1000 {
        patterns.push(format!("{:012}.dkr.ecr.us-east-1.amazonaws.com/*", k));
        patterns.push(format!(
            "{:012}.dkr.ecr.us-east-1.amazonaws.com/team-{k}/*",
            k % 10
        ));
    }
    let index = PatternIndex::new(patterns.iter().map(|p| MatchPattern::parse(p).unwrap()));
    let by_digest = format!("REGISTRY.example.com/x/y@{DIGEST_1}");
    let images: Vec<ImageReference> = [
        "000000000007.dkr.ecr.us-east-1.amazonaws.com/team-7/app:v1",
        "000000000007.dkr.ecr.us-east-1.amazonaws.com/other/app:v1",
        "000000000007.DKR.ECR.US-EAST-1.AMAZONAWS.COM/team-7/app:v1",
        "999999999999.dkr.ecr.us-east-1.amazonaws.com/team/app",
        "999999999999.dkr.ecr.eu-west-1.amazonaws.com/x",
        "registry.example.com:5000/team/app:v2",
        by_digest.as_str(),
        "ubuntu",
        "ghcr.io/org/tool:1",
    ]
    .iter()
    .map(|s| ImageReference::parse(s).unwrap())
    .collect();
    let expected: Vec<_> = images.iter().map(|i| index.best_match(i)).collect();

    let mut found = Vec::with_capacity(images.len() * 3);
    let before = allocations();
    for image in &images {
        found.push(index.best_match(image));
        // Refusing everything walks every pass of the wildcard search.
        found.push(index.best_match_by(image, |_| false));
        found.push(index.best_match_by(image, |i| i % 2 == 1));
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "{during} allocations in {} lookups", found.len());
    let plain: Vec<_> = found.iter().step_by(3).copied().collect();
    assert_eq!(plain, expected);
    assert!(expected.iter().filter(|m| m.is_some()).count() >= 6);
}

#[test]
fn a_literal_entry_serves_its_registry_however_the_host_is_cased_and_nothing_else() {
    let numbered = Arc::new(Numbered::default());
    let resolver = DefaultResolver::builder()
        .provider_entry(
            MatchPattern::parse("registry.example.com:5000/team/*").unwrap(),
            numbered.clone(),
        )
        .build()
        .unwrap();
    // The same registry in other case; then the same port written with a leading zero, which
    // names another registry as far as the cache is concerned (another key, another token).
    let images = [
        "registry.example.com:5000/team/app:v1",
        "REGISTRY.Example.com:5000/team/app:v2",
        "registry.example.com:05000/team/app:v1",
    ];
    let tokens = ["token-1", "token-1", "token-2"];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        resolve_counting_allocations(&resolver, &images, 1).await;
        assert_eq!(numbered.0.load(Ordering::SeqCst), 2, "one fetch per key");
        let (served, during) = resolve_counting_allocations(&resolver, &images, 2).await;
        assert_eq!(
            numbered.0.load(Ordering::SeqCst),
            2,
            "every resolve was a hit"
        );
        // The uppercase host finds its token as the lowercase one does: nothing lowercased.
        assert_eq!(during, 0, "{during} allocations in {} hits", served.len());
        for ((resolved, token), image) in served
            .iter()
            .zip(tokens.iter().cycle())
            .zip(images.iter().cycle())
        {
            assert_eq!(resolved.credential.expose_password(), *token, "{image}");
        }
    });
}

/// Resolves each of `images`, `rounds` times over, through `resolve_str_in` with no context:
/// the answers, and how many allocations this thread made for them.
async fn resolve_counting_allocations(
    resolver: &DefaultResolver,
    images: &[&str],
    rounds: usize,
) -> (Vec<Resolved>, u64) {
    let unscoped = ResolveContext::unscoped();
    let mut served = Vec::with_capacity(images.len() * rounds);
    let before = allocations();
    for _ in 0..rounds {
        for image in images {
            served.push(resolver.resolve_str_in(&unscoped, image).await.unwrap());
        }
    }
    (served, allocations() - before)
}

/// Answers at once with a token valid for twelve hours, `token-N` for its Nth fetch.
#[derive(Debug, Default)]
struct Numbered(std::sync::atomic::AtomicUsize);

#[async_trait]
impl CredentialProvider for Numbered {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(RegistryCredential::new(
            "AWS",
            SecretString::from(format!("token-{n}")),
            target.server(),
            Some(SystemTime::now() + Duration::from_secs(12 * 3600)),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("numbered")
    }
}

/// Answers at once with a token valid for twelve hours, whose password names the provider.
#[derive(Debug)]
struct TwelveHours(&'static str);

#[async_trait]
impl CredentialProvider for TwelveHours {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        Ok(RegistryCredential::new(
            "AWS",
            SecretString::from(format!("password-of-{}", self.0)),
            target.server(),
            Some(SystemTime::now() + Duration::from_secs(12 * 3600)),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("twelve-hours").with("name", self.0)
    }
}

#[test]
fn a_cached_resolve_from_a_string_allocates_nothing() {
    let team = Arc::new(Counting::new(TwelveHours("team")));
    let account = Arc::new(Counting::new(TwelveHours("account")));
    let resolver = DefaultResolver::builder()
        .provider_entry(
            MatchPattern::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/*").unwrap(),
            team.clone(),
        )
        .provider_entry(
            MatchPattern::parse("*.dkr.ecr.*.amazonaws.com").unwrap(),
            account.clone(),
        )
        .build()
        .unwrap();
    // Images already in normal form (registry and tag or digest named), served by either
    // entry. (A host written in uppercase that a wildcard entry serves costs one allocation:
    // the cache key's registry is lowercase. A literal entry's does not: see below.)
    let by_digest = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST_1}");
    let images = [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v2",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:v1",
        "999999999999.dkr.ecr.eu-west-1.amazonaws.com/app:latest",
        by_digest.as_str(),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The first resolve of each registry fetches (and allocates); the rest are hits.
        resolve_counting_allocations(&resolver, &images, 1).await;
        let fetched = (
            team.calls.load(Ordering::SeqCst),
            account.calls.load(Ordering::SeqCst),
        );
        let (served, during) = resolve_counting_allocations(&resolver, &images, 3).await;
        assert_eq!(
            during,
            0,
            "{during} allocations in {} cached resolves",
            served.len()
        );
        assert_eq!(
            (
                team.calls.load(Ordering::SeqCst),
                account.calls.load(Ordering::SeqCst)
            ),
            fetched,
            "every resolve was a cache hit"
        );
        let entries: Vec<usize> = served[..images.len()].iter().map(|r| r.entry).collect();
        assert_eq!(entries, [0, 0, 1, 1, 1]);
        assert_eq!(served[0].credential.expose_password(), "password-of-team");
        // The wildcard entry serves two registries, each with its own token.
        for (resolved, image) in served.iter().zip(images.iter().cycle()) {
            let registry = ImageReference::parse(image).unwrap().domain().to_owned();
            assert_eq!(resolved.credential.server(), format!("https://{registry}"));
        }

        // A cleared cache is seen by the next resolve of every registry.
        resolver.cache().clear();
        resolve_counting_allocations(&resolver, &images, 1).await;
        assert_eq!(
            (
                team.calls.load(Ordering::SeqCst),
                account.calls.load(Ordering::SeqCst)
            ),
            (fetched.0 + 1, fetched.1 + 2),
            "one fetch per registry after the cache was cleared"
        );
    });
}
