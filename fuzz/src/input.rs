//! The `index` target's input: pattern and reference strings built from a small alphabet, so
//! that shared hosts (large host groups), ties, wildcard hosts, ports, versioned paths, shared
//! literal prefixes and misses all come up often. A few raw strings get through as well.

use std::fmt;

use arbitrary::Arbitrary;

/// At most this many patterns per index.
pub const MAX_PATTERNS: usize = 32;
/// At most this many references per index.
pub const MAX_REFERENCES: usize = 8;

const DIGEST_1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// Whole pattern hosts; `a.b` most of all so that one host group gets large.
const PATTERN_HOSTS: &[&str] = &[
    "a.b",
    "a.b",
    "a.b",
    "a.b",
    "A.b",
    "a.B",
    "*.b",
    "a.*",
    "*.*",
    "a*.b",
    "*a.b",
    "a*b.b",
    "*b.b",
    "*.B",
    "b.*.b",
    "*.a.b",
    "a.b.b",
    "b",
    "*",
    "docker.io",
    "index.docker.io",
    "localhost",
    "[::1]",
    "a-b.b",
    "xn--a.b",
];
/// Labels for hosts built label by label.
const LABELS: &[&str] = &[
    "a", "b", "a", "b", "A", "B", "*", "a*", "*b", "a*b", "*a*", "*B", "**", "aa", "ab", "a-b", "c",
];
/// Mostly none, so that pattern and reference ports agree often.
const PORTS: &[&str] = &[
    "", "", "", "", "", "", "", "", "", "", ":5000", ":5000", ":80", ":05000", ":0", ":65535",
    ":65536", ":", ":x",
];
/// Path segments of patterns: literals sharing prefixes, and wildcards.
const SEGMENTS: &[&str] = &[
    "x", "y", "x", "x-y", "*", "*", "x*", "?", "*y", "x?", "library", "x.y", "x_y", "x__y", "**",
    "?*", "xy", "team", "teammate", "team-a", "t*m", "*/x", "",
];
/// What may follow a pattern's repository.
const VERSIONS: &[&str] = &[
    "",
    "",
    "",
    "",
    ":v1",
    ":latest",
    ":*",
    ":v?",
    ":v*",
    "@*",
    ":v1@*",
    ":*@*",
    ":V1",
    "@sha256:*",
    ":v1@sha256:*",
    "@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    ":v1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    ":",
    "@",
];
/// Whole reference hosts, most of them matched by some pattern host.
const REFERENCE_HOSTS: &[&str] = &[
    "a.b",
    "a.b",
    "a.b",
    "A.b",
    "a.B",
    "b.b",
    "a.a",
    "c.b",
    "aa.b",
    "ab.b",
    "a-b.b",
    "a.b.b",
    "b.a.b",
    "xa.b",
    "a",
    "docker.io",
    "index.docker.io",
    "localhost",
    "[::1]",
    "xn--a.b",
];
/// Repository segments of references.
const REPOSITORY_SEGMENTS: &[&str] = &[
    "x", "x", "y", "x-y", "library", "x.y", "x_y", "x__y", "xy", "team", "teammate", "team-a",
    "tm", "v1",
];
const TAGS: &[&str] = &["", "", ":v1", ":v1", ":v2", ":latest", ":V1", ":x"];
const DIGESTS: &[&str] = &["", "", "", DIGEST_1, DIGEST_2];

/// A choice from one of the tables above.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Pick(u8);

impl Pick {
    fn of(self, table: &'static [&'static str]) -> &'static str {
        table[usize::from(self.0) % table.len()]
    }
}

