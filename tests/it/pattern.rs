//! Match patterns: table tests for matching, best-match ordering (with `explain`'s reasons) and
//! invalid patterns. The rules under test are the README's pattern rules and the "Match
//! patterns" section of docs/design.md.

use registry_auth::pattern::{self, MatchPattern, PatternErrorKind};
use registry_auth::reference::ImageReference;

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn sha256() -> String {
    format!("sha256:{}", "0123456789abcdef".repeat(4))
}

fn pattern(p: &str) -> MatchPattern {
    MatchPattern::parse(p).unwrap_or_else(|e| panic!("pattern {p:?} should parse: {e}"))
}

fn image(i: &str) -> ImageReference {
    ImageReference::parse(i).unwrap_or_else(|e| panic!("image {i:?} should parse: {e}"))
}

/// One row of the match table: the pattern, the image as written, whether it matches.
struct Match {
    pattern: String,
    image: String,
    matches: bool,
}

fn m(pattern: impl Into<String>, image: impl Into<String>, matches: bool) -> Match {
    Match {
        pattern: pattern.into(),
        image: image.into(),
        matches,
    }
}

#[test]
fn patterns_match_and_do_not_match() {
    let d = sha256();
    #[rustfmt::skip]
    let cases = [
        // Host: `*` within one label, equal label counts.
        m("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x", true),
        m("*.dkr.ecr.*.amazonaws.com/*", format!("{ECR}/team/app:v1"), true),
        m("*.dkr.ecr.*.amazonaws.com", "evil.example/123456789012.dkr.ecr.eu-west-1.amazonaws.com", false),
        m("*.dkr.ecr.*.amazonaws.com", "a.b.dkr.ecr.eu-west-1.amazonaws.com/x", false),
        m("*.dkr.ecr.*.amazonaws.com", "dkr.ecr.eu-west-1.amazonaws.com/x", false),
        m("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example/x", false),
        m("*.example.com", "a.example.com/x", true),
        m("*.example.com", "example.com/x", false),
        m("*.example.com", "a.b.example.com/x", false),
        m("*.example.com", "a.example.org/x", false),
        m("reg-*.example.com", "reg-eu.example.com/x", true),
        m("reg-*.example.com", "reg.example.com/x", false),
        m("*-prod.example.com", "eu-prod.example.com/x", true),
        m("*-prod.example.com", "eu-prod-x.example.com/x", false),
        m("a*b.example.com", "ab.example.com/x", true),
        m("a*b.example.com", "axxb.example.com/x", true),
        m("a*b.example.com", "axxc.example.com/x", false),
        m("a*b*c.example.com", "abxbc.example.com/x", true),
        m("*.*.com", "a.b.com/x", true),
        m("*.*.com", "a.b.c.com/x", false),
        m("*", "localhost/x", true),
        m("*", "ubuntu", false), // docker.io has two labels
        m("*.io", "ubuntu", true),
        // Host: ASCII case-insensitive, on either side.
        m("Example.COM/team", "example.com/team", true),
        m("example.com/team", "EXAMPLE.com/team", true),
        m("*.EXAMPLE.com", "Reg.example.COM/x", true),
        m(ECR, format!("{}/x", ECR.to_ascii_uppercase()), true),
        m("*.dkr.ecr.*.amazonaws.com", format!("{}/x", ECR.to_ascii_uppercase()), true),
        m("example.com", "example.org/x", false),
        m("example.com", "www.example.com/x", false),
        // Ports: equal, and no port only without one.
        m("localhost:5000/*", "localhost:5000/x", true),
        m("localhost:5000", "localhost:5000/team/x:v1", true),
        m("localhost:5000", "localhost/x", false),
        m("localhost", "localhost:5000/x", false),
        m("localhost:5000", "localhost:5001/x", false),
        m("*:5000", "registry:5000/x", true),
        m("*:5000", "registry:443/x", false),
        m(ECR, format!("{ECR}:443/x"), false),
        m("[::1]:5000/x", "[::1]:5000/x", true),
        m("[::1]/x", "[::1]:5000/x", false),
        m("[2001:DB8::1]/x", "[2001:db8::1]/x:v1", true),
        // Path absent or `*`: every image on the host.
        m(ECR, format!("{ECR}/x"), true),
        m(ECR, format!("{ECR}/a/b/c:v1@{d}"), true),
        m(format!("{ECR}/*"), format!("{ECR}/a/b/c:v1"), true),
        m(format!("{ECR}/*"), format!("{ECR}/x@{d}"), true),
        // Normalisation: matched against docker.io/library/….
        m("docker.io/library/ubuntu", "ubuntu", true),
        m("docker.io/library/*", "ubuntu:22.04", true),
        m("docker.io/*", "index.docker.io/team/x", true),
        // Globs over the repository: `*` crosses `/`, `?` is one character.
        m(format!("{ECR}/my-repo/*"), format!("{ECR}/my-repo/train:v1"), true),
        m(format!("{ECR}/my-repo/*"), format!("{ECR}/my-repo/a/b/c"), true),
        m(format!("{ECR}/my-repo/*"), format!("{ECR}/my-repo:v1"), false),
        m(format!("{ECR}/my-repo/*"), format!("{ECR}/my-repo-x/train"), false),
        m(format!("{ECR}/my-repo*"), format!("{ECR}/my-repo-x/train"), true),
        m("example.com/a/*/c", "example.com/a/b/x/c", true),
        m("example.com/a/*/c", "example.com/a/c", false),
        m("example.com/*/app", "example.com/team/sub/app:v1", true),
        m("example.com/team/app?", "example.com/team/app1", true),
        m("example.com/team/app?", "example.com/team/app", false),
        m("example.com/team/app?", "example.com/team/app12", false),
        m("example.com/te?m", "example.com/team", true),
        m("example.com/te?m", "example.com/team/x", false),
        m("example.com/a?b", "example.com/a/b", true), // `?` is any one character, `/` too
        // A glob without `:` or `@` sees the repository only, never the tag.
        m("example.com/*x", "example.com/team/x:v1", true),
        m("example.com/*1", "example.com/team/x:v1", false),
        m("example.com/*latest", "example.com/team/x", false),
        // A path with `:` or `@` is matched against REPOSITORY[:TAG][@DIGEST].
        m("example.com/my-registry:*", "example.com/my-registry:v1", true),
        m("example.com/my-registry:*", "example.com/my-registry", true), // `:latest`
        m("example.com/my-registry:*", "example.com/my-registry/sub:v1", false),
        m("example.com/my-registry:*", format!("example.com/my-registry@{d}"), false),
        m("example.com/my-registry:v1.*", "example.com/my-registry:v1.2", true),
        m("example.com/my-registry:v1.*", "example.com/my-registry:v2.0", false),
        m("example.com/*:v1", "example.com/a/b:v1", true),
        m("example.com/*:v1", "example.com/a/b:v10", false),
        m("example.com/*:v?", "example.com/a:v2", true),
        m("example.com/app@sha256:*", format!("example.com/app@{d}"), true),
        m("example.com/app@sha256:*", "example.com/app:v1", false),
        m("example.com/app:v1@*", format!("example.com/app:v1@{d}"), true),
        m("example.com/app:v1@*", "example.com/app:v1", false),
        m("example.com/app*", format!("example.com/app:v1@{d}"), true),
        // ... and with no wildcard it must be equal.
        m("example.com/app:v1", "example.com/app:v1", true),
        m("example.com/app:v1", "example.com/app:v2", false),
        m("example.com/app:v1", "example.com/app:v10", false),
        m("example.com/app:v1", "example.com/app", false),
        m("example.com/app:v1", "example.com/app/x:v1", false),
        m("example.com/app:v1", format!("example.com/app:v1@{d}"), false),
        m("example.com/app:latest", "example.com/app", true),
        m("example.com/app:latest", "example.com/app:latest", true),
        m(format!("example.com/app@{d}"), format!("example.com/app@{d}"), true),
        m(format!("example.com/app@{d}"), format!("example.com/app:v1@{d}"), false),
        m(format!("example.com/app:v1@{d}"), format!("example.com/app:v1@{d}"), true),
        // A wildcard-free path: that repository and below it, on a segment boundary.
        m("example.com/team", "example.com/team", true),
        m("example.com/team", "example.com/team:v1", true),
        m("example.com/team", format!("example.com/team@{d}"), true),
        m("example.com/team", "example.com/team/x", true),
        m("example.com/team", "example.com/team/x/y:v2", true),
        m("example.com/team", "example.com/teammate", false),
        m("example.com/team", "example.com/team-a/x", false),
        m("example.com/team", "example.com/team.x", false),
        m("example.com/team", "example.com/team_x/y", false),
        m("example.com/team", "example.com/tea", false),
        m("example.com/team", "example.com/other/team", false),
        m("example.com/team/x", "example.com/team", false),
        m("example.com/team/x", "example.com/team/xy", false),
        m(format!("{ECR}/my-repo"), format!("{ECR}/my-repo/train:v1"), true),
        m(format!("{ECR}/my-repo"), format!("{ECR}/my-repository"), false),
    ];
    for (i, c) in cases.iter().enumerate() {
        let p = pattern(&c.pattern);
        let img = image(&c.image);
        assert_eq!(
            p.matches(&img),
            c.matches,
            "case {i}: pattern {:?} against {:?} (normalised {:?}) should {}match",
            c.pattern,
            c.image,
            img.as_str(),
            if c.matches { "" } else { "not " }
        );
        let only = pattern::best_match([&p], &img);
        assert_eq!(
            only,
            c.matches.then_some(0),
            "case {i}: best_match over [{:?}] for {:?}",
            c.pattern,
            c.image
        );
    }
}

