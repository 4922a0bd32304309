//! Unit tests of the index: its internals, and the property that it answers exactly as the
//! plain scan (`pattern::best_match`, the oracle) does.

use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::pattern;
use crate::reference::ImageReference;

fn index(patterns: &[&str]) -> (PatternIndex, Vec<MatchPattern>) {
    let list: Vec<MatchPattern> = patterns
        .iter()
        .map(|p| MatchPattern::parse(p).unwrap())
        .collect();
    (PatternIndex::new(list.clone()), list)
}

fn image(s: &str) -> ImageReference {
    ImageReference::parse(s).unwrap()
}

#[test]
fn word_case_folding_is_ascii_lowercasing() {
    for b in 0..=255u8 {
        for lane in 0..8 {
            let w = (u64::from(b) << (8 * lane)) | (0x4142_5a5b_6061_7a40 & !(0xff << (8 * lane)));
            let mut bytes = w.to_le_bytes();
            bytes.make_ascii_lowercase();
            assert_eq!(
                fold_case(w),
                u64::from_le_bytes(bytes),
                "{b:#x} in lane {lane}"
            );
        }
    }
}

#[test]
fn hashing_and_equality_ignore_ascii_case_only() {
    let hasher = CaseFoldHasher::new();
    let hosts = [
        "a",
        "ab.io",
        "registry.example.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "k.example.com",
    ];
    for host in hosts {
        for len in 0..=host.len() {
            let lower = &host[..len];
            let upper = lower.to_ascii_uppercase();
            assert!(eq_folded(lower.as_bytes(), upper.as_bytes()));
            assert_eq!(
                hasher.hash(lower.as_bytes(), 7),
                hasher.hash(upper.as_bytes(), 7)
            );
            // A host known to be lowercase hashes, unfolded, to the same value.
            assert_eq!(
                hasher.hash_lowercase(lower.as_bytes(), 7),
                hasher.hash(upper.as_bytes(), 7)
            );
            assert_ne!(
                hasher.hash(lower.as_bytes(), 7),
                hasher.hash(lower.as_bytes(), 8)
            );
            for i in 0..len {
                let mut other = upper.clone().into_bytes();
                other[i] ^= 0x01;
                assert_eq!(
                    eq_folded(lower.as_bytes(), &other),
                    lower.as_bytes().eq_ignore_ascii_case(&other)
                );
            }
        }
    }
    // The Kelvin sign is not `k`: ASCII folding only.
    assert!(!eq_folded(
        b"k.example.com",
        "\u{212a}.example.com".as_bytes()
    ));
}

#[test]
fn literal_host_is_case_insensitive_and_port_exact() {
    let (index, _) = index(&["Registry.Example.com/*", "registry.example.com:5000/*"]);
    assert_eq!(index.best_match(&image("REGISTRY.example.COM/a")), Some(0));
    assert_eq!(
        index.best_match(&image("registry.example.com:5000/a")),
        Some(1)
    );
    assert_eq!(
        index.best_match(&image("registry.example.com:5001/a")),
        None
    );
}

/// Hashers with fixed keys (digits of pi and e), and one with random keys as the index has.
fn hashers() -> [CaseFoldHasher; 3] {
    [
        CaseFoldHasher::with_keys([0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344]),
        CaseFoldHasher::with_keys([0xb7e1_5162_8aed_2a6a, 0xbf71_5880_9cf4_f3c7]),
        CaseFoldHasher::new(),
    ]
}