#[derive(Arbitrary, Debug)]
pub enum Host {
    Whole(Pick),
    AlsoWhole(Pick),
    Labels(Pick, Vec<Pick>),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub enum PatternPath {
    Segments(Pick, Vec<Pick>, Pick),
    AlsoSegments(Pick, Vec<Pick>, Pick),
    Star,
    Raw(String),
}

/// A pattern built from the tables three times in four, else raw text.
#[derive(Arbitrary, Debug)]
pub enum Pattern {
    Built(BuiltPattern),
    AlsoBuilt(BuiltPattern),
    BuiltToo(BuiltPattern),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub struct BuiltPattern {
    host: Host,
    port: Pick,
    path: Option<PatternPath>,
}

#[derive(Arbitrary, Debug)]
pub enum ReferenceHost {
    Whole(Pick),
    Labels(Pick, Vec<Pick>),
    None,
}

/// A reference built from the tables three times in four, else raw text.
#[derive(Arbitrary, Debug)]
pub enum Reference {
    Built(BuiltReference),
    AlsoBuilt(BuiltReference),
    BuiltToo(BuiltReference),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub struct BuiltReference {
    host: ReferenceHost,
    port: Pick,
    repository: (Pick, Vec<Pick>),
    tag: Pick,
    digest: Pick,
}

/// Up to [`MAX_PATTERNS`] patterns, up to [`MAX_REFERENCES`] references and an accept mask.
///
/// Its `Debug` shows the strings the target checks, so `cargo fuzz fmt index ARTIFACT` prints a
/// failing case ready to paste into `tests/fuzz_regressions.rs`.
#[derive(Arbitrary)]
pub struct IndexInput {
    pub accepted: u64,
    /// At least one reference.
    pub reference: Reference,
    pub more_references: Vec<Reference>,
    /// Last, so that it takes the rest of the fuzzer's bytes.
    pub patterns: Vec<Pattern>,
}

impl IndexInput {
    /// The pattern strings and the reference strings (not all of them parse).
    pub fn strings(&self) -> (Vec<String>, Vec<String>) {
        let patterns = self
            .patterns
            .iter()
            .take(MAX_PATTERNS)
            .map(Pattern::text)
            .collect();
        let references = std::iter::once(&self.reference)
            .chain(&self.more_references)
            .take(MAX_REFERENCES)
            .map(Reference::text)
            .collect();
        (patterns, references)
    }
}

impl fmt::Debug for IndexInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (patterns, references) = self.strings();
        f.debug_struct("IndexInput")
            .field("patterns", &patterns)
            .field("references", &references)
            .field("accepted", &format_args!("{:#x}", self.accepted))
            .finish()
    }
}

/// `first` and `more` picked from `table`, at most `max` of them, joined by `sep`.
fn joined(
    first: Pick,
    more: &[Pick],
    table: &'static [&'static str],
    max: usize,
    sep: &str,
) -> String {
    let parts: Vec<&str> = std::iter::once(&first)
        .chain(more)
        .take(max)
        .map(|p| p.of(table))
        .collect();
    parts.join(sep)
}

impl Host {
    fn text(&self) -> String {
        match self {
            Host::Whole(p) | Host::AlsoWhole(p) => p.of(PATTERN_HOSTS).to_owned(),
            Host::Labels(first, more) => joined(*first, more, LABELS, 4, "."),
            Host::Raw(s) => s.clone(),
        }
    }
}

impl Pattern {
    fn text(&self) -> String {
        let BuiltPattern { host, port, path } = match self {
            Pattern::Raw(s) => return s.clone(),
            Pattern::Built(b) | Pattern::AlsoBuilt(b) | Pattern::BuiltToo(b) => b,
        };
        let mut s = host.text();
        s.push_str(port.of(PORTS));
        match path {
            None => {}
            Some(PatternPath::Star) => s.push_str("/*"),
            Some(PatternPath::Raw(raw)) => {
                s.push('/');
                s.push_str(raw);
            }
            Some(PatternPath::Segments(first, more, version))
            | Some(PatternPath::AlsoSegments(first, more, version)) => {
                s.push('/');
                s.push_str(&joined(*first, more, SEGMENTS, 4, "/"));
                s.push_str(version.of(VERSIONS));
            }
        }
        s
    }
}

impl Reference {
    fn text(&self) -> String {
        let BuiltReference {
            host,
            port,
            repository,
            tag,
            digest,
        } = match self {
            Reference::Raw(s) => return s.clone(),
            Reference::Built(b) | Reference::AlsoBuilt(b) | Reference::BuiltToo(b) => b,
        };
        let mut s = match host {
            ReferenceHost::Whole(p) => p.of(REFERENCE_HOSTS).to_owned(),
            ReferenceHost::Labels(first, more) => {
                joined(*first, more, LABELS, 4, ".").replace('*', "a")
            }
            ReferenceHost::None => String::new(),
        };
        s.push_str(port.of(PORTS));
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(&joined(
            repository.0,
            &repository.1,
            REPOSITORY_SEGMENTS,
            4,
            "/",
        ));
        s.push_str(tag.of(TAGS));
        let digest = digest.of(DIGESTS);
        if !digest.is_empty() {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}
