//! The properties the fuzz targets check, as plain functions over strings.
//!
//! The fuzz targets (`fuzz/fuzz_targets/*.rs`) call these with what libFuzzer generates, and
//! `tests/fuzz_regressions.rs` includes this very file (`#[path]`) and calls them with the
//! inputs the fuzzers found, so a regression test checks exactly what the fuzzer checked. Every
//! failed property is a panic, which libFuzzer records as a crash.
//!
//! Only `registry_auth` and `std` are used here: the root crate's tests must build this file
//! without the fuzz crate's dependencies.

use std::fmt::Write as _;

use registry_auth::index::PatternIndex;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::reference::ImageReference;

/// References every parsed pattern is matched against (`pattern` target).
pub const FIXED_REFERENCES: &[&str] = &[
    "ubuntu",
    "library/ubuntu:22.04",
    "a.b/x",
    "A.B/x/y:v1",
    "a.b:5000/x-y/z@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "localhost:5000/team/app:v1",
    "[::1]:5000/x",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.0",
    "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
];

/// `ImageReference::parse` never panics; an accepted input normalises to a string that parses
/// back to an equal reference, and every accessor is the right slice of `as_str()`.
pub fn check_reference(input: &str) {
    let image = match ImageReference::parse(input) {
        Ok(image) => image,
        Err(error) => {
            // Rendering the error slices the input at the failure position: it must not panic.
            assert!(error.position() <= input.len(), "{error:?}");
            assert_eq!(error.input(), input);
            let mut text = String::new();
            write!(text, "{error}").unwrap();
            return;
        }
    };
    check_parsed_reference(&image);
    let again = ImageReference::parse(image.as_str())
        .unwrap_or_else(|e| panic!("{input:?} normalised to {image}, which does not parse: {e}"));
    assert_eq!(again, image, "{input:?} does not re-parse to itself");
    check_parsed_reference(&again);
    assert_eq!(input.parse::<ImageReference>().as_ref(), Ok(&image));
}

/// The accessors of a parsed reference are consistent slices of `as_str()`.
fn check_parsed_reference(image: &ImageReference) {
    let full = image.as_str();
    assert_eq!(image.to_string(), full);
    let (domain, host, repository) = (image.domain(), image.host(), image.repository());
    assert!(!host.is_empty() && !repository.is_empty(), "{full}");
    assert!(
        domain.starts_with(host) && full.starts_with(domain),
        "{full}"
    );
    match image.port() {
        None => assert_eq!(domain, host, "{full}"),
        Some(port) => {
            // The port is kept as written (`:05000` stays), but it is that number.
            let digits = domain[host.len()..]
                .strip_prefix(':')
                .unwrap_or_else(|| panic!("{full}: no ':' before the port"));
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{full}");
            assert_eq!(digits.parse::<u32>().ok(), Some(u32::from(port)), "{full}");
        }
    }
    assert_eq!(image.name(), format!("{domain}/{repository}"));
    assert!(repository.len() <= 255, "{full}");
    assert!(
        !repository.bytes().any(|b| b.is_ascii_uppercase()),
        "{full}"
    );
    let mut path = repository.to_owned();
    if let Some(tag) = image.tag() {
        assert!(!tag.is_empty() && tag.len() <= 128, "{full}");
        path.push(':');
        path.push_str(tag);
    }
    if let Some(digest) = image.digest() {
        assert!(digest.contains(':'), "{full}");
        path.push('@');
        path.push_str(digest);
    }
    assert!(
        image.tag().is_some() || image.digest().is_some(),
        "{full}: neither tag nor digest after normalisation"
    );
    assert_eq!(image.path_and_version(), path, "{full}");
    assert_eq!(full, format!("{domain}/{path}"));
}