#[test]
fn pattern_accessors() {
    #[rustfmt::skip]
    let cases: [(&str, Option<&str>, Option<u16>); 5] = [
        ("Example.COM:5000/team/*", Some("example.com"), Some(5000)),
        ("example.com", Some("example.com"), None),
        ("*.example.com/x", None, None),
        ("[::1]:5000", Some("[::1]"), Some(5000)),
        ("*:443", None, Some(443)),
    ];
    for (src, host, port) in cases {
        let p = pattern(src);
        assert_eq!(p.as_str(), src, "{src:?}: as_str is the pattern as written");
        assert_eq!(
            p.to_string(),
            src,
            "{src:?}: Display is the pattern as written"
        );
        assert_eq!(p.literal_host(), host, "{src:?}: literal host");
        assert_eq!(p.port(), port, "{src:?}: port");
        let reparsed: MatchPattern = src.parse().expect("FromStr");
        assert_eq!(reparsed, p, "{src:?}: FromStr equals parse");
    }
}

/// One best-match case: patterns in configuration order, an image, the winner, and the words
/// the reasons must use for the rule that decided.
struct Order {
    name: &'static str,
    patterns: Vec<String>,
    image: String,
    winner: usize,
    /// Said by the winner's reason.
    won_because: &'static str,
    /// Said by every loser's reason.
    lost_because: &'static str,
}