#[test]
fn every_bit_of_every_byte_and_the_length_reach_the_hashes() {
    // Digits and separators: no byte here, or with one bit flipped, is an uppercase letter, so
    // case folding leaves every input as it is.
    let base: Vec<u8> = (0..64).map(|i| b"0123456789.-"[i % 12]).collect();
    for hasher in hashers() {
        for len in 0..=base.len() {
            let bytes = &base[..len];
            let (whole, label) = (hasher.hash(bytes, 7), hasher.label_hash(bytes));
            for at in 0..len {
                for bit in 0..8 {
                    let mut flipped = bytes.to_vec();
                    flipped[at] ^= 1 << bit;
                    assert_ne!(
                        hasher.hash(&flipped, 7),
                        whole,
                        "{len} bytes, byte {at} bit {bit}"
                    );
                    assert_ne!(
                        hasher.label_hash(&flipped),
                        label,
                        "{len} bytes, byte {at} bit {bit}"
                    );
                }
            }
        }
        // One byte repeated reads the same words at every length past eight: only the length
        // tells them apart.
        let mut seen = std::collections::HashSet::new();
        for len in 0..=64 {
            let bytes = vec![b'7'; len];
            assert!(seen.insert(hasher.hash(&bytes, 7)), "hash of {len} bytes");
            assert!(
                seen.insert(hasher.label_hash(&bytes)),
                "label hash of {len} bytes"
            );
        }
        // The extra word (a port) reaches the hash, every value of it.
        let mut seen = std::collections::HashSet::new();
        for port in (0..=1024)
            .map(|p| port_code(Some(p)))
            .chain([port_code(None)])
        {
            assert!(
                seen.insert(hasher.hash(b"ghcr.io", port)),
                "port code {port}"
            );
        }
    }
}

#[test]
fn shape_keys_differ_by_shape_and_by_each_kept_label() {
    for hasher in hashers() {
        let shape = Shape {
            labels: 3,
            wild: 0b010,
        };
        let labels = [11u64, 22, 33];
        let key =
            |s: u32, shape: Shape, labels: [u64; 3]| hasher.shape_key(s, shape, |i| labels[i]);
        let base = key(0, shape, labels);
        assert_ne!(key(1, shape, labels), base, "shape number");
        assert_ne!(key(0, shape, [12, 22, 33]), base, "first label");
        assert_ne!(key(0, shape, [11, 22, 34]), base, "last label");
        // Only the labels the shape keeps count.
        assert_eq!(key(0, shape, [11, 99, 33]), base, "a wildcard label");
        // Each kept label is weighted by its place: swapping two of them is another key.
        let all = Shape { labels: 3, wild: 0 };
        assert_ne!(
            key(0, all, [11, 22, 33]),
            key(0, all, [22, 11, 33]),
            "places"
        );
    }
}

#[test]
fn long_hosts_and_refused_pathless_entries() {
    // A host of 255 bytes or more is stored after a five-byte length; one of 254, after one
    // byte.
    let of_length = |n: usize| {
        let mut host = String::new();
        while host.len() + 61 < n {
            host.push_str(&"h".repeat(60));
            host.push('.');
        }
        host.push_str(&"t".repeat(n - host.len()));
        assert_eq!(host.len(), n);
        host
    };
    let hosts: Vec<String> = [254, 255, 256].map(of_length).into();
    let patterns: Vec<String> = hosts.iter().map(|h| format!("{h}/*")).collect();
    let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let (by_length, _) = index(&refs);
    for (i, host) in hosts.iter().enumerate() {
        let r = image(&format!("{}/a", host.to_ascii_uppercase()));
        assert_eq!(
            by_length.best_match(&r),
            Some(i),
            "a host of {} bytes",
            host.len()
        );
    }

    let long = [
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(60),
        "e".repeat(60),
    ]
    .join(".");
    let (index, list) = index(&[&format!("{long}/*"), &format!("{long}:5000/x"), "*.io/*"]);
    for reference in [
        format!("{}/a", long.to_ascii_uppercase()),
        format!("{long}:5000/x/y"),
        format!("{long}:5001/x"),
    ] {
        let r = image(&reference);
        assert_eq!(index.best_match(&r), pattern::best_match(&list, &r));
        assert!(index.best_match(&r).is_some() != reference.ends_with(":5001/x"));
    }
    // Refusing a pathless entry falls through to the wildcard hosts.
    let (short, _) = self::index(&["ghcr.io", "*.io"]);
    let r = image("ghcr.io/org/tool");
    assert_eq!(short.best_match(&r), Some(0));
    assert_eq!(short.best_match_by(&r, |i| i != 0), Some(1));
    assert_eq!(short.best_match_by(&r, |_| false), None);
}