/// `MatchPattern::parse` never panics; an accepted pattern displays as written and re-parses
/// to the same pattern, matching never panics, and a pattern without wildcards that is also an
/// image reference on its own host serves that image.
pub fn check_pattern(input: &str) {
    let parsed = match MatchPattern::parse(input) {
        Ok(parsed) => parsed,
        Err(error) => {
            assert!(error.position() <= input.len(), "{error:?}");
            assert_eq!(error.pattern(), input);
            let mut text = String::new();
            write!(text, "{error}").unwrap();
            return;
        }
    };
    let shown = parsed.to_string();
    assert_eq!(shown, input);
    assert_eq!(parsed.as_str(), input);
    let again = MatchPattern::parse(&shown)
        .unwrap_or_else(|e| panic!("{input:?} displays as {shown:?}, which does not parse: {e}"));
    assert_eq!(again, parsed);
    assert_eq!(again.specificity(), parsed.specificity());
    assert_eq!(again.literal_host(), parsed.literal_host());
    assert_eq!(again.port(), parsed.port());
    if let Some(host) = parsed.literal_host() {
        assert!(!host.bytes().any(|b| b.is_ascii_uppercase()), "{input:?}");
    }

    let list = std::slice::from_ref(&parsed);
    for reference in FIXED_REFERENCES {
        let image = ImageReference::parse(reference).unwrap();
        let matched = parsed.matches(&image);
        assert_eq!(pattern::best_match(list, &image), matched.then_some(0));
        let why = pattern::explain(list, &image);
        assert_eq!(why.winner, matched.then_some(0), "{input:?} on {reference}");
        assert_eq!(why.candidates.len(), usize::from(matched));
    }

    // A literal pattern `HOST[:PORT]/PATH` that reads as an image reference on that same
    // domain serves that image: the two parsers agree on what the literal text means. Docker
    // Hub hosts are left out (a pattern is matched against the normalised `library/` path).
    if !input.contains(['*', '?']) {
        if let (Some((domain, _)), Ok(image)) =
            (input.split_once('/'), ImageReference::parse(input))
        {
            let hub = ["docker.io", "index.docker.io"]
                .iter()
                .any(|h| domain.eq_ignore_ascii_case(h));
            if image.domain() == domain && !hub {
                assert!(parsed.matches(&image), "{input:?} does not serve {image}");
            }
        }
    }
}

/// `PatternIndex` built from the parsable `patterns` answers every parsable `references`
/// exactly as the plain scan does, for `best_match` and for `best_match_by` with the accept
/// mask `accepted` (position `i` is accepted when bit `i % 64` is set); `accept` sees the
/// matches ranked above the winner, best first, then the winner, and nothing else.
pub fn check_index<S: AsRef<str>>(patterns: &[S], references: &[S], accepted: u64) {
    let list: Vec<MatchPattern> = patterns
        .iter()
        .filter_map(|p| MatchPattern::parse(p.as_ref()).ok())
        .collect();
    let index = PatternIndex::new(list.clone());
    assert_eq!(index.len(), list.len());
    for (i, p) in list.iter().enumerate() {
        assert_eq!(index.pattern(i), Some(p));
    }
    assert_eq!(index.pattern(list.len()), None);
    let accept = |i: usize| accepted >> (i % 64) & 1 == 1;
    for reference in references {
        let Ok(image) = ImageReference::parse(reference.as_ref()) else {
            continue;
        };
        let oracle = pattern::best_match(&list, &image);
        assert_eq!(
            index.best_match(&image),
            oracle,
            "{}",
            context(&list, &image)
        );
        assert_eq!(pattern::explain(&list, &image).winner, oracle);

        let kept: Vec<usize> = (0..list.len()).filter(|&i| accept(i)).collect();
        let restricted =
            pattern::best_match(kept.iter().map(|&i| &list[i]), &image).map(|k| kept[k]);
        let mut seen = Vec::new();
        let got = index.best_match_by(&image, |i| {
            seen.push(i);
            accept(i)
        });
        let why = || format!("{} accepted {accepted:#x}", context(&list, &image));
        assert_eq!(got, restricted, "{}", why());

        let mut ranked: Vec<usize> = (0..list.len())
            .filter(|&i| list[i].matches(&image))
            .collect();
        ranked.sort_by_key(|&i| std::cmp::Reverse((list[i].specificity(), std::cmp::Reverse(i))));
        let expected = match ranked.iter().position(|&i| accept(i)) {
            Some(k) => &ranked[..=k],
            None => &ranked[..],
        };
        assert_eq!(&seen[..], expected, "accept saw; {}", why());
    }
}

/// The patterns and the image, for a failure message.
fn context(list: &[MatchPattern], image: &ImageReference) -> String {
    let patterns: Vec<&str> = list.iter().map(MatchPattern::as_str).collect();
    format!("image {image} patterns {patterns:?}")
}
