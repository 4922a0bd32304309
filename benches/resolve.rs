//! The resolve hit path at 10,000 entries: parse the image, pick the entry through the
//! `PatternIndex`, return the cached token (cache warm, so no provider is called and no network
//! is touched); and its throughput with many tokio tasks on a two-worker runtime.
//!
//! Before timing, it prints how many heap allocations a hit costs through each entry point (a
//! counting global allocator): the trait's methods box their future (`async_trait`), the
//! inherent `resolve_str_in` does not.
//!
//! `cargo bench --bench resolve`

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use registry_auth::pattern::MatchPattern;
use registry_auth::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
use registry_auth::reference::{ImageRef, ImageReference};
use registry_auth::{async_trait, DefaultResolver, RegistryResolver, ResolveContext};
use registry_auth::{Error, RegistryCredential};
use secrecy::SecretString;

/// Counts allocations, to report what a hit allocates.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ENTRIES: usize = 10_000;
/// Images the lookups cycle through, each resolved once before measuring.
const QUERIES: usize = 1024;
/// Distinct credential identities among the entries.
const IDENTITIES: usize = 100;
const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-south-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
];

/// A provider that answers at once with a token good for 12 hours.
#[derive(Debug)]
struct FixedToken {
    identity: String,
}

#[async_trait]
impl CredentialProvider for FixedToken {
    async fn fetch(&self, target: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
        Ok(RegistryCredential::new(
            "AWS",
            SecretString::from("not-a-real-password"),
            target.server(),
            Some(SystemTime::now() + Duration::from_secs(12 * 3600)),
        ))
    }

    fn identity(&self) -> CacheIdentity {
        CacheIdentity::new("fixed").with("key", &self.identity)
    }
}

/// xorshift64*: the same entries and images every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn host(&mut self) -> String {
        let account = 100_000_000_000 + self.next() % 900_000_000_000;
        let region = REGIONS[self.below(REGIONS.len())];
        format!("{account}.dkr.ecr.{region}.amazonaws.com")
    }
}

/// 10,000 entries in the mix of `benches/matching.rs` (70% `host/*`, 20% `host/team/*`,
/// 5% wildcard hosts, 5% other registries), and images that hit them.
fn entries_and_images() -> (Vec<String>, Vec<String>) {
    let mut rng = Rng(0x5eed_0001);
    let mut seen = HashSet::new();
    let mut patterns = Vec::with_capacity(ENTRIES);
    let mut images = Vec::new();
    let mut hosts = Vec::new();
    while patterns.len() < ENTRIES {
        let roll = rng.below(100);
        let (pattern, image) = if roll < 70 || hosts.is_empty() {
            let host = rng.host();
            hosts.push(host.clone());
            (
                format!("{host}/*"),
                format!("{host}/svc-{}:v1", rng.below(50)),
            )
        } else if roll < 90 {
            let host = hosts[rng.below(hosts.len())].clone();
            let team = format!("team-{}", rng.below(1000));
            (format!("{host}/{team}/*"), format!("{host}/{team}/app:2"))
        } else if roll < 95 {
            let region = REGIONS[rng.below(REGIONS.len())];
            let team = format!("shared-{}", rng.below(1000));
            let account = 100_000_000_000 + rng.next() % 900_000_000_000;
            (
                format!("*.dkr.ecr.{region}.amazonaws.com/{team}/*"),
                format!("{account}.dkr.ecr.{region}.amazonaws.com/{team}/tool:1"),
            )
        } else {
            let k = rng.below(1_000_000);
            (
                format!("registry-{k}.example.com:5000/apps/*"),
                format!("registry-{k}.example.com:5000/apps/web:3"),
            )
        };
        if seen.insert(pattern.clone()) {
            patterns.push(pattern);
            images.push(image);
        }
    }
    let picked = (0..QUERIES)
        .map(|_| images[rng.below(images.len())].clone())
        .collect();
    (patterns, picked)
}