#[test]
fn literal_host_beats_wildcard_and_longer_path_beats_shorter() {
    let (index, list) = index(&[
        "*.dkr.ecr.*.amazonaws.com",
        "*.dkr.ecr.us-east-1.amazonaws.com/team/*",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team",
    ]);
    for (reference, want) in [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
            Some(3),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/teammate",
            Some(2),
        ),
        (
            "999999999999.dkr.ecr.us-east-1.amazonaws.com/team/app",
            Some(1),
        ),
        (
            "999999999999.dkr.ecr.eu-west-1.amazonaws.com/team/app",
            Some(0),
        ),
        (
            "evil.example/999999999999.dkr.ecr.eu-west-1.amazonaws.com",
            None,
        ),
    ] {
        let r = image(reference);
        assert_eq!(index.best_match(&r), want, "{reference}");
        assert_eq!(pattern::best_match(&list, &r), want, "{reference}");
    }
}

#[test]
fn accept_sees_matches_best_first_and_stops() {
    let (index, list) = index(&[
        "*.example.com",
        "a.*.com/x/*",
        "a.example.com",
        "*.example.com/x/y",
        "a.example.com/x",
    ]);
    let r = image("a.example.com/x/y/z");
    let mut seen = Vec::new();
    assert_eq!(
        index.best_match_by(&r, |i| {
            seen.push(i);
            false
        }),
        None
    );
    let mut ranked: Vec<usize> = (0..list.len()).filter(|&i| list[i].matches(&r)).collect();
    ranked.sort_by_key(|&i| Reverse((list[i].specificity(), Reverse(i))));
    assert_eq!(seen, ranked);

    seen.clear();
    let second = ranked[1];
    let got = index.best_match_by(&r, |i| {
        seen.push(i);
        i == second
    });
    assert_eq!(got, Some(second));
    assert_eq!(seen, &ranked[..2]);
}

#[test]
fn equally_specific_wildcard_hosts_compare_paths() {
    // `*.b` and `a.*` tie on the host, so the path decides across the two groups. In the
    // `a.*` group `x/*` sorts before `y/*y` and ranks below the `*.b` match: only a
    // pattern whose prefix fits the image may end the group's search early.
    let (index, list) = index(&["*.b/y/*", "a.*/x/*", "a.*/y/*y"]);
    let r = image("a.b/y/y");
    assert_eq!(pattern::best_match(&list, &r), Some(2));
    assert_eq!(index.best_match(&r), Some(2));
    assert_eq!(index.best_match_by(&r, |i| i != 2), Some(0));
}

#[test]
fn large_groups_find_every_prefix() {
    let mut patterns = vec!["h.io/*".to_owned(), "h.io/a".to_owned()];
    for p in [
        "a/b", "a/b/c", "a/b*", "a/?", "a-b/*", "a/b/c:v1", "a/b/c:*", "a/b/c@*",
    ] {
        patterns.push(format!("h.io/{p}"));
    }
    for k in 0..20 {
        patterns.push(format!("h.io/z{k}/*"));
    }
    let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let (index, list) = index(&refs);
    for reference in [
        "h.io/a/b/c:v1",
        "h.io/a/b/c:v2",
        "h.io/a/b/d",
        "h.io/a/bc",
        "h.io/a/x",
        "h.io/a-b/x",
        "h.io/z1/x",
        "h.io/z11",
        "h.io/q",
    ] {
        let r = image(reference);
        assert_eq!(
            index.best_match(&r),
            pattern::best_match(&list, &r),
            "{reference}"
        );
    }
}

