//! `*` inside host labels, against an oracle that shares no code with the crate: each label
//! compiled by globset (a dev-dependency; the crate matches host labels by hand and paths with
//! wildmatch). The plain scan and the compiled index reuse one label matcher, so their
//! equivalence test cannot see a bug in it; this oracle can.

use globset::GlobBuilder;
use proptest::prelude::*;
use proptest::sample::select;
use registry_auth::index::PatternIndex;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::reference::ImageReference;

/// Whether the host pattern matches the host, label by label, by globset. Both sides are
/// ASCII-lowercased first, since host labels compare ASCII-case-insensitively and globset's
/// case folding is Unicode's.
fn oracle(pattern_host: &str, host: &str) -> bool {
    // globset takes `**` only as a whole path component; in a label it means what `*` does.
    let mut pattern = pattern_host.to_ascii_lowercase();
    while pattern.contains("**") {
        pattern = pattern.replace("**", "*");
    }
    let host = host.to_ascii_lowercase();
    let (pattern_labels, host_labels): (Vec<&str>, Vec<&str>) =
        (pattern.split('.').collect(), host.split('.').collect());
    pattern_labels.len() == host_labels.len()
        && pattern_labels.iter().zip(&host_labels).all(|(p, h)| {
            GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .unwrap_or_else(|e| panic!("{p}: {e}"))
                .compile_matcher()
                .is_match(h)
        })
}

/// Whether `pattern_host` serves `host`: by the pattern, the plain scan and the index, which
/// must agree.
fn matched(pattern_host: &str, host: &str) -> bool {
    let pattern = MatchPattern::parse(&format!("{pattern_host}/*"))
        .unwrap_or_else(|e| panic!("{pattern_host}: {e}"));
    let image =
        ImageReference::parse(&format!("{host}/x")).unwrap_or_else(|e| panic!("{host}: {e}"));
    let by_pattern = pattern.matches(&image);
    let by_registry = pattern.serves_registry(image.host(), image.port());
    let by_scan = pattern::best_match([&pattern], &image) == Some(0);
    // Beside a literal host that never matches, so the index has both kinds of group.
    let index = PatternIndex::new([
        MatchPattern::parse("never.invalid/*").unwrap(),
        pattern.clone(),
    ]);
    let by_index = index.best_match(&image) == Some(1);
    assert_eq!(
        [by_registry, by_scan, by_index],
        [by_pattern; 3],
        "{pattern_host} against {host}: pattern, registry, scan and index disagree"
    );
    by_pattern
}

#[test]
fn label_globs_match_as_the_oracle_says() {
    #[rustfmt::skip]
    let rows = [
        // A trailing `*` matches an empty rest of the label.
        ("reg*.example.com", "reg.example.com", true),
        ("reg*.example.com", "registry.example.com", true),
        ("reg*.example.com", "re.example.com", false),
        ("reg*.example.com", "reg.x.example.com", false),
        // A leading `*` matches an empty start.
        ("*reg.example.com", "reg.example.com", true),
        ("*reg.example.com", "myreg.example.com", true),
        ("*reg.example.com", "regx.example.com", false),
        // Stars on both sides, and only stars.
        ("*reg*.example.com", "reg.example.com", true),
        ("*reg*.example.com", "xregx.example.com", true),
        ("*reg*.example.com", "rxeg.example.com", false),
        ("**.example.com", "a.example.com", true),
        ("a**.example.com", "a.example.com", true),
        // `a*b*`: the first `*` must not stop at the first `b` when a later one fits.
        ("a*b*.example.com", "ab.example.com", true),
        ("a*b*.example.com", "abb.example.com", true),
        ("a*b*.example.com", "axbx.example.com", true),
        ("a*b*.example.com", "axxb.example.com", true),
        ("a*b*.example.com", "ba.example.com", false),
        ("a*b*.example.com", "axx.example.com", false),
        ("a*b*.example.com", "b.example.com", false),
        ("a*b*c.example.com", "abc.example.com", true),
        ("a*b*c.example.com", "abcbc.example.com", true),
        ("a*b*c.example.com", "abcb.example.com", false),
        ("a*b*c.example.com", "acbc.example.com", true),
        ("a*b.example.com", "abab.example.com", true),
        ("a*b.example.com", "abba.example.com", false),
        ("a*a.example.com", "a.example.com", false),
        ("a*a.example.com", "aa.example.com", true),
        // Case, on either side.
        ("REG*.example.com", "reg.EXAMPLE.com", true),
        ("a*B*.example.com", "AxbX.example.com", true),
        // A `*` never crosses a dot or adds a label.
        ("reg*.com", "reg.example.com", false),
        ("*.example.com", "example.com", false),
        ("*", "localhost", true),
    ];
    for (pattern_host, host, want) in rows {
        assert_eq!(
            oracle(pattern_host, host),
            want,
            "the oracle on {pattern_host} against {host}"
        );
        assert_eq!(
            matched(pattern_host, host),
            want,
            "{pattern_host} against {host}"
        );
    }
}

fn pattern_label() -> impl Strategy<Value = String> {
    prop::collection::vec(select(&["a", "b", "A", "*", "-", "ab"][..]), 1..=5)
        .prop_map(|parts| parts.concat())
        .prop_filter("host labels do not start or end with -", |l| {
            !l.starts_with('-') && !l.ends_with('-')
        })
}

fn host_label() -> impl Strategy<Value = String> {
    prop::collection::vec(select(&["a", "b", "B", "-", "ab"][..]), 1..=5)
        .prop_map(|parts| parts.concat())
        .prop_filter("host labels do not start or end with -", |l| {
            !l.starts_with('-') && !l.ends_with('-')
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_label_globs_agree_with_the_oracle(
        pattern_labels in prop::collection::vec(pattern_label(), 1..=3),
        host_labels in prop::collection::vec(host_label(), 1..=3),
        shared_suffix in any::<bool>(),
    ) {
        let mut pattern_host = pattern_labels.join(".");
        let mut host = host_labels.join(".");
        if shared_suffix {
            pattern_host.push_str(".example.com");
            host.push_str(".example.com");
        }
        // A one-label host without a port would be read as a Docker Hub path.
        prop_assume!(host.contains('.'));
        prop_assert_eq!(matched(&pattern_host, &host), oracle(&pattern_host, &host));
    }
}