fn order(
    name: &'static str,
    patterns: &[&str],
    image: impl Into<String>,
    winner: usize,
    won_because: &'static str,
    lost_because: &'static str,
) -> Order {
    Order {
        name,
        patterns: patterns.iter().map(|p| p.replace("{ECR}", ECR)).collect(),
        image: image.into().replace("{ECR}", ECR),
        winner,
        won_because,
        lost_because,
    }
}

#[test]
fn best_match_follows_design_rules_in_order() {
    #[rustfmt::skip]
    let cases = [
        // Rule 1a: fewer wildcard host labels.
        order("literal host beats wildcard host",
            &["*.dkr.ecr.*.amazonaws.com/*", "{ECR}/*"], "{ECR}/x", 1,
            "fewer wildcard host labels", "more wildcard host labels"),
        order("one wildcard label beats two",
            &["*.dkr.ecr.*.amazonaws.com/*", "*.dkr.ecr.us-east-1.amazonaws.com/*"], "{ECR}/x", 1,
            "fewer wildcard host labels", "more wildcard host labels"),
        order("a wildcard label loses even with a longer path (rule 1 before rule 2)",
            &["*.dkr.ecr.us-east-1.amazonaws.com/my-repo/train", "{ECR}/*"], "{ECR}/my-repo/train", 1,
            "fewer wildcard host labels", "more wildcard host labels"),
        order("a port is not a wildcard: literal host with port beats wildcard host",
            &["*:5000/team/app", "registry:5000"], "registry:5000/team/app", 1,
            "fewer wildcard host labels", "more wildcard host labels"),
        // Rule 1b: then more literal host characters.
        order("more literal host characters",
            &["*.dkr.ecr.us-east-1.amazonaws.com/*", "1234*.dkr.ecr.us-east-1.amazonaws.com/*"], "{ECR}/x", 1,
            "more literal host characters", "fewer literal host characters"),
        order("more literal host characters beat a longer path (rule 1 before rule 2)",
            &["*.example.com/team/app/x", "r*.example.com/*"], "reg.example.com/team/app/x", 1,
            "more literal host characters", "fewer literal host characters"),
        // Rule 2a: a longer literal path prefix before the first wildcard.
        order("my-repo/* beats /*",
            &["{ECR}/*", "{ECR}/my-repo/*"], "{ECR}/my-repo/train:v1", 1,
            "longer literal path prefix", "shorter literal path prefix"),
        order("path beats no path",
            &["{ECR}", "{ECR}/my-repo"], "{ECR}/my-repo/train:v1", 1,
            "longer literal path prefix", "shorter literal path prefix"),
        order("a longer prefix wins over more literal characters overall",
            &["example.com/*/team/app/very-long", "example.com/t*"], "example.com/t/team/app/very-long", 1,
            "longer literal path prefix", "shorter literal path prefix"),
        order("literal repository beats a glob on its parent",
            &["example.com/team/app", "example.com/team/*"], "example.com/team/app", 0,
            "longer literal path prefix", "shorter literal path prefix"),
        order("versioned path beats the bare repository",
            &["example.com/app", "example.com/app:v1"], "example.com/app:v1", 1,
            "longer literal path prefix", "shorter literal path prefix"),
        order("three candidates, the deepest prefix wins",
            &["{ECR}/*", "{ECR}/my-repo/train*", "{ECR}/my-repo/*"], "{ECR}/my-repo/train:v1", 1,
            "longer literal path prefix", "shorter literal path prefix"),
        // Rule 2b: then more literal path characters.
        order("equal prefix, more literal path characters",
            &["example.com/team/*", "example.com/team/*/app"], "example.com/team/x/app", 1,
            "more literal path characters", "fewer literal path characters"),
        order("equal prefix, `?` is not literal",
            &["example.com/team/??p", "example.com/team/?pp"], "example.com/team/app", 1,
            "more literal path characters", "fewer literal path characters"),
        // Rule 3: the entry listed first.
        order("equally specific hosts: first listed",
            &["a*.example.com/*", "*b.example.com/*"], "ab.example.com/x", 0,
            "listed first", "listed later"),
        order("equally specific hosts, other order: still first listed",
            &["*b.example.com/*", "a*.example.com/*"], "ab.example.com/x", 0,
            "listed first", "listed later"),
        order("no path and `/*` are equally specific",
            &["{ECR}/*", "{ECR}"], "{ECR}/x", 0,
            "listed first", "listed later"),
        order("equally specific paths: first listed",
            &["example.com/team/*", "example.com/team/?*"], "example.com/team/app", 0,
            "listed first", "listed later"),
        order("a tie after a loser: the earlier of the tied wins",
            &["*.example.com/*", "example.com", "example.com/*"], "example.com/x", 1,
            "listed first", ""),
    ];
    for c in &cases {
        let patterns: Vec<MatchPattern> = c.patterns.iter().map(|p| pattern(p)).collect();
        let img = image(&c.image);
        let best = pattern::best_match(&patterns, &img);
        assert_eq!(best, Some(c.winner), "{}: best_match", c.name);

        let ex = pattern::explain(&patterns, &img);
        assert_eq!(ex.winner, Some(c.winner), "{}: explain's winner", c.name);
        let matched: Vec<usize> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| p.matches(&img))
            .map(|(i, _)| i)
            .collect();
        let listed: Vec<usize> = ex.candidates.iter().map(|k| k.index).collect();
        assert_eq!(
            listed, matched,
            "{}: every matching candidate, in order",
            c.name
        );
        for k in &ex.candidates {
            assert_eq!(
                k.pattern, c.patterns[k.index],
                "{}: candidate pattern",
                c.name
            );
            assert_eq!(
                k.specificity,
                patterns[k.index].specificity(),
                "{}: candidate specificity",
                c.name
            );
            if k.index == c.winner {
                assert!(
                    k.reason.starts_with("won") && k.reason.contains(c.won_because),
                    "{}: the winner's reason {:?} should say {:?}",
                    c.name,
                    k.reason,
                    c.won_because
                );
            } else {
                assert!(
                    k.reason.starts_with("lost") && k.reason.contains(c.lost_because),
                    "{}: loser [{}]'s reason {:?} should say {:?}",
                    c.name,
                    k.index,
                    k.reason,
                    c.lost_because
                );
            }
        }

        // Rules 1 and 2 do not depend on the order: reversing the list moves the same winner,
        // unless rule 3 (listed first) decided.
        if c.won_because != "listed first" {
            let reversed: Vec<MatchPattern> = patterns.iter().rev().cloned().collect();
            assert_eq!(
                pattern::best_match(&reversed, &img),
                Some(patterns.len() - 1 - c.winner),
                "{}: reversed order",
                c.name
            );
        }
    }
}

