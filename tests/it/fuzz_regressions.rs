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

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::path::Path;

use checks::{check_index, check_pattern, check_reference};
use registry_auth::reference::ImageReference;

/// `reference` target: crashes found (none so far) and corpus inputs kept as edge cases.
const REFERENCES: &[&str] = &[
    // Long: a 234-character path on a host that only a `.` makes a domain.
    "hdocker.io/000x000__0000_000io/x00000r.io/000x000__0000_000io/x000000__00_o/000x000__0000_000io/x00000r.io/000x000__0000_000io/x000000__00__0000__0000_000io/x00000r.io/000x000__0000_000i10000_0000__0000_000io/x00000r.io/000x000__0000_000i1000000",
    // A one-character host with an all-zero port: port 0, kept as written.
    "1:00000000/e",
    "k:0/c:y",
    // An uppercase letter makes the first component a host.
    "Nib/w:04",
    // Tag and digest on a Docker Hub official image; a tag ending in '-'; odd tags.
    "111111:3611111111111@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "0:0-",
    "i:_3_____R",
    "0__0__2",
    // IPv6 hosts, with and without port, with a digest.
    "[fe80::112:5]/x",
    "[::1]:500/x@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "x/y@sha384:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "a.b:65535/x:t@sha512:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    // Errors whose message slices the input: an unsupported algorithm longer than the shown
    // input, an image ID, a scheme, multi-byte characters at the failure position.
    "a.b:65535t@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaasha512:aaaaaa",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "h://",
    ":/",
    "x@ha2:65111111111111111111111111111111",
    "a.b/Team/\u{e9}t\u{e9}:v1",
    "a.b/x:\u{e9}",
    "\u{212a}.b/x",
    "[::1\u{e9}]/x",
    "a.b:\u{ff15}000/x",
    "x@sha256:\u{e9}",
];

/// `pattern` target.
const PATTERNS: &[&str] = &[
    // Once accepted, though no image could match them; now errors: dot-only path segments, a
    // bracketed host that is no address, a label starting with '-'. (`=` in a digest glob is
    // still accepted: wildcard pieces are not checked against the reference grammar.)
    "bcrb/./....@..........",
    "[:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:38eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee]/y",
    "-D/l",
    "a.b/x@======*===========================================================",
    "lrbb/..a.0:B......*._.c",
    "a.c/x:v1@sPxzzzzzzzzz+",
    "Regtr/*",
    // Many wildcards: in one host label, in every label, in the path.
    "123456789012.dk**********************************************************************r.ecr.us-emazonaws.com",
    "**.***/*.***.a",
    "*.*/**",
    "l/d????????????????????????????????????????????????????????????????xa",
    "lry/utu:date??????????????????xa",
    // Literal patterns that are also references on their own host, which they must serve.
    "a.b/x:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "A.B:05000/x/y",
    "[::1]:5000/x@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    // Errors at multi-byte characters, odd ports and brackets.
    "a.b/\u{e9}",
    "\u{e9}.b",
    "a.b:\u{ff15}000",
    "a.b/x\u{3000}",
    "a.b/x:\u{212a}",
    "[::1",
    "[]/x",
    "[::1]x/y",
    "a.b:65536",
    "a.b:/x",
    "a.b/:v1",
    "a.b/x/:v1",
    "https://a.b",
    "a..b",
    "a.b//x",
    "a.b/",
];