#[test]
fn the_accessors_give_the_patterns_in_position_order() {
    let (index, list) = index(&["*.io/*", "ghcr.io/org/*", "ghcr.io/org/*"]);
    assert_eq!(index.len(), 3);
    assert!(!index.is_empty());
    assert_eq!(index.patterns(), &list[..]);
    assert_eq!(index.pattern(1), Some(&list[1]));
    assert_eq!(index.pattern(3), None);
    let empty = PatternIndex::default();
    assert_eq!((empty.len(), empty.is_empty()), (0, true));
    assert_eq!(empty.best_match(&image("ghcr.io/org/tool")), None);
}

#[test]
fn debug_counts_patterns_literal_hosts_and_wildcard_hosts_and_shapes() {
    let long_wild = format!("{}*", "a.".repeat(MAX_SHAPE_LABELS));
    let (index, _) = index(&[
        "ghcr.io/*",
        "ghcr.io/org/*",
        "quay.io:5000/*",
        "*.io/*",
        "*.dev/*",
        "a.*.com/*",
        &long_wild,
    ]);
    assert_eq!(
        format!("{index:?}"),
        "PatternIndex { patterns: 7, literal_hosts: 2, wildcard_hosts: 4, wildcard_shapes: 2 }"
    );
}

const DIGEST_1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A few labels, upper case among them (hosts compare ASCII-case-insensitively), and a longer
/// one so that runs of literal labels are compared over more than a word.
fn literal_label() -> impl Strategy<Value = String> {
    select(&["a", "b", "A", "B", "a", "b", "registry-1", "Registry-1"][..]).prop_map(str::to_owned)
}

fn wildcard_label() -> impl Strategy<Value = String> {
    select(&["*", "a*", "*b", "a*b", "*a*", "*B", "reg*-1", "*-*"][..]).prop_map(str::to_owned)
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

/// More labels than a wildcard shape may have (those hosts are tried one by one), or exactly
/// as many.
fn many_labels(labels: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(labels, MAX_SHAPE_LABELS..=MAX_SHAPE_LABELS + 1).prop_map(|l| l.join("."))
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
        3 => prop::collection::vec(host_label(), 1..=4).prop_map(|l| l.join(".")),
        1 => many_labels(select(&["a", "a", "A", "*", "a*"][..]).prop_map(str::to_owned)),
    ]
}

