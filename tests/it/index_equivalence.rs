//! `PatternIndex` returns exactly what a plain scan of the patterns returns (`pattern::best_match`,
//! the oracle), for random pattern lists and references drawn from a small alphabet so that
//! shared hosts, ties, wildcard hosts, ports, versioned paths, literal prefixes and misses all
//! come up often; and a lookup allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::cmp::Reverse;

use proptest::prelude::*;
use proptest::sample::select;
use registry_auth::index::PatternIndex;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::reference::ImageReference;

const DIGEST_1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A few labels, upper case among them (hosts compare ASCII-case-insensitively).
fn literal_label() -> impl Strategy<Value = String> {
    select(&["a", "b", "A", "B"][..]).prop_map(str::to_owned)
}

fn wildcard_label() -> impl Strategy<Value = String> {
    select(&["*", "a*", "*b", "a*b", "*a*", "*B"][..]).prop_map(str::to_owned)
}

fn host_label() -> impl Strategy<Value = String> {
    prop_oneof![literal_label(), wildcard_label()]
}

fn port() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![8 => Just(None), 3 => Just(Some(5000)), 1 => Just(Some(80))]
}

/// One host most of the time, so that hosts are shared and large groups (the sorted-prefix
/// path of the index) are common.
fn hot_host() -> impl Strategy<Value = String> {
    select(&["a.b", "A.b", "a.B"][..]).prop_map(str::to_owned)
}

fn pattern_host() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => hot_host(),
        // Wildcard hosts that match the hot host, several with equal host specificity.
        4 => select(&["*.b", "a.*", "*.B", "A.*", "*.*", "a*.b", "*a.b", "a.b*"][..])
            .prop_map(str::to_owned),
        1 => Just("docker.io".to_owned()),
        2 => prop::collection::vec(literal_label(), 1..=3).prop_map(|l| l.join(".")),
        // Mostly two labels, like the hot host, so that wildcard hosts match often.
        4 => prop::collection::vec(host_label(), 2..=2).prop_map(|l| l.join(".")),
        2 => prop::collection::vec(host_label(), 1..=3).prop_map(|l| l.join(".")),
    ]
}

fn pattern_path() -> impl Strategy<Value = Option<String>> {
    let segment = select(&["x", "y", "x-y", "*", "x*", "?", "*y", "x?", "library"][..]);
    let version = prop_oneof![
        6 => Just(String::new()),
        1 => Just(":v1".to_owned()),
        1 => Just(":latest".to_owned()),
        1 => Just(":*".to_owned()),
        1 => Just(":v?".to_owned()),
        1 => Just("@*".to_owned()),
        1 => Just(format!("@{DIGEST_1}")),
        1 => Just(format!(":v1@{DIGEST_1}")),
        1 => Just(":v1@sha256:*".to_owned()),
    ];
    prop_oneof![
        2 => Just(None),
        1 => Just(Some("*".to_owned())),
        8 => (prop::collection::vec(segment, 1..=3), version)
            .prop_map(|(s, v)| Some(format!("{}{v}", s.join("/")))),
    ]
}

fn pattern() -> impl Strategy<Value = MatchPattern> {
    (pattern_host(), port(), pattern_path()).prop_filter_map(
        "the alphabet only makes valid patterns",
        |(host, port, path)| {
            let mut s = host;
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            if let Some(p) = path {
                s.push('/');
                s.push_str(&p);
            }
            MatchPattern::parse(&s).ok()
        },
    )
}

fn reference() -> impl Strategy<Value = ImageReference> {
    let host = prop_oneof![
        3 => hot_host(),
        2 => prop::collection::vec(literal_label(), 2..=2).prop_map(|l| l.join(".")),
        1 => prop::collection::vec(literal_label(), 1..=3).prop_map(|l| l.join(".")),
    ];
    let repo = prop::collection::vec(select(&["x", "y", "x-y", "library"][..]), 1..=3)
        .prop_map(|s| s.join("/"));
    let tag = select(&["", ":v1", ":v2", ":latest"][..]);
    let digest = select(&["", "", DIGEST_1, DIGEST_2][..]);
    (host, port(), repo, tag, digest).prop_filter_map(
        "the alphabet only makes valid references",
        |(host, port, repo, tag, digest)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let digest = if digest.is_empty() {
                String::new()
            } else {
                format!("@{digest}")
            };
            // A one-label host without a port is a Docker Hub path component, as in docker.
            ImageReference::parse(&format!("{host}{port}/{repo}{tag}{digest}")).ok()
        },
    )
}

/// The matching positions, best first: what `accept` must see, in this order.
fn ranked(list: &[MatchPattern], image: &ImageReference) -> Vec<usize> {
    let mut matching: Vec<usize> = (0..list.len())
        .filter(|&i| list[i].matches(image))
        .collect();
    matching.sort_by_key(|&i| Reverse((list[i].specificity(), Reverse(i))));
    matching
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn index_agrees_with_the_plain_scan(
        list in prop::collection::vec(pattern(), 0..=32),
        images in prop::collection::vec((reference(), any::<u64>()), 1..=8),
    ) {
        let index = PatternIndex::new(list.clone());
        prop_assert_eq!(index.len(), list.len());
        for (image, accepted) in &images {
            let oracle = pattern::best_match(&list, image);
            prop_assert_eq!(index.best_match(image), oracle, "image {}", image);

            // best_match_by == the oracle over only the accepted patterns, and `accept` sees
            // exactly the matches ranked above the winner, best first, then the winner.
            let accept = |i: usize| accepted >> (i % 64) & 1 == 1;
            let kept: Vec<usize> = (0..list.len()).filter(|&i| accept(i)).collect();
            let restricted = pattern::best_match(kept.iter().map(|&i| &list[i]), image)
                .map(|k| kept[k]);
            let mut seen = Vec::new();
            let got = index.best_match_by(image, |i| {
                seen.push(i);
                accept(i)
            });
            prop_assert_eq!(got, restricted, "image {} accepted {:#x}", image, accepted);
            let ranked = ranked(&list, image);
            let expected_seen = match ranked.iter().position(|&i| accept(i)) {
                Some(k) => &ranked[..=k],
                None => &ranked[..],
            };
            prop_assert_eq!(&seen[..], expected_seen, "image {}", image);
        }
    }
}

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