#[test]
fn explain_without_competition() {
    let patterns = [pattern("example.com/*"), pattern("other.example/*")];

    let ex = pattern::explain(&patterns, &image("example.com/x"));
    assert_eq!(ex.winner, Some(0), "one match: winner");
    assert_eq!(ex.candidates.len(), 1, "one match: candidates");
    assert!(
        ex.candidates[0].reason.starts_with("won") && ex.candidates[0].reason.contains("only"),
        "one match: reason {:?} should say it was the only one",
        ex.candidates[0].reason
    );

    let ex = pattern::explain(&patterns, &image("nowhere.example/x"));
    assert_eq!(ex.winner, None, "no match: winner");
    assert!(ex.candidates.is_empty(), "no match: candidates");
    assert_eq!(
        pattern::best_match(&patterns, &image("nowhere.example/x")),
        None,
        "no match: best_match"
    );
    assert_eq!(
        pattern::best_match(std::iter::empty(), &image("example.com/x")),
        None,
        "no patterns"
    );
}

#[test]
fn specificity_counts_what_design_says() {
    #[rustfmt::skip]
    let cases: [(&str, [u32; 4]); 10] = [
        // [wildcard host labels, literal host chars, literal path prefix, literal path chars]
        ("example.com", [0, 11, 0, 0]),
        ("example.com/*", [0, 11, 0, 0]),
        ("example.com:5000/*", [0, 11, 0, 0]),
        ("*.example.com", [1, 12, 0, 0]),
        ("*.dkr.ecr.*.amazonaws.com", [2, 23, 0, 0]),
        ("a*b.example.com", [1, 14, 0, 0]),
        ("example.com/team", [0, 11, 4, 4]),
        ("example.com/team/*", [0, 11, 5, 5]),
        ("example.com/t?am/*/x", [0, 11, 1, 6]),
        ("example.com/app:v1", [0, 11, 6, 6]),
    ];
    for (src, [w, h, p, l]) in cases {
        let s = pattern(src).specificity();
        assert_eq!(
            [
                s.wildcard_host_labels,
                s.literal_host_chars,
                s.literal_path_prefix,
                s.literal_path_chars
            ],
            [w, h, p, l],
            "{src:?}: specificity"
        );
    }
}