fn pattern_path() -> impl Strategy<Value = Option<String>> {
    let segment = select(
        &[
            "x",
            "y",
            "x-y",
            "*",
            "x*",
            "?",
            "*y",
            "x?",
            "library",
            "library-y",
        ][..],
    );
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

fn pattern_strategy() -> impl Strategy<Value = MatchPattern> {
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

fn reference_strategy() -> impl Strategy<Value = ImageReference> {
    let host = prop_oneof![
        3 => hot_host(),
        2 => prop::collection::vec(literal_label(), 2..=2).prop_map(|l| l.join(".")),
        2 => prop::collection::vec(literal_label(), 1..=4).prop_map(|l| l.join(".")),
        1 => many_labels(select(&["a", "A", "a"][..]).prop_map(str::to_owned)),
    ];
    let repo = prop::collection::vec(
        select(&["x", "y", "x-y", "library", "library-y"][..]),
        1..=3,
    )
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

/// 10,000 cases a run, or `PROPTEST_CASES` when it is set (the mutation runner's quick stage
/// sets fewer).
fn cases() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 10_000;
    }
    config
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn index_agrees_with_the_plain_scan(
        list in prop::collection::vec(pattern_strategy(), 0..=32),
        images in prop::collection::vec((reference_strategy(), any::<u64>()), 1..=8),
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

/// The wildcard host filed by shape whose (lowercase) text is `host`.
fn wild_host<'a>(index: &'a PatternIndex, host: &str) -> &'a WildHost {
    index
        .wild
        .hosts
        .iter()
        .find(|w| &index.text[w.host.range()] == host.as_bytes())
        .expect("a wildcard host filed by shape")
}

/// The literal labels of a wildcard host are confirmed byte for byte (up to ASCII case) after
/// the hash lookup, so that two hosts whose keys collide are still told apart.
#[test]
fn literal_labels_are_confirmed_run_by_run_not_trusted_to_the_hash() {
    let (index, _) = index(&["a.*.registry-1.example.com", "*.b.*.d"]);
    let confirm = |pattern_host: &str, host: &str| {
        let wild = wild_host(&index, pattern_host);
        let shape = *index
            .wild
            .shapes
            .iter()
            .find(|s| s.labels as usize == pattern_host.split('.').count())
            .expect("its shape");
        let mut labels = HostLabels::default();
        assert!(index.host_labels(host.as_bytes(), &mut labels), "{host}");
        let text = &index.text[wild.host.range()];
        literal_labels_equal(text, wild, shape, host.as_bytes(), &labels)
    };
    let first = "a.*.registry-1.example.com";
    assert!(confirm(first, "a.x.registry-1.example.com"));
    assert!(confirm(first, "A.anything.Registry-1.EXAMPLE.com"));
    // A difference in the first run, in the last run, and in a label's length.
    assert!(!confirm(first, "b.x.registry-1.example.com"));
    assert!(!confirm(first, "a.x.registry-1.example.org"));
    assert!(!confirm(first, "a.x.registry-2.example.com"));
    assert!(!confirm(first, "a.x.registry.example1.com"));
    let second = "*.b.*.d";
    assert!(confirm(second, "x.B.y.d"));
    assert!(!confirm(second, "x.c.y.d"));
    assert!(!confirm(second, "x.b.y.e"));
}

#[test]
fn hash_bits_are_balanced_over_many_hosts() {
    // Each output bit of a good 64-bit hash is set for about half of many distinct inputs: a
    // fold that ORs or ANDs the product's halves instead of XORing them sets three quarters or
    // a quarter. 4,096 inputs: 40% and 60% are each more than twelve standard deviations out.
    for hasher in hashers() {
        let hosts: Vec<String> = (0..4096)
            .map(|k| format!("{k:012}.dkr.ecr.us-east-1.amazonaws.com"))
            .collect();
        let labels: Vec<String> = (0..4096).map(|k| format!("l{k}")).collect();
        for (what, hashes) in [
            (
                "hash",
                hosts
                    .iter()
                    .map(|h| hasher.hash(h.as_bytes(), 0))
                    .collect::<Vec<_>>(),
            ),
            (
                "label_hash",
                labels
                    .iter()
                    .map(|l| hasher.label_hash(l.as_bytes()))
                    .collect(),
            ),
        ] {
            for bit in 0..64 {
                let set = hashes.iter().filter(|&&h| h >> bit & 1 == 1).count();
                assert!(
                    (1638..=2458).contains(&set),
                    "{what}: bit {bit} set in {set} of 4096"
                );
            }
        }
    }
}

#[test]
fn the_small_helpers_keep_their_contracts() {
    // A span is empty exactly when it starts where it ends.
    assert!(Span { start: 3, end: 3 }.is_empty());
    assert!(!Span { start: 3, end: 4 }.is_empty());
    // The first eight bytes, big-endian, zero-padded.
    assert_eq!(head_word(b""), 0);
    assert_eq!(head_word(b"abc"), 0x6162_6300_0000_0000);
    assert_eq!(head_word(b"abcdefghij"), u64::from_be_bytes(*b"abcdefgh"));
    // A literal prefix's head passes the scan's test on a path exactly when the prefix's first
    // eight bytes (all of it, when shorter) start the path.
    assert_eq!(head_mask(prefix_head(b"ab")), 0xffff);
    assert_eq!(head_mask(prefix_head(b"abcdefghij")), u64::MAX);
    for (prefix, path, passes) in [
        ("", "x", true),
        ("team/", "team/app:v1", true),
        ("team/", "team", false),
        ("team-12/", "team-13/app", false),
        ("svc", "team/svc", false),
        ("abcdefghij", "abcdefghXY", true),
        ("abcdefghij", "abcdefgXij", false),
    ] {
        let head = prefix_head(prefix.as_bytes());
        let passed = prefix_head(path.as_bytes()) & head_mask(head) == head;
        assert_eq!(passed, passes, "{prefix:?} on {path:?}");
    }
    // The path characters before the first wildcard.
    let prefix = |p: &str| literal_prefix(&MatchPattern::parse(p).unwrap()).to_vec();
    assert_eq!(prefix("h.io/team/app*:v1"), b"team/app");
    assert_eq!(prefix("h.io/team/app"), b"team/app");
    assert_eq!(prefix("h.io/*"), b"");
    assert_eq!(prefix("h.io"), b"");
    // Every `.` and nothing else, whatever the other bytes (non-ASCII ones included), in the
    // eight-byte chunks and in the tail.
    for other in (0..=255u8).filter(|&b| b != b'.') {
        for len in [7, 8, 9, 16, 19] {
            for dot in 0..len {
                let mut bytes = vec![other; len];
                bytes[dot] = b'.';
                let mut found = Vec::new();
                let _ = for_each_dot(&bytes, |at| {
                    found.push(at);
                    Continue(())
                });
                assert_eq!(found, [dot], "{other:#x}, {len} bytes, a dot at {dot}");
            }
        }
    }
}

#[test]
fn the_index_files_each_pattern_in_the_structure_its_design_names() {
    // Groups of more than SCAN_MAX patterns get a sorted prefix table; smaller ones are scanned.
    let group = |n: usize, host: &str| -> Vec<String> {
        (0..n).map(|k| format!("{host}/team-{k}/*")).collect()
    };
    let mut patterns = group(SCAN_MAX, "small.io");
    patterns.extend(group(SCAN_MAX + 1, "large.io"));
    let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let (built, _) = index(&refs);
    let runs_of = |host: &str| {
        let g = built
            .literal_group(host, None, true)
            .expect("a literal group");
        g.runs != NO_RUNS
    };
    assert!(!runs_of("small.io"));
    assert!(runs_of("large.io"));

    // A literal host is stored after its length: one byte below 255, else 255 and four bytes.
    for (n, stored) in [(254usize, 254u8), (255, u8::MAX)] {
        let host = format!("{}.{}", "a".repeat(60), "b".repeat(n - 61));
        let (built, _) = index(&[&host]);
        let slot = built.literal.iter().next().expect("one literal host");
        assert_eq!(
            built.text[slot.host as usize], stored,
            "a host of {n} bytes"
        );
        assert_eq!(literal_host(&built.text, slot.host), host.as_bytes());
    }

    // Wildcard hosts of up to MAX_SHAPE_LABELS labels are filed by shape; longer ones are
    // tried one by one. Only a label that is more than a lone `*` needs matching.
    let of_labels = |n: usize| format!("*{}", ".a".repeat(n - 1));
    let (built, _) = index(&[
        &of_labels(MAX_SHAPE_LABELS),
        &of_labels(MAX_SHAPE_LABELS + 1),
        "a*.io",
    ]);
    assert_eq!(built.wild.long.len(), 1);
    assert_eq!(
        built.text[built.wild.long[0].host.range()]
            .split(|&b| b == b'.')
            .count(),
        MAX_SHAPE_LABELS + 1
    );
    let partial = |host: &str| wild_host(&built, host).partial;
    assert!(!partial(&of_labels(MAX_SHAPE_LABELS)));
    assert!(partial("a*.io"));

    // An image host is cut into labels only when some shape has as many.
    let mut labels = HostLabels::default();
    assert!(built.host_labels(b"x.io", &mut labels));
    assert_eq!(labels.count, 2);
    assert!(!built.host_labels(b"x.y.io", &mut labels));
}