fn resolver(patterns: &[String]) -> Arc<DefaultResolver> {
    let providers: Vec<Arc<dyn CredentialProvider>> = (0..IDENTITIES)
        .map(|k| {
            Arc::new(FixedToken {
                identity: format!("AKIAEXAMPLE{k:09}"),
            }) as Arc<dyn CredentialProvider>
        })
        .collect();
    let mut builder = DefaultResolver::builder();
    for (i, p) in patterns.iter().enumerate() {
        builder = builder.provider_entry(
            MatchPattern::parse(p).unwrap(),
            Arc::clone(&providers[i % IDENTITIES]),
        );
    }
    Arc::new(builder.build().unwrap())
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

fn hit_path(c: &mut Criterion) {
    let (patterns, images) = entries_and_images();
    let resolver = resolver(&patterns);
    let rt = runtime(2);
    rt.block_on(async {
        for image in &images {
            resolver.resolve_str(image).await.unwrap();
        }
    });
    let parsed: Vec<ImageReference> = images
        .iter()
        .map(|s| ImageReference::parse(s).unwrap())
        .collect();
    report_allocations(&rt, &resolver, &images, &parsed);

    let mut group = c.benchmark_group("resolve");
    let mut k = 0usize;
    // The parts, to see where the time goes.
    // The parts, borrowed as `resolve_str_in` parses (`ImageRef`, nothing copied).
    let mut scratch = String::with_capacity(256);
    group.bench_function(BenchmarkId::new("parse", ENTRIES), |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            ImageRef::parse(black_box(&images[k]), &mut scratch).map(|image| image.host().len())
        })
    });
    group.bench_function(BenchmarkId::new("parse_and_select", ENTRIES), |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            let image = ImageRef::parse(black_box(&images[k]), &mut scratch).unwrap();
            resolver
                .select_in(&ResolveContext::unscoped(), image)
                .unwrap()
                .map(|(i, _)| i)
        })
    });
    // The whole hit path as async code calling it sees it: many resolves in one task.
    group.bench_function(BenchmarkId::new("hit", ENTRIES), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    k = (k + 1) % QUERIES;
                    black_box(resolver.resolve_str(black_box(&images[k])).await.unwrap());
                }
                started.elapsed()
            })
        })
    });
    // The inherent method: no boxed future, so no allocation at all.
    let unscoped = ResolveContext::unscoped();
    group.bench_function(BenchmarkId::new("hit_str_in", ENTRIES), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    k = (k + 1) % QUERIES;
                    let image = black_box(&images[k]);
                    black_box(resolver.resolve_str_in(&unscoped, image).await.unwrap());
                }
                started.elapsed()
            })
        })
    });
    group.bench_function(BenchmarkId::new("hit_parsed", ENTRIES), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    k = (k + 1) % QUERIES;
                    black_box(resolver.resolve(black_box(&parsed[k])).await.unwrap());
                }
                started.elapsed()
            })
        })
    });
    group.finish();

    // Throughput: `tasks` tasks on two workers share 16,384 resolves per iteration.
    let images = Arc::new(images);
    let mut group = c.benchmark_group("resolve_throughput");
    const PER_ITERATION: usize = 16_384;
    group.throughput(Throughput::Elements(PER_ITERATION as u64));
    for tasks in [1usize, 2, 64, 1024] {
        group.bench_function(BenchmarkId::new("tasks", tasks), |b| {
            b.to_async(&rt).iter(|| {
                let resolver = Arc::clone(&resolver);
                let images = Arc::clone(&images);
                async move {
                    let each = PER_ITERATION / tasks;
                    let handles: Vec<_> = (0..tasks)
                        .map(|t| {
                            let resolver = Arc::clone(&resolver);
                            let images = Arc::clone(&images);
                            tokio::spawn(async move {
                                for j in 0..each {
                                    let image = &images[(t * each + j) % QUERIES];
                                    black_box(resolver.resolve_str(image).await.unwrap());
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                }
            })
        });
    }
    group.finish();
}

/// Prints the heap allocations of `QUERIES` cache hits through each entry point. Reported, not
/// asserted: the trait's methods box their future.
fn report_allocations(
    rt: &tokio::runtime::Runtime,
    resolver: &DefaultResolver,
    images: &[String],
    parsed: &[ImageReference],
) {
    let unscoped = ResolveContext::unscoped();
    let counts = rt.block_on(async {
        let before = ALLOCATIONS.load(Relaxed);
        for image in images {
            black_box(resolver.resolve_str(image).await.unwrap());
        }
        let trait_str = ALLOCATIONS.load(Relaxed) - before;
        let before = ALLOCATIONS.load(Relaxed);
        for image in images {
            black_box(resolver.resolve_str_in(&unscoped, image).await.unwrap());
        }
        let inherent_str = ALLOCATIONS.load(Relaxed) - before;
        let before = ALLOCATIONS.load(Relaxed);
        for image in parsed {
            black_box(resolver.resolve(image).await.unwrap());
        }
        (trait_str, inherent_str, ALLOCATIONS.load(Relaxed) - before)
    });
    eprintln!(
        "allocations in {QUERIES} hits: resolve_str {}, resolve_str_in {}, resolve (parsed) {}",
        counts.0, counts.1, counts.2
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = hit_path
}
criterion_main!(benches);
