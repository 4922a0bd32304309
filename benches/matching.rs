//! Best-match lookup among N registry entries, side by side in one run:
//!
//! - `index`: [`PatternIndex`];
//! - `linear`: a plain scan of the `MatchPattern`s keeping the most specific match
//!   ([`pattern::best_match`], host labels by hand, paths by `wildmatch`), the oracle;
//! - `globset`: one `globset::GlobSet` over `HOST[:PORT]/PATH` globs, all matches of
//!   `DOMAIN/REPOSITORY`, then the most specific;
//! - `floor`: one `HashMap<String, usize>` lookup of the image's host string.
//!
//! N = 10 … 100,000 realistic entries (70% account ECR `host/*`, 20% narrowed `host/team/*`,
//! 5% wildcard hosts, 5% other registries with ports and paths), for images that hit an entry
//! and images that miss. Also the index build time, heap bytes per entry (a counting global
//! allocator) and a check that lookups allocate nothing.
//!
//! `cargo bench --bench matching`; `-- hit/index` and the like pick benchmarks by name,
//! `MATCHING_SIZES=10000` picks the sizes and `MATCHING_MISS_KIND` one kind of miss.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};
use registry_auth::index::PatternIndex;
use registry_auth::pattern::{self, MatchPattern, Specificity};
use registry_auth::reference::{ImageRef, ImageReference};

// ---------------------------------------------------------------------------------------------
// A global allocator that counts allocations and live heap bytes.

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// Realistic entries and images.

const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];
/// Images per query set; lookups cycle through them.
const QUERIES: usize = 1024;

const REGIONS: [&str; 24] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-east-1",
    "sa-east-1",
    "me-south-1",
    "af-south-1",
    "il-central-1",
];
const TEAMS: [&str; 12] = [
    "ml", "data", "platform", "web", "payments", "search", "infra", "mobile", "ads", "risk", "ops",
    "research",
];

/// xorshift64*: deterministic, so every run measures the same entries.
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

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn region(&mut self) -> &'static str {
        REGIONS[self.below(REGIONS.len())]
    }

    fn account(&mut self) -> u64 {
        100_000_000_000 + self.next() % 900_000_000_000
    }

    fn team(&mut self) -> String {
        format!("{}-{}", self.pick(&TEAMS), self.below(1000))
    }
}

