//! Unit tests of the index's internals; the equivalence with the plain scan is tested from
//! outside.

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

#[test]
fn long_hosts_and_refused_pathless_entries() {
    // A host of 255 bytes or more is stored after a five-byte length.
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