#[test]
fn invalid_patterns_name_the_kind_and_byte() {
    use PatternErrorKind as K;
    #[rustfmt::skip]
    let cases: Vec<(&str, K, usize)> = vec![
        ("", K::Empty, 0),
        // Scheme.
        ("https://example.com/x", K::Scheme, 0),
        ("HTTP://example.com", K::Scheme, 0),
        ("oci://example.com/*", K::Scheme, 0),
        // Whitespace, anywhere.
        (" example.com", K::Whitespace, 0),
        ("example.com/ team", K::Whitespace, 12),
        ("example.com/team\t", K::Whitespace, 16),
        ("example.com/team:v1\n", K::Whitespace, 19),
        ("example.com/team\u{a0}x", K::Whitespace, 16),
        // Empty host labels.
        (".example.com", K::EmptyLabel, 0),
        ("example..com/x", K::EmptyLabel, 8),
        ("example.com./x", K::EmptyLabel, 12),
        ("/x", K::EmptyLabel, 0),
        (":5000/x", K::EmptyLabel, 0),
        // Bad ports.
        ("example.com:/x", K::InvalidPort, 11),
        ("example.com:", K::InvalidPort, 11),
        ("example.com:abc/x", K::InvalidPort, 11),
        ("example.com:-1", K::InvalidPort, 11),
        ("example.com:50:00/x", K::InvalidPort, 11),
        ("example.com:65536/x", K::InvalidPort, 12),
        ("example.com:99999999999999999999", K::InvalidPort, 12),
        ("[::1]:x/y", K::InvalidPort, 5),
        ("[::1]x", K::InvalidPort, 5),
        // Trailing slash, empty path segments.
        ("example.com/", K::TrailingSlash, 11),
        ("example.com/team/", K::TrailingSlash, 16),
        ("example.com//", K::TrailingSlash, 12),
        ("example.com//x", K::EmptyPathSegment, 12),
        ("example.com/a//b", K::EmptyPathSegment, 14),
        ("example.com/team/:v1", K::EmptyPathSegment, 16),
        ("example.com/:v1", K::EmptyPathSegment, 12),
        ("example.com/@sha256:*", K::EmptyPathSegment, 12),
        ("example.com/:*", K::EmptyPathSegment, 12),
        // Host characters: only ASCII letters, digits, `-` and `*`.
        ("exa_mple.com/x", K::InvalidHostChar('_'), 3),
        ("example.com?/x", K::InvalidHostChar('?'), 11),
        ("user@example.com/x", K::InvalidHostChar('@'), 4),
        ("example%2ecom/x", K::InvalidHostChar('%'), 7),
        ("example.com\\x", K::InvalidHostChar('\\'), 11),
        // Non-ASCII in the host, including look-alikes that fold to ASCII in Unicode.
        ("exämple.com", K::InvalidHostChar('ä'), 2),
        ("123456789012.d\u{212A}r.ecr.us-east-1.amazonaws.com/*", K::InvalidHostChar('\u{212A}'), 14),
        ("123456789012.dkr.\u{435}cr.us-east-1.amazonaws.com/*", K::InvalidHostChar('\u{435}'), 17),
        ("\u{FF11}23456789012.dkr.ecr.us-east-1.amazonaws.com", K::InvalidHostChar('\u{FF11}'), 0),
        ("example.com\u{3002}org/x", K::InvalidHostChar('\u{3002}'), 11),
        // IPv6.
        ("[::1/x", K::InvalidIpv6, 0),
        ("[::g]/x", K::InvalidIpv6, 3),
        ("[]/x", K::InvalidIpv6, 1),
        // Path characters.
        ("example.com/t\u{eb}am", K::InvalidPathChar('\u{eb}'), 13),
        ("example.com/team+x", K::InvalidPathChar('+'), 16),
        ("example.com/%2e%2e/x", K::InvalidPathChar('%'), 12),
        ("example.com/team:v1#", K::InvalidPathChar('#'), 19),
        ("example.com/team:v1/x", K::InvalidPathChar('/'), 19),
        ("example.com/team[ab]", K::InvalidPathChar('['), 16),
        ("example.com/te\u{430}m", K::InvalidPathChar('\u{430}'), 14),
        ("example.com/team:v\u{131}", K::InvalidPathChar('\u{131}'), 18),
        // Upper case in the repository never matches: an error, not a dead pattern.
        ("example.com/Team", K::UppercaseRepository('T'), 12),
        ("example.com/team/App:v1", K::UppercaseRepository('A'), 17),
    ];
    for (src, kind, position) in cases {
        let e = match MatchPattern::parse(src) {
            Ok(p) => panic!("{src:?} should be invalid ({kind:?}), parsed as {p:?}"),
            Err(e) => e,
        };
        assert_eq!(e.kind(), &kind, "{src:?}: kind (error: {e})");
        assert_eq!(e.position(), position, "{src:?}: position (error: {e})");
        assert_eq!(e.pattern(), src, "{src:?}: the error keeps the pattern");

        let shown = e.to_string();
        assert!(
            shown.contains(&format!("{src:?}")),
            "{src:?}: Display {shown:?} should name the pattern"
        );
        assert!(
            shown.contains(&format!("at byte {position}")),
            "{src:?}: Display {shown:?} should name the byte"
        );
        if let K::InvalidHostChar(c) | K::InvalidPathChar(c) | K::UppercaseRepository(c) = kind {
            assert!(
                shown.contains(&format!("{c:?}")),
                "{src:?}: Display {shown:?} should name the character {c:?}"
            );
        }
        if position < src.len() && !src.is_empty() {
            assert!(
                src.is_char_boundary(position),
                "{src:?}: position {position} is on a character boundary"
            );
        }
    }
}