fn ecr_host(account: u64, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// What a generated entry is, for making images that hit it.
enum Kind {
    Account { host: String },
    Team { host: String, team: String },
    WildAccount { region: String, team: String },
    WildRegion { account: u64 },
    Other { domain: String, path: String },
}

struct Corpus {
    patterns: Vec<String>,
    kinds: Vec<Kind>,
}

/// `n` distinct entries in the mix the module documentation gives.
fn corpus(n: usize, rng: &mut Rng) -> Corpus {
    let wild = (n / 20).max(1);
    let other = (n / 20).max(1);
    let team = n / 5;
    let account = n - wild - other - team;
    let mut seen = HashSet::new();
    let mut patterns = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut push = |pattern: String, kind: Kind| {
        if seen.insert(pattern.clone()) {
            patterns.push(pattern);
            kinds.push(kind);
            true
        } else {
            false
        }
    };
    let mut hosts = Vec::with_capacity(account);
    while hosts.len() < account {
        let host = ecr_host(rng.account(), rng.region());
        if push(format!("{host}/*"), Kind::Account { host: host.clone() }) {
            hosts.push(host);
        }
    }
    let mut made = 0;
    while made < team {
        let host = rng.pick(&hosts).clone();
        let t = rng.team();
        made += usize::from(push(format!("{host}/{t}/*"), Kind::Team { host, team: t }));
    }
    made = 0;
    while made < wild {
        made += usize::from(if rng.below(2) == 0 {
            let region = rng.region().to_owned();
            let t = rng.team();
            push(
                format!("*.dkr.ecr.{region}.amazonaws.com/{t}/*"),
                Kind::WildAccount { region, team: t },
            )
        } else {
            let account = rng.account();
            push(
                format!("{account}.dkr.ecr.*.amazonaws.com/*"),
                Kind::WildRegion { account },
            )
        });
    }
    made = 0;
    while made < other {
        let k = rng.below(1_000_000);
        let t = rng.team();
        let (domain, path) = match rng.below(3) {
            0 => (format!("registry-{k}.example.com:5000"), format!("{t}/*")),
            1 => (format!("harbor.corp-{k}.internal:8443"), format!("{t}/app")),
            _ => (format!("mirror-{k}.example.org"), format!("{t}/*")),
        };
        made += usize::from(push(
            format!("{domain}/{path}"),
            Kind::Other { domain, path },
        ));
    }
    Corpus { patterns, kinds }
}

/// Images that each hit some entry, in the corpus' proportions, as written.
fn hits(corpus: &Corpus, rng: &mut Rng) -> Vec<String> {
    (0..QUERIES)
        .map(|_| {
            let image = match rng.pick(&corpus.kinds) {
                Kind::Account { host } => {
                    format!("{host}/svc-{}:v{}", rng.below(100), rng.below(9))
                }
                Kind::Team { host, team } => format!("{host}/{team}/svc-{}:v1", rng.below(100)),
                Kind::WildAccount { region, team } => {
                    let host = ecr_host(rng.account(), region);
                    format!("{host}/{team}/train:2024-{}", rng.below(12))
                }
                Kind::WildRegion { account } => {
                    format!("{}/app:v2", ecr_host(*account, rng.region()))
                }
                Kind::Other { domain, path } => {
                    format!("{domain}/{}", path.replace('*', "tool"))
                }
            };
            image
        })
        .collect()
}

/// Images that hit no entry: Docker Hub and other public registries, accounts no entry names
/// (through the wildcard hosts' trie), known registries on another port.
///
/// `MATCHING_MISS_KIND=0..4` keeps one kind only (0 Docker Hub, 1 ghcr.io, 2 and 3 an unknown
/// ECR account, 4 a known registry on another port), to see what each costs.
fn misses(rng: &mut Rng) -> Vec<String> {
    let only: Option<usize> = std::env::var("MATCHING_MISS_KIND")
        .ok()
        .map(|k| k.parse().expect("MATCHING_MISS_KIND is 0 to 4"));
    (0..QUERIES)
        .map(|_| {
            let kind = only.unwrap_or_else(|| rng.below(5));
            let image = match kind {
                0 => format!("ubuntu:2{}.04", rng.below(5)),
                1 => format!("ghcr.io/org-{}/tool:1", rng.below(100)),
                2 | 3 => format!(
                    "{}/unknown-{}/app:v1",
                    ecr_host(rng.account(), rng.region()),
                    rng.below(100)
                ),
                _ => format!("registry-{}.example.com:5001/x/y", rng.below(1000)),
            };
            image
        })
        .collect()
}

fn parsed(images: &[String]) -> Vec<ImageReference> {
    images
        .iter()
        .map(|s| ImageReference::parse(s).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The baselines.

/// The floor: one hash lookup of the host string.
fn floor_map(patterns: &[MatchPattern]) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (i, p) in patterns.iter().enumerate() {
        if let Some(host) = p.literal_host() {
            map.entry(host.to_owned()).or_insert(i);
        }
    }
    map
}

/// A `GlobSet` of `HOST[:PORT]/PATH` globs, matched against `DOMAIN/REPOSITORY`; a literal
/// repository path is also a glob for everything below it. (Globset's `*` crosses `.`, so a
/// wildcard host label is looser than ours; no image here tells the two apart.)
struct Globs {
    set: GlobSet,
    /// Glob → (specificity, entry position).
    owner: Vec<(Specificity, usize)>,
}

impl Globs {
    fn new(patterns: &[MatchPattern]) -> Self {
        let mut builder = GlobSetBuilder::new();
        let mut owner = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let (domain, path) = p.as_str().split_once('/').unwrap_or((p.as_str(), "*"));
            let domain = domain.to_ascii_lowercase();
            let mut globs = vec![format!("{domain}/{path}")];
            if !path.contains(['*', '?', ':', '@']) {
                globs.push(format!("{domain}/{path}/*"));
            }
            for g in globs {
                let glob = GlobBuilder::new(&g)
                    .backslash_escape(false)
                    .build()
                    .unwrap();
                builder.add(glob);
                owner.push((p.specificity(), i));
            }
        }
        Self {
            set: builder.build().unwrap(),
            owner,
        }
    }

    fn best_match(&self, image: &ImageReference, scratch: &mut Vec<usize>) -> Option<usize> {
        self.set
            .matches_candidate_into(&Candidate::new(image.name()), scratch);
        let mut best: Option<(Specificity, usize)> = None;
        for &g in scratch.iter() {
            let (s, i) = self.owner[g];
            if best.is_none_or(|(bs, bi)| s > bs || (s == bs && i < bi)) {
                best = Some((s, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

// ---------------------------------------------------------------------------------------------

/// Linear scans and globset are skipped where one sample would take too long.
const LINEAR_MAX: usize = 100_000;
const GLOBSET_MAX: usize = 10_000;

struct Setup {
    strings: Vec<String>,
    parsed: Vec<MatchPattern>,
    index: PatternIndex,
    floor: HashMap<String, usize>,
    globs: Option<Globs>,
    hits: Vec<ImageReference>,
    misses: Vec<ImageReference>,
    /// The same images as written, for the whole path from a string.
    hit_strings: Vec<String>,
    miss_strings: Vec<String>,
}

fn setup(n: usize) -> Setup {
    let mut rng = Rng(0x5eed_0000 + n as u64);
    let corpus = corpus(n, &mut rng);
    let hit_strings = hits(&corpus, &mut rng);
    let miss_strings = misses(&mut rng);
    let (hits, misses) = (parsed(&hit_strings), parsed(&miss_strings));
    let strings = corpus.patterns;

    // Heap bytes: everything the index holds, its MatchPatterns included, minus the bytes of
    // the pattern strings themselves.
    let live = || LIVE_BYTES.load(Relaxed);
    let before = live();
    let started = Instant::now();
    let parsed: Vec<MatchPattern> = strings
        .iter()
        .map(|s| MatchPattern::parse(s).unwrap())
        .collect();
    let parsed_at = started.elapsed();
    let after_parse = live();
    let index = PatternIndex::new(parsed);
    let built_at = started.elapsed();
    let after_index = live();
    let text: usize = strings.iter().map(String::len).sum();
    let per = |bytes: isize| bytes as f64 / n as f64;
    println!(
        "memory N={n}: {:.0} heap B/entry in all, {:.0} of them pattern text: {:.0} B/entry \
         beyond the pattern strings ({:.0} in the MatchPatterns, {:.0} in the index structures); \
         parse {:.1} ms + build {:.1} ms",
        per(after_index - before),
        per(text as isize),
        per(after_index - before - text as isize),
        per(after_parse - before - text as isize),
        per(after_index - after_parse),
        parsed_at.as_secs_f64() * 1e3,
        (built_at - parsed_at).as_secs_f64() * 1e3,
    );
    let parsed = index.patterns().to_vec();

    let globs = (n <= GLOBSET_MAX).then(|| {
        let t = Instant::now();
        let g = Globs::new(&parsed);
        println!(
            "globset N={n}: built in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        g
    });
    let setup = Setup {
        floor: floor_map(&parsed),
        strings,
        parsed,
        index,
        globs,
        hits,
        misses,
        hit_strings,
        miss_strings,
    };
    check(&setup, n);
    setup
}

/// Every implementation agrees with the oracle, hits hit, misses miss, and index lookups
/// allocate nothing.
fn check(s: &Setup, n: usize) {
    let checked = if n >= 100_000 { 64 } else { QUERIES };
    let mut scratch = Vec::new();
    for (images, hit) in [(&s.hits, true), (&s.misses, false)] {
        for image in &images[..checked] {
            let oracle = pattern::best_match(&s.parsed, image);
            assert_eq!(oracle.is_some(), hit, "{image}");
            assert_eq!(s.index.best_match(image), oracle, "index, {image}");
            if let Some(globs) = &s.globs {
                assert_eq!(
                    globs.best_match(image, &mut scratch),
                    oracle,
                    "globset, {image}"
                );
            }
        }
    }
    let before = ALLOCATIONS.load(Relaxed);
    let mut found = 0usize;
    for image in s.hits.iter().chain(&s.misses) {
        found += usize::from(black_box(s.index.best_match(black_box(image))).is_some());
        found += usize::from(s.index.best_match_by(image, |i| i % 2 == 0).is_some());
    }
    let allocations = ALLOCATIONS.load(Relaxed) - before;
    println!(
        "allocations N={n}: {allocations} in {} index lookups ({found} found)",
        4 * QUERIES
    );
    assert_eq!(allocations, 0);

    // From the string, as a caller does it: the scratch buffer is lent once, so after the
    // first normalisation that needs it, nothing is allocated.
    let mut scratch = String::with_capacity(256);
    let before = ALLOCATIONS.load(Relaxed);
    let mut found = 0usize;
    for text in s.hit_strings.iter().chain(&s.miss_strings) {
        let image = ImageRef::parse(black_box(text), &mut scratch).unwrap();
        found += usize::from(s.index.best_match(image).is_some());
    }
    let allocations = ALLOCATIONS.load(Relaxed) - before;
    println!(
        "allocations N={n}: {allocations} in {} parses and lookups from strings ({found} found)",
        2 * QUERIES
    );
    assert_eq!(allocations, 0);
}

/// `SIZES`, or the comma-separated list in `MATCHING_SIZES` (for a quick run or a profile).
fn sizes() -> Vec<usize> {
    match std::env::var("MATCHING_SIZES") {
        Ok(list) => list.split(',').map(|n| n.trim().parse().unwrap()).collect(),
        Err(_) => SIZES.to_vec(),
    }
}

fn lookups(c: &mut Criterion) {
    for n in sizes() {
        let s = setup(n);
        for (name, images) in [("hit", &s.hits), ("miss", &s.misses)] {
            let mut group = c.benchmark_group(name);
            let mut k = 0usize;
            let mut next = move || {
                k = (k + 1) % QUERIES;
                &images[k]
            };
            group.bench_function(BenchmarkId::new("index", n), |b| {
                b.iter(|| s.index.best_match(black_box(next())))
            });
            group.bench_function(BenchmarkId::new("floor", n), |b| {
                b.iter(|| s.floor.get(black_box(next()).host()).copied())
            });
            // The whole path from the image as written: parse (validating the grammar) into a
            // lent buffer, then the index. What a caller with a string pays.
            let strings = if name == "hit" {
                &s.hit_strings
            } else {
                &s.miss_strings
            };
            let mut k = 0usize;
            let mut scratch = String::with_capacity(256);
            group.bench_function(BenchmarkId::new("string_to_entry", n), |b| {
                b.iter(|| {
                    k = (k + 1) % QUERIES;
                    let image = ImageRef::parse(black_box(&strings[k]), &mut scratch).unwrap();
                    s.index.best_match(image)
                })
            });
            if let Some(globs) = &s.globs {
                let mut scratch = Vec::new();
                group.bench_function(BenchmarkId::new("globset", n), |b| {
                    b.iter(|| globs.best_match(black_box(next()), &mut scratch))
                });
            }
            if n <= LINEAR_MAX {
                group.bench_function(BenchmarkId::new("linear", n), |b| {
                    b.iter(|| pattern::best_match(&s.parsed, black_box(next())))
                });
            }
            group.finish();
        }

        let mut group = c.benchmark_group("build");
        group.bench_function(BenchmarkId::new("index", n), |b| {
            b.iter_batched(
                || s.parsed.clone(),
                PatternIndex::new,
                BatchSize::LargeInput,
            )
        });
        group.bench_function(BenchmarkId::new("parse_and_index", n), |b| {
            b.iter(|| PatternIndex::new(s.strings.iter().map(|p| MatchPattern::parse(p).unwrap())))
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = lookups
}
criterion_main!(benches);