/// `index` target: (patterns, references, accept mask).
const INDEXES: &[(&[&str], &[&str], u64)] = &[
    // From the corpus: one host in two spellings, versioned and plain paths, a wildcard host.
    (
        &[
            "a.b/x-y/x-y/x-y/x-y",
            "A.b/x-y/x-y/x-y/x-y:v1",
            "a.b/x/x-y/x-y/x",
            "A.b/x-y/x-y/x-y/x-y:v1",
            "a.b/x-y/x-y/x-y/x-y:v1",
            "a.b/x-y/x-y/x-y/x-y",
            "a.b/x-y/x-y/x-y/x_y",
            "A.b/x-y/x-y/x-y/x-y:v1",
            "a.b/x/x-y/x-y/x:v1@*",
            "A.b",
            "*.b/x-y/x/x-y/x-y:v1",
        ],
        &[
            "A.b/x-y/x-y/x-y/x-y:v1",
            "A.b/x-y/x-y/x-y/x-y:x",
            "A.b/x-y/x-y/x-y/x-y:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "A.b/x-y/x-y/x-y/x-y@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "x-y/x-y/x-y/x-y",
            "a.b/x-y/x-y/x-y/x-y:v2@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ],
        0x0374_5091_39e2_db25,
    ),
    // From the corpus: a large group of wildcard-host patterns behind a port, `?*` paths.
    (
        &[
            "*.a.b:65535/?*/x:v1",
            "*.*:65535/x",
            "*.a.b:65535/?*/?*/?*/*@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "*.a.b:65535/x_y/x__y/?*/?*@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "*.a.b:65535/?*/?*/x:v1",
            "a.B:65535/?*/*@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "*.a.b:65535/x/x@sha256:*",
            "*.a.b:65535/?*/?*/?*/?*@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "*.a.b:65535/?*/?*/?*/?*:v1",
            "*.a.b:65535",
            "*.*:65535/?*/?*/?*/?*",
            "*.a.b/?*/?*",
            "*.a.b:65535/?*/?*/?*/?*",
            "*.a.b:65535/?*/?*/x*/*@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "*.a.b:65535/*",
        ],
        &[
            "docker.io:65535/x/x/x/x:x",
            "x.a.b:65535/x/x/x/x:x@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "x.a.b:65535/x_y/x__y/x/x@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "x.a.b:65535/x:v1",
            "a.b:65535/x/x",
            "x.a.b/x/x",
        ],
        0x002f_32ff_d7af_74cd,
    ),
    // From the corpus: literal and wildcard hosts, unparsable patterns among them.
    (
        &[
            "a.b",
            "",
            "a.B:65536/team-a/*/x*/*:v1",
            "[::1]/x/x-y/x-y/x:v1@*",
            "A.b",
            "a.b/x-y",
            "a.B/team-a/team-a/team-a/team-a:v*",
            "a*b.b/?/x-y/x-y/x-y",
            "a.b/x-y/x-y/x-y/teammate",
            "a.b/x-y/x-y",
            "a.b/x-y/x-y/x-y/x",
            "[::1]/",
            "a.b/*:v1",
            "a.b/x",
            "a.b/team",
            "*B/",
            "a*b.b/*:v1",
            "a.b/team-a/team-a:v1@*",
        ],
        &[
            "A.b/x-y/x-y/y:x",
            "A.b/x-y/x-y/x-y/x-y",
            "A.b/x-y/x-y/x-y/x-y:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "a.b/team-a/team-a:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "a.b/teammate",
            "a-b.b/x/x-y/x-y/x-y:v1",
            "[::1]/x/x-y/x-y/x:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ],
        0x7457_af41_0101_2535,
    ),
    // The two cases the index property test (`index::tests::index_agrees_with_the_plain_scan`) once shrank to.
    (
        &["A.b", "a.b", "a.b", "a.b", "a.b", "a.b", "a.b", "a.b", "a.b/x"],
        &["a.b/y"],
        0,
    ),
    (&["b.a*", "*b.a"], &["b.A/x"], 0),
    // A group larger than a scan: literal prefixes nested in each other and on no boundary.
    (
        &[
            "h.io/*", "h.io/a", "h.io/a/b", "h.io/a/b/c", "h.io/a/b*", "h.io/a/?", "h.io/a-b/*",
            "h.io/a/b/c:v1", "h.io/a/b/c:*", "h.io/a/b/c@*", "h.io/z1/*", "h.io/z11", "h.io/z1",
            "H.IO/a/b", "h.io/a/b:latest", "h.io/a/b/c:v1@*",
        ],
        &[
            "h.io/a/b/c:v1", "h.io/a/b/c:v2", "h.io/a/b/d", "h.io/a/bc", "h.io/a/x", "h.io/a-b/x",
            "h.io/z1/x", "h.io/z11", "h.io/q", "H.io/a/b",
        ],
        0x5555_5555_5555_5555,
    ),
    // Wildcard labels at every depth, ports and case; a look-alike (Kelvin sign) host.
    (
        &[
            "*.dkr.ecr.*.amazonaws.com",
            "*.dkr.ecr.us-east-1.amazonaws.com/team/*",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team",
            "*.*.*.*.amazonaws.com",
            "*.dkr.ecr.*.amazonaws.com:443",
            "1*2.DKR.ecr.*-1.amazonaws.com/team/app:v*",
            "k.b/*",
        ],
        &[
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/teammate",
            "999999999999.dkr.ecr.eu-west-1.amazonaws.com/team/app",
            "123456789012.DKR.ecr.eu-west-1.amazonaws.com:443/x",
            "1xx2.dkr.ecr.ap-south-1.amazonaws.com/team/app:v2",
            "evil.example/999999999999.dkr.ecr.eu-west-1.amazonaws.com",
            "\u{212a}.b/x",
        ],
        0xdead_beef_dead_beef,
    ),
];

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

/// Inputs at the length limits (255-character path, 128-character tag) and far beyond them,
/// which the fuzzers' 4 KiB inputs reach only slowly.
#[test]
fn lengths_at_the_limits() {
    for (n, ok) in [(246, true), (247, true), (248, false)] {
        let input = "a".repeat(n);
        assert_eq!(ImageReference::parse(&input).is_ok(), ok, "{n}");
        check_reference(&input);
    }
    for (n, ok) in [(254, true), (255, true), (256, false)] {
        let input = format!("a.b/{}", "a".repeat(n));
        assert_eq!(ImageReference::parse(&input).is_ok(), ok, "{n}");
        check_reference(&input);
    }
    for (n, ok) in [(127, true), (128, true), (129, false)] {
        let input = format!("a.b/x:{}", "t".repeat(n));
        assert_eq!(ImageReference::parse(&input).is_ok(), ok, "{n}");
        check_reference(&input);
    }
    let host = format!("{}b", "a.".repeat(2000));
    check_reference(&format!("{host}:5000/x"));
    check_reference(&format!("{host}/{}", "x/".repeat(2000)));
    check_pattern(&host);
    check_pattern(&format!("{host}:5000/x/*"));
    check_pattern(&format!("{}.b/x", "*".repeat(2000)));
    check_pattern(&format!("a.b/{}", "*?".repeat(2000)));
    check_pattern(&format!("a.b/x:{}", "?".repeat(2000)));
    let patterns: Vec<String> = (0..32)
        .map(|k| {
            format!(
                "{}/{}",
                if k % 3 == 0 { "*.b" } else { "a.b" },
                "x/".repeat(k) + "*"
            )
        })
        .collect();
    let references: Vec<String> = (0..8)
        .map(|k| format!("a.b/{}y", "x/".repeat(k * 4)))
        .collect();
    check_index(&patterns, &references, 0xaaaa_aaaa_aaaa_aaaa);
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