#[test]
fn valid_edge_patterns_parse() {
    #[rustfmt::skip]
    let cases = [
        "*", "*.*", "localhost", "localhost:5000", "[::1]", "[::1]:5000/x", "example.com:0",
        "example.com:65535/*", "EXAMPLE.com/team", "example.com/*", "example.com/**",
        "example.com/?", "example.com/team/app:V1.0-rc_1", "example.com/app@sha256:*",
        "example.com/a.b_c__d--e/f", "xn--n3h.com/x",
    ];
    for src in cases {
        assert!(
            MatchPattern::parse(src).is_ok(),
            "{src:?} should parse: {:?}",
            MatchPattern::parse(src).err()
        );
    }
}

/// Patterns no image could ever match are errors, not silent dead entries: the wildcard-free
/// pieces of a path must be something the reference grammar can hold, host labels never start
/// or end with `-`, and a bracketed host must be an IPv6 address.
#[test]
fn unmatchable_patterns_are_errors() {
    use registry_auth::pattern::PatternErrorKind as K;
    #[rustfmt::skip]
    let cases: &[(&str, usize, &str)] = &[
        ("a.b/./x", 4, "repository components"),
        ("a.b/team/..", 9, "repository components"),
        ("a.b/team-/x", 4, "repository components"),
        ("a.b/x:", 5, "a tag is"),
        ("a.b/x:.v1", 5, "a tag is"),
        ("a.b/x@sha256:abc", 5, "a digest is"),
        ("a.b/x@md5:0123456789abcdef0123456789abcdef", 5, "a digest is"),
        ("a.b/x:v1@sha256:xyz", 8, "a digest is"),
        ("-a.b/x", 0, "starts or ends with `-`"),
        ("a-.b/x", 1, "starts or ends with `-`"),
        ("a.b-/x", 3, "starts or ends with `-`"),
        ("[:eeee:38ee]/y", 1, "not an IPv6 address"),
        ("[1::2::3]/y", 1, "not an IPv6 address"),
    ];
    for (pattern, at, says) in cases {
        let e = MatchPattern::parse(pattern).expect_err(pattern);
        assert_eq!(e.position(), *at, "{pattern}: {e}");
        assert!(
            matches!(
                e.kind(),
                K::Unmatchable(..) | K::HyphenAtLabelEdge | K::InvalidIpv6
            ),
            "{pattern}: {:?}",
            e.kind()
        );
        assert!(e.to_string().contains(says), "{pattern}: {e}");
    }
    // Wildcard pieces are not judged, and the valid forms still parse.
    for ok in [
        "a.b/x:v*",
        "a.b/x@sha256:*",
        "*-a.b/x",
        "a*.b/te?m/*",
        "[::1]:5000/x",
        "a.b/x:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        MatchPattern::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}
