//! Match patterns: which images a registry entry serves.
//!
//! A pattern is `HOST[:PORT][/PATH]`, matched against the *normalised* image reference
//! (`ubuntu` is `docker.io/library/ubuntu:latest`):
//!
//! - **HOST**: dot-separated labels, compared ASCII-case-insensitively. `*` inside a label
//!   matches any run of characters within that one label, never `.`, `:` or `/`, and the
//!   pattern and the image must have the same number of labels. So
//!   `*.dkr.ecr.*.amazonaws.com` matches `123456789012.dkr.ecr.eu-west-1.amazonaws.com` and
//!   never `evil.example/123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
//! - **PORT**: must be equal; a pattern without a port matches only images without one.
//! - **PATH**: absent or `*` serves every image on the host. A path without `:` or `@` is
//!   matched against the repository; one with `:` or `@` against `REPOSITORY[:TAG][@DIGEST]`.
//!   `*` matches any run of characters including `/`, `?` exactly one. A path without
//!   wildcards is a repository and everything below it on a `/` boundary (`team` serves
//!   `team`, `team:v1` and `team/x`, never `teammate`), or, with `:` or `@`, must be equal.
//!
//! ```
//! use registry_auth::pattern::MatchPattern;
//! use registry_auth::reference::ImageReference;
//!
//! let pattern = MatchPattern::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*")?;
//! let image = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/train:v1")?;
//! assert!(pattern.matches(&image));
//!
//! let other = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:v1")?;
//! assert!(!pattern.matches(&other));
//! # Ok::<(), registry_auth::Error>(())
//! ```
//!
//! When several patterns match, [`best_match`] picks the most specific one (see
//! [`Specificity`]) and [`explain`] says why it won.

use std::cmp::Ordering;
use std::fmt;

use wildmatch::WildMatch;

use crate::reference::{ImageRef, ImageReference, ReferenceErrorKind};

/// A parsed, validated match pattern.
#[derive(Clone)]
pub struct MatchPattern {
    source: String,
    host: HostPattern,
    port: Option<u16>,
    path: PathPattern,
    specificity: Specificity,
}

/// The host part of a pattern, lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// No wildcard: the host must be equal (ASCII case-insensitively).
    Literal(Box<str>),
    /// At least one label holds `*`: one entry per label.
    Labels(Box<[Box<str>]>),
}

/// The path part of a pattern.
#[derive(Clone)]
pub(crate) enum PathPattern {
    /// Absent or `*`: every image on the host.
    Any,
    /// No wildcard, no `:` or `@`: this repository or below it on a `/` boundary.
    Repository(Box<str>),
    /// No wildcard, with `:` or `@`: `REPOSITORY[:TAG][@DIGEST]` must be equal.
    Exact(Box<str>),
    /// A glob over the repository (`versioned == false`) or over `REPOSITORY[:TAG][@DIGEST]`.
    ///
    /// `glob` is `None` when the only wildcard is one `*` at the end (`team/*`, the usual
    /// glob): a prefix test then decides, and no matcher is kept. (Boxed, as the other
    /// variants' text is, to keep every pattern small: an index holds many.)
    Glob {
        text: Box<str>,
        glob: Option<Box<WildMatch>>,
        versioned: bool,
    },
}

/// How specific a pattern is; when several patterns match one image, the most specific wins.
///
/// Compared in this order (the best-match rules of `docs/design.md`):
/// 1. fewer wildcard host labels, then more literal host characters: credentials belong to a
///    registry account first;
/// 2. a longer literal path prefix before the first wildcard, then more literal path characters.
///
/// Patterns with equal specificity are ordered by their place in the configuration: the entry
/// listed first wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Specificity {
    /// Host labels that hold a `*`.
    pub wildcard_host_labels: u32,
    /// Host characters other than `*` (port excluded).
    pub literal_host_chars: u32,
    /// Path characters before the first `*` or `?`; the whole path when it has none.
    pub literal_path_prefix: u32,
    /// Path characters other than `*` and `?`.
    pub literal_path_chars: u32,
}

impl Ord for Specificity {
    /// `Greater` means more specific.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .wildcard_host_labels
            .cmp(&self.wildcard_host_labels)
            .then(self.literal_host_chars.cmp(&other.literal_host_chars))
            .then(self.literal_path_prefix.cmp(&other.literal_path_prefix))
            .then(self.literal_path_chars.cmp(&other.literal_path_chars))
    }
}

impl PartialOrd for Specificity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Specificity {
    /// Why `self` loses to (or ties with) the more specific `winner`, as a short phrase.
    pub fn reason_against(&self, winner: &Specificity) -> String {
        match self.deciding_rule(winner) {
            Some((rule, mine, theirs)) => rule.phrase(false, mine, theirs),
            None => "equally specific, listed later".to_owned(),
        }
    }

    /// Why `self`, the more specific, beats `loser`, as a short phrase.
    fn reason_over(&self, loser: &Specificity) -> String {
        match self.deciding_rule(loser) {
            Some((rule, mine, theirs)) => rule.phrase(true, mine, theirs),
            None => "equally specific, listed first".to_owned(),
        }
    }

    /// The first rule, in the order of [`Ord`], on which `self` and `other` differ, with
    /// `self`'s and `other`'s values.
    fn deciding_rule(&self, other: &Specificity) -> Option<(Rule, u32, u32)> {
        [
            (
                Rule::WildcardHostLabels,
                self.wildcard_host_labels,
                other.wildcard_host_labels,
            ),
            (
                Rule::LiteralHostChars,
                self.literal_host_chars,
                other.literal_host_chars,
            ),
            (
                Rule::LiteralPathPrefix,
                self.literal_path_prefix,
                other.literal_path_prefix,
            ),
            (
                Rule::LiteralPathChars,
                self.literal_path_chars,
                other.literal_path_chars,
            ),
        ]
        .into_iter()
        .find(|(_, mine, theirs)| mine != theirs)
    }
}

/// The best-match rules, in the order they are applied.
#[derive(Clone, Copy)]
enum Rule {
    WildcardHostLabels,
    LiteralHostChars,
    LiteralPathPrefix,
    LiteralPathChars,
}

impl Rule {
    /// `more wildcard host labels (2 vs 1)` from the loser's side, `fewer …` from the winner's.
    fn phrase(self, winning: bool, mine: u32, theirs: u32) -> String {
        let (win, lose, what) = match self {
            Rule::WildcardHostLabels => ("fewer", "more", "wildcard host labels"),
            Rule::LiteralHostChars => ("more", "fewer", "literal host characters"),
            Rule::LiteralPathPrefix => ("longer", "shorter", "literal path prefix"),
            Rule::LiteralPathChars => ("more", "fewer", "literal path characters"),
        };
        let word = if winning { win } else { lose };
        let unit = if matches!(self, Rule::LiteralPathPrefix) {
            " characters"
        } else {
            ""
        };
        format!("{word} {what} ({mine} vs {theirs}{unit})")
    }
}

impl MatchPattern {
    /// Parses and validates a pattern.
    ///
    /// Errors name the offending character and its byte position: a scheme, whitespace, an
    /// empty label, a bad port, a trailing `/`, an empty path segment, or a character that no
    /// image reference can hold.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        Parser { src: source }.parse()
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// How specific the pattern is, for best-match ordering.
    pub fn specificity(&self) -> Specificity {
        self.specificity
    }

    /// The lowercased host when it has no wildcard.
    pub fn literal_host(&self) -> Option<&str> {
        match &self.host {
            HostPattern::Literal(h) => Some(h),
            HostPattern::Labels(_) => None,
        }
    }

    /// The port the pattern requires, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The pattern as it is read: host lowercased, a missing path written `*`. Two patterns with
    /// the same key serve exactly the same images (`Example.com` and `example.com/*`).
    pub(crate) fn canonical(&self) -> String {
        let host = match &self.host {
            HostPattern::Literal(h) => h.to_string(),
            HostPattern::Labels(labels) => labels.join("."),
        };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = match &self.path {
            PathPattern::Any => "*",
            PathPattern::Repository(text) | PathPattern::Exact(text) => text,
            PathPattern::Glob { text, .. } => text,
        };
        format!("{host}{port}/{path}")
    }

    pub(crate) fn host_pattern(&self) -> &HostPattern {
        &self.host
    }

    pub(crate) fn path_pattern(&self) -> &PathPattern {
        &self.path
    }

    /// Whether the pattern serves `image` (an [`ImageReference`] or a borrowed [`ImageRef`]).
    pub fn matches<'i>(&self, image: impl Into<ImageRef<'i>>) -> bool {
        let image = image.into();
        self.port == image.port() && self.host_matches(image.host()) && self.path_matches(image)
    }

    /// Whether the pattern's host and port fit the registry `host`/`port`, whatever its path:
    /// the question when only a registry is named (the docker credential helper protocol).
    pub fn serves_registry(&self, host: &str, port: Option<u16>) -> bool {
        self.port == port && self.host_matches(host)
    }

    /// Whether the pattern serves every image of its hosts (no path, or `*`), rather than
    /// narrowing by repository.
    pub fn serves_whole_host(&self) -> bool {
        matches!(self.path, PathPattern::Any)
    }

    /// Whether the path pins tags or digests (`app:release-*`, `app@sha256:…`): it is matched
    /// against `REPOSITORY[:TAG][@DIGEST]` rather than the repository alone.
    pub fn pins_version(&self) -> bool {
        matches!(
            self.path,
            PathPattern::Exact(_)
                | PathPattern::Glob {
                    versioned: true,
                    ..
                }
        )
    }

    pub(crate) fn host_matches(&self, host: &str) -> bool {
        match &self.host {
            HostPattern::Literal(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Labels(labels) => labels_match(labels, host),
        }
    }

    pub(crate) fn path_matches(&self, image: ImageRef<'_>) -> bool {
        self.path.matches(image)
    }
}

impl PathPattern {
    pub(crate) fn matches(&self, image: ImageRef<'_>) -> bool {
        match self {
            PathPattern::Any => true,
            PathPattern::Repository(repo) => {
                let r = image.repository();
                r.strip_prefix(&**repo)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
            PathPattern::Exact(text) => image.path_and_version() == &**text,
            PathPattern::Glob {
                text,
                glob,
                versioned,
            } => {
                let subject = if *versioned {
                    image.path_and_version()
                } else {
                    image.repository()
                };
                match glob {
                    Some(glob) => glob.matches(subject),
                    None => subject.starts_with(&text[..text.len() - 1]),
                }
            }
        }
    }
}

/// Matches a host against wildcard labels: equal label counts, `*` within one label.
fn labels_match(labels: &[Box<str>], host: &str) -> bool {
    let mut parts = host.split('.');
    for label in labels {
        match parts.next() {
            Some(part) if label_matches(label.as_bytes(), part.as_bytes()) => {}
            _ => return false,
        }
    }
    parts.next().is_none()
}

/// Glob of one lowercased label (only `*`) against one host label, ASCII case-insensitively.
pub(crate) fn label_matches(pattern: &[u8], text: &[u8]) -> bool {
    // Classic iterative wildcard match with one backtrack point: linear for our inputs.
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && pattern[p] != b'*' && pattern[p] == text[t].to_ascii_lowercase() {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

impl fmt::Display for MatchPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for MatchPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MatchPattern").field(&self.source).finish()
    }
}

impl PartialEq for MatchPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for MatchPattern {}

impl std::str::FromStr for MatchPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An invalid match pattern: the pattern, where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pattern: String,
    position: usize,
    kind: PatternErrorKind,
}

/// What is wrong with a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// The pattern is empty.
    Empty,
    /// The pattern starts with a URL scheme such as `https://`.
    Scheme,
    /// The pattern holds a space, tab or other whitespace.
    Whitespace,
    /// Two dots in a row, or a dot at either end of the host.
    EmptyLabel,
    /// A character that a host label cannot hold.
    InvalidHostChar(char),
    /// The port is empty, not a number, or above 65535.
    InvalidPort,
    /// The pattern ends with `/`.
    TrailingSlash,
    /// Two slashes in a row.
    EmptyPathSegment,
    /// A character that an image path, tag or digest cannot hold.
    InvalidPathChar(char),
    /// An upper-case letter in the repository part, which never matches anything.
    UppercaseRepository(char),
    /// A bracketed IPv6 host that is not closed or is not an IPv6 address.
    InvalidIpv6,
    /// A host label that starts or ends with `-`.
    HyphenAtLabelEdge,
    /// A wildcard-free part of the path (a repository component, `:TAG` or `@DIGEST`) that no
    /// image reference can hold, so the pattern could never match: the part, and the reference
    /// grammar's reason.
    Unmatchable(String, String),
}

impl PatternError {
    fn new(pattern: &str, position: usize, kind: PatternErrorKind) -> Self {
        Self {
            pattern: pattern.to_owned(),
            position,
            kind,
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Byte offset of the problem in the pattern.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong.
    pub fn kind(&self) -> &PatternErrorKind {
        &self.kind
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PatternErrorKind::*;
        let what = match &self.kind {
            Empty => "is empty; write HOST[:PORT][/PATH], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/*".to_owned(),
            Scheme => "starts with a URL scheme; remove it (patterns are HOST[:PORT][/PATH], like image names)".to_owned(),
            Whitespace => "holds whitespace; remove it".to_owned(),
            EmptyLabel => "has an empty host label (`..`, or a dot at either end of the host); remove the extra dot".to_owned(),
            InvalidHostChar(c) => format!("has {c:?} in the host; host labels hold only letters, digits, `-` and `*`"),
            InvalidPort => "has a port that is not a number from 0 to 65535".to_owned(),
            TrailingSlash => "ends with `/`; end with `/*` to serve everything below a path, or drop the slash".to_owned(),
            EmptyPathSegment => "has an empty path segment (`//`); remove the extra slash".to_owned(),
            InvalidPathChar(c) => format!("has {c:?} in the path; paths hold lowercase letters, digits, `.`, `_`, `-`, `/`, wildcards `*` and `?`, and `:TAG` or `@DIGEST`"),
            UppercaseRepository(c) => format!("has the upper-case letter {c:?} in the repository path, which never matches (repositories are lowercase); write it in lowercase"),
            InvalidIpv6 => "has a bracketed host that is not an IPv6 address closed with `]`".to_owned(),
            HyphenAtLabelEdge => "has a host label that starts or ends with `-`, which no host name does".to_owned(),
            Unmatchable(part, why) => format!("has {part:?}, which no image reference can hold ({why}), so the pattern would never match"),
        };
        write!(
            f,
            "match pattern {:?} {what} (at byte {})",
            self.pattern, self.position
        )
    }
}

impl std::error::Error for PatternError {}

struct Parser<'a> {
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self, position: usize, kind: PatternErrorKind) -> PatternError {
        PatternError::new(self.src, position, kind)
    }

    fn parse(&self) -> Result<MatchPattern, PatternError> {
        let src = self.src;
        if src.is_empty() {
            return Err(self.err(0, PatternErrorKind::Empty));
        }
        if let Some(i) = src.find(char::is_whitespace) {
            return Err(self.err(i, PatternErrorKind::Whitespace));
        }
        if let Some(i) = src.find("://") {
            if src[..i].bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(self.err(0, PatternErrorKind::Scheme));
            }
        }
        let host_end = src.find('/').unwrap_or(src.len());
        let (host, port, literal_host_chars, wildcard_host_labels) =
            self.parse_authority(&src[..host_end])?;
        let (path, literal_path_prefix, literal_path_chars) = match src.get(host_end + 1..) {
            None => (PathPattern::Any, 0, 0),
            Some(path) => self.parse_path(path, host_end + 1)?,
        };
        Ok(MatchPattern {
            source: src.to_owned(),
            host,
            port,
            path,
            specificity: Specificity {
                wildcard_host_labels,
                literal_host_chars,
                literal_path_prefix,
                literal_path_chars,
            },
        })
    }

    /// `HOST[:PORT]` → (host, port, literal host chars, wildcard labels).
    fn parse_authority(
        &self,
        auth: &str,
    ) -> Result<(HostPattern, Option<u16>, u32, u32), PatternError> {
        if auth.starts_with('[') {
            let close = auth
                .find(']')
                .ok_or_else(|| self.err(0, PatternErrorKind::InvalidIpv6))?;
            if let Some(i) =
                auth[1..close].find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
            {
                return Err(self.err(1 + i, PatternErrorKind::InvalidIpv6));
            }
            if auth[1..close].parse::<std::net::Ipv6Addr>().is_err() {
                return Err(self.err(1, PatternErrorKind::InvalidIpv6));
            }
            let port = self.parse_port(&auth[close + 1..], close + 1)?;
            let host = auth[..=close].to_ascii_lowercase();
            let chars = host.len() as u32;
            return Ok((HostPattern::Literal(host.into()), port, chars, 0));
        }
        let (host, port_part) = match auth.find(':') {
            Some(i) => (&auth[..i], &auth[i..]),
            None => (auth, ""),
        };
        let port = self.parse_port(port_part, host.len())?;
        let mut offset = 0;
        let mut wildcard_labels = 0;
        for label in host.split('.') {
            if label.is_empty() {
                return Err(self.err(offset, PatternErrorKind::EmptyLabel));
            }
            if let Some((i, c)) = label
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '*'))
            {
                return Err(self.err(offset + i, PatternErrorKind::InvalidHostChar(c)));
            }
            // Host labels never start or end with `-` (a `*` there may stand for a letter).
            if label.starts_with('-') {
                return Err(self.err(offset, PatternErrorKind::HyphenAtLabelEdge));
            }
            if label.ends_with('-') {
                return Err(self.err(
                    offset + label.len() - 1,
                    PatternErrorKind::HyphenAtLabelEdge,
                ));
            }
            wildcard_labels += u32::from(label.contains('*'));
            offset += label.len() + 1;
        }
        let lower = host.to_ascii_lowercase();
        let literal_chars = lower.bytes().filter(|&b| b != b'*').count() as u32;
        let host = if wildcard_labels == 0 {
            HostPattern::Literal(lower.into())
        } else {
            HostPattern::Labels(lower.split('.').map(Box::from).collect())
        };
        Ok((host, port, literal_chars, wildcard_labels))
    }

    /// `""` or `":PORT"` starting at byte `at`.
    fn parse_port(&self, part: &str, at: usize) -> Result<Option<u16>, PatternError> {
        if part.is_empty() {
            return Ok(None);
        }
        let digits = part
            .strip_prefix(':')
            .ok_or_else(|| self.err(at, PatternErrorKind::InvalidPort))?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(at, PatternErrorKind::InvalidPort));
        }
        digits
            .parse::<u16>()
            .map(Some)
            .map_err(|_| self.err(at + 1, PatternErrorKind::InvalidPort))
    }

    /// Every wildcard-free piece of the path (a repository component, the tag, the digest) must
    /// be something an image reference can hold, or the pattern could never match. The reference
    /// parser is the judge, so the two grammars cannot drift apart.
    fn check_grammar(&self, path: &str, at: usize, repo_end: usize) -> Result<(), PatternError> {
        let wild = |piece: &str| piece.contains(['*', '?']);
        let probe = |text: String| ImageReference::parse(&text).map_err(|e| grammar_rule(e.kind()));
        let mut offset = 0;
        for component in path[..repo_end].split('/') {
            if !wild(component) {
                probe(format!("x.example/{component}")).map_err(|why| {
                    self.err(
                        at + offset,
                        PatternErrorKind::Unmatchable(component.to_owned(), why),
                    )
                })?;
            }
            offset += component.len() + 1;
        }
        let version = &path[repo_end..];
        let (tag, digest) = match version.find('@') {
            Some(i) => (&version[..i], Some(&version[i..])),
            None => (version, None),
        };
        if let Some(t) = tag.strip_prefix(':').filter(|t| !wild(t)) {
            probe(format!("x.example/x:{t}")).map_err(|why| {
                self.err(
                    at + repo_end,
                    PatternErrorKind::Unmatchable(tag.to_owned(), why),
                )
            })?;
        }
        if let Some(d) = digest.filter(|d| !wild(d)) {
            probe(format!("x.example/x{d}")).map_err(|why| {
                self.err(
                    at + repo_end + tag.len(),
                    PatternErrorKind::Unmatchable(d.to_owned(), why),
                )
            })?;
        }
        Ok(())
    }

    /// The path after `HOST[:PORT]/`, starting at byte `at`.
    fn parse_path(&self, path: &str, at: usize) -> Result<(PathPattern, u32, u32), PatternError> {
        if path.is_empty() {
            return Err(self.err(at - 1, PatternErrorKind::TrailingSlash));
        }
        if path == "*" {
            return Ok((PathPattern::Any, 0, 0));
        }
        let repo_end = path.find([':', '@']).unwrap_or(path.len());
        for (i, c) in path.char_indices() {
            let ok = if i < repo_end {
                matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-' | '/' | '*' | '?')
            } else {
                c.is_ascii_alphanumeric()
                    || matches!(c, '.' | '_' | '-' | ':' | '@' | '+' | '=' | '*' | '?')
            };
            if !ok {
                let kind = if i < repo_end && c.is_ascii_uppercase() {
                    PatternErrorKind::UppercaseRepository(c)
                } else {
                    PatternErrorKind::InvalidPathChar(c)
                };
                return Err(self.err(at + i, kind));
            }
        }
        if let Some(i) = path[..repo_end].find("//") {
            return Err(self.err(at + i + 1, PatternErrorKind::EmptyPathSegment));
        }
        if path[..repo_end].ends_with('/') {
            let kind = if repo_end == path.len() {
                PatternErrorKind::TrailingSlash
            } else {
                PatternErrorKind::EmptyPathSegment
            };
            return Err(self.err(at + repo_end - 1, kind));
        }
        // A leading `/` (`host//x`), or no repository before `:TAG` / `@DIGEST` (`host/:v1`).
        if path.starts_with('/') || repo_end == 0 {
            return Err(self.err(at, PatternErrorKind::EmptyPathSegment));
        }
        self.check_grammar(path, at, repo_end)?;
        let versioned = repo_end < path.len();
        let prefix = path.find(['*', '?']).unwrap_or(path.len()) as u32;
        let literal = path.bytes().filter(|&b| b != b'*' && b != b'?').count() as u32;
        let text: Box<str> = path.into();
        let pattern = if prefix as usize == path.len() {
            if versioned {
                PathPattern::Exact(text)
            } else {
                PathPattern::Repository(text)
            }
        } else {
            let star_tail = prefix as usize + 1 == path.len() && path.ends_with('*');
            PathPattern::Glob {
                glob: (!star_tail).then(|| Box::new(WildMatch::new(&text))),
                text,
                versioned,
            }
        };
        Ok((pattern, prefix, literal))
    }
}

/// The reference-grammar rule a wildcard-free piece of a pattern breaks, in a few words.
fn grammar_rule(kind: &ReferenceErrorKind) -> String {
    match kind {
        ReferenceErrorKind::InvalidPathComponent => {
            "repository components are lowercase letters and digits joined by `.`, `_`, `__` or `-`"
        }
        ReferenceErrorKind::NameTooLong => "a repository is at most 255 characters",
        ReferenceErrorKind::InvalidTag => {
            "a tag is 1 to 128 letters, digits, `_`, `.` or `-`, and does not start with `.` or `-`"
        }
        ReferenceErrorKind::InvalidDigest | ReferenceErrorKind::UnsupportedDigestAlgorithm => {
            "a digest is sha256, sha384 or sha512, a `:`, and 64, 96 or 128 lowercase hex digits"
        }
        _ => "the image reference grammar does not allow it",
    }
    .to_owned()
}

/// One pattern that matched an image, with its place in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Candidate {
    /// The entry's position in the configuration, from 0.
    pub index: usize,
    /// The pattern as written.
    pub pattern: String,
    /// How specific the pattern is.
    pub specificity: Specificity,
    /// For the winner, the rule that decided against the runner-up (`"won over [1]: longer
    /// literal path prefix (8 vs 0 characters)"`, or `"won: the only matching pattern"`);
    /// for every other candidate, the rule on which it lost (`"lost to [1]: …"`), or why it
    /// was ruled out (`"ruled out: belongs to another organisation"`).
    pub reason: String,
    /// The entry matched but may not serve this request (see [`explain_by`]).
    pub ruled_out: bool,
}

/// The best-match decision for one image, with every candidate that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// The winning entry's position in the configuration, if any pattern matched.
    pub winner: Option<usize>,
    /// Every matching pattern, in configuration order.
    pub candidates: Vec<Candidate>,
}

/// Whether a pattern with specificity `s`, listed after the current best, beats it: only by
/// being strictly more specific, so that among equals the one listed first wins. Callers go
/// through the patterns in the order they are listed.
pub(crate) fn beats(s: Specificity, best: Option<(Specificity, usize)>) -> bool {
    best.is_none_or(|(bs, _)| s > bs)
}

/// The index of the most specific pattern that matches `image`, by a plain scan.
///
/// This is the reference behaviour; [`PatternIndex`](crate::index::PatternIndex) returns the same
/// answer without looking at every pattern.
pub fn best_match<'a, 'i, I>(patterns: I, image: impl Into<ImageRef<'i>>) -> Option<usize>
where
    I: IntoIterator<Item = &'a MatchPattern>,
{
    let image = image.into();
    let mut best: Option<(Specificity, usize)> = None;
    for (i, p) in patterns.into_iter().enumerate() {
        if p.matches(image) && beats(p.specificity, best) {
            best = Some((p.specificity, i));
        }
    }
    best.map(|(_, i)| i)
}

/// The position of the pattern that serves a registry when only its `host` and `port` are
/// known (the docker credential helper protocol names a registry, never an image).
///
/// The candidates are the patterns whose host and port fit, whatever their path. The best has
/// fewer wildcard host labels, then more literal host characters (the host half of the
/// best-match rule), then serves the whole host (no path, or `*`) rather than narrowing by path,
/// then is listed first.
pub fn best_for_host<'a, I>(patterns: I, host: &str, port: Option<u16>) -> Option<usize>
where
    I: IntoIterator<Item = &'a MatchPattern>,
{
    let rank = |p: &MatchPattern| {
        let s = p.specificity;
        let whole_host = matches!(p.path, PathPattern::Any);
        (
            std::cmp::Reverse(s.wildcard_host_labels),
            s.literal_host_chars,
            whole_host,
        )
    };
    let mut best: Option<(usize, &MatchPattern)> = None;
    for (i, p) in patterns.into_iter().enumerate() {
        if p.port != port || !p.host_matches(host) {
            continue;
        }
        if best.is_none_or(|(_, b)| rank(p) > rank(b)) {
            best = Some((i, p));
        }
    }
    best.map(|(i, _)| i)
}

/// The first pattern that serves exactly the images of an earlier one (`Example.com` and
/// `example.com/*` do), as `(later, earlier)` positions: two such entries are a mistake, since
/// the later one could never win.
///
/// ```
/// use registry_auth::pattern::{first_duplicate, MatchPattern};
///
/// let p = |s| MatchPattern::parse(s).unwrap();
/// let patterns = [p("Registry.example.com"), p("registry.example.com/team/*"), p("registry.example.com/*")];
/// assert_eq!(first_duplicate(&patterns), Some((2, 0)));
/// ```
pub fn first_duplicate<'a, I>(patterns: I) -> Option<(usize, usize)>
where
    I: IntoIterator<Item = &'a MatchPattern>,
{
    let mut seen = std::collections::HashMap::new();
    for (i, p) in patterns.into_iter().enumerate() {
        if let Some(&first) = seen.get(&p.canonical()) {
            return Some((i, first));
        }
        seen.insert(p.canonical(), i);
    }
    None
}

/// Every pattern that matches `image`, the winner, and why each loser lost.
pub fn explain<'a, 'i, I>(patterns: I, image: impl Into<ImageRef<'i>>) -> Explanation
where
    I: IntoIterator<Item = &'a MatchPattern>,
{
    explain_by(patterns, image, |_| None)
}

/// Like [`explain`], with some entries ruled out: `rule_out(index)` returns why the entry may
/// not serve this request (its scope, say), or `None`. A ruled-out entry whose pattern matched
/// is listed among the candidates with that reason and never wins.
pub fn explain_by<'a, 'i, I, F>(
    patterns: I,
    image: impl Into<ImageRef<'i>>,
    rule_out: F,
) -> Explanation
where
    I: IntoIterator<Item = &'a MatchPattern>,
    F: FnMut(usize) -> Option<String>,
{
    explain_at(patterns, image.into(), rule_out, |i| i)
}

/// [`explain_by`], naming each pattern by `position(i)` rather than its place in `patterns`:
/// for a resolver holding a part of a file, whose explanations speak of the file's positions.
pub(crate) fn explain_at<'a, I, F>(
    patterns: I,
    image: ImageRef<'_>,
    mut rule_out: F,
    position: impl Fn(usize) -> usize,
) -> Explanation
where
    I: IntoIterator<Item = &'a MatchPattern>,
    F: FnMut(usize) -> Option<String>,
{
    let matched: Vec<(usize, &MatchPattern, Option<String>)> = patterns
        .into_iter()
        .enumerate()
        .filter(|(_, p)| p.matches(image))
        .map(|(i, p)| (i, p, rule_out(i)))
        .collect();
    let permitted = || matched.iter().filter(|(_, _, out)| out.is_none());
    let mut best: Option<(Specificity, usize)> = None;
    for &(index, p, _) in permitted() {
        if beats(p.specificity, best) {
            best = Some((p.specificity, index));
        }
    }
    // The runner-up: the candidate that would have won without the winner. The rule on which
    // the winner beats it is the rule that decided.
    let mut runner_up: Option<(Specificity, usize)> = None;
    for &(index, p, _) in permitted() {
        if best.is_some_and(|(_, w)| w != index) && beats(p.specificity, runner_up) {
            runner_up = Some((p.specificity, index));
        }
    }
    let candidates = matched
        .iter()
        .map(|(index, p, out)| Candidate {
            index: position(*index),
            pattern: p.source.clone(),
            specificity: p.specificity,
            reason: match (out, best) {
                (Some(why), _) => format!("ruled out: {why}"),
                (None, Some((_, w))) if w == *index => {
                    win_reason(p.specificity, runner_up.map(|(r, ri)| (r, position(ri))))
                }
                (None, Some((ws, w))) => format!(
                    "lost to [{}]: {}",
                    position(w),
                    p.specificity.reason_against(&ws)
                ),
                (None, None) => String::new(),
            },
            ruled_out: out.is_some(),
        })
        .collect();
    let winner = best.map(|(_, i)| position(i));
    Explanation { winner, candidates }
}

/// Why the winner won: the first best-match rule on which it beats the runner-up.
fn win_reason(winner: Specificity, runner_up: Option<(Specificity, usize)>) -> String {
    match runner_up {
        None => "won: the only matching pattern".to_owned(),
        Some((r, ri)) => format!("won over [{ri}]: {}", winner.reason_over(&r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_whose_only_wildcard_ends_it_is_a_prefix_test_that_agrees_with_the_matcher() {
        let images = [
            "h.io/team/app:1",
            "h.io/team:1",
            "h.io/teams/x",
            "h.io/tea",
            "h.io/team-a/b/c:2",
            "h.io/app:v1",
            "h.io/app:v1.2",
            "h.io/app:v2",
            "h.io/apps:v1",
        ];
        for (pattern, star_tail) in [
            ("h.io/team/*", true),
            ("h.io/team*", true),
            ("h.io/app:v1*", true),
            ("h.io/t?am/*", false),
            ("h.io/*/app", false),
            ("h.io/te*m*", false),
        ] {
            let parsed = MatchPattern::parse(pattern).unwrap();
            let PathPattern::Glob {
                text,
                glob,
                versioned,
            } = parsed.path_pattern()
            else {
                panic!("{pattern} is a glob");
            };
            assert_eq!(glob.is_none(), star_tail, "{pattern}");
            let matcher = WildMatch::new(text);
            for image in images {
                let image = ImageReference::parse(image).unwrap();
                let subject = if *versioned {
                    image.path_and_version()
                } else {
                    image.repository()
                };
                assert_eq!(
                    parsed.path_matches(image.as_image_ref()),
                    matcher.matches(subject),
                    "{pattern} on {image}"
                );
            }
        }
    }

    #[test]
    fn explain_names_the_winner_the_runner_up_and_each_losers_rule() {
        let patterns: Vec<MatchPattern> = [
            "reg.example.com/*",
            "reg.example.com/team/*",
            "*.example.com/*",
            "reg.example.com/team/*/x",
            "other.example.com/*",
        ]
        .iter()
        .map(|p| MatchPattern::parse(p).unwrap())
        .collect();
        let mut scratch = String::new();
        let image = ImageRef::parse("reg.example.com/team/app:v1", &mut scratch).unwrap();
        let explained = explain(&patterns, image);
        assert_eq!(explained.winner, Some(1));
        let reasons: Vec<(usize, &str)> = explained
            .candidates
            .iter()
            .map(|c| (c.index, c.reason.as_str()))
            .collect();
        // The runner-up is the entry that would have won without the winner: [0], which beats
        // the wildcard host [2]; the winner beats it on the literal path prefix.
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, 0);
        assert!(reasons[0].1.starts_with("lost to [1]: "), "{reasons:?}");
        assert_eq!(reasons[1].0, 1);
        assert!(reasons[1].1.starts_with("won over [0]: "), "{reasons:?}");
        assert!(reasons[1].1.contains("path"), "{reasons:?}");
        assert_eq!(reasons[2].0, 2);
        assert!(reasons[2].1.starts_with("lost to [1]: "), "{reasons:?}");
        assert!(reasons[2].1.contains("wildcard"), "{reasons:?}");

        // Alone, a pattern wins for being the only one; equals go to the one listed first.
        let alone = explain(
            &patterns[4..],
            ImageRef::parse("other.example.com/a", &mut scratch).unwrap(),
        );
        assert_eq!(alone.winner, Some(0));
        assert_eq!(alone.candidates[0].reason, "won: the only matching pattern");
        let twins = [
            MatchPattern::parse("reg.example.com/*").unwrap(),
            MatchPattern::parse("reg.example.com").unwrap(),
        ];
        let tie = explain(
            &twins,
            ImageRef::parse("reg.example.com/a", &mut scratch).unwrap(),
        );
        assert_eq!(tie.winner, Some(0));
        assert_eq!(
            tie.candidates[0].reason,
            "won over [1]: equally specific, listed first"
        );
        assert!(tie.candidates[1].reason.starts_with("lost to [0]: "));
        assert_eq!(
            best_match(
                &twins,
                ImageRef::parse("reg.example.com/a", &mut scratch).unwrap()
            ),
            Some(0)
        );
    }

    #[test]
    fn a_literal_path_too_long_for_any_image_names_the_limit() {
        let long = format!("reg.example.com/{}", "a".repeat(256));
        let err = MatchPattern::parse(&long).unwrap_err().to_string();
        assert!(
            err.contains("a repository is at most 255 characters"),
            "{err}"
        );
        let fits = format!("reg.example.com/{}", "a".repeat(255));
        assert!(MatchPattern::parse(&fits).is_ok());
    }

    #[test]
    fn first_duplicate_names_the_later_and_the_earlier_position() {
        let p = |s: &str| MatchPattern::parse(s).unwrap();
        assert_eq!(
            first_duplicate(&[p("a.example.com/*"), p("b.example.com/*")]),
            None
        );
        assert_eq!(first_duplicate(&[] as &[MatchPattern]), None);
        assert_eq!(
            first_duplicate(&[
                p("a.example.com/x"),
                p("b.example.com/*"),
                p("c.example.com/*"),
                p("B.example.com"),
                p("a.example.com/x"),
            ]),
            Some((3, 1))
        );
        assert_eq!(
            first_duplicate(&[
                p("c.example.com/*"),
                p("a.example.com/x"),
                p("a.example.com/x")
            ]),
            Some((2, 1))
        );
    }

    #[test]
    fn debug_and_display_show_the_pattern_as_written() {
        let p = MatchPattern::parse("Reg.Example.com:5000/team/*").unwrap();
        assert_eq!(p.to_string(), "Reg.Example.com:5000/team/*");
        assert_eq!(
            format!("{p:?}"),
            r#"MatchPattern("Reg.Example.com:5000/team/*")"#
        );
    }

    #[test]
    fn what_a_path_says_about_hosts_and_versions() {
        // (pattern, serves every image of its host, pins tags or digests)
        for (pattern, whole_host, pins) in [
            ("reg.example.com", true, false),
            ("reg.example.com/*", true, false),
            ("*.example.com:5000/*", true, false),
            ("reg.example.com/team/*", false, false),
            ("reg.example.com/team/app", false, false),
            ("reg.example.com/team/app:v1", false, true),
            ("reg.example.com/team/app:release-*", false, true),
            ("reg.example.com/team/app@sha256:*", false, true),
            ("reg.example.com/team/*/app", false, false),
        ] {
            let p = MatchPattern::parse(pattern).unwrap();
            assert_eq!(
                p.serves_whole_host(),
                whole_host,
                "{pattern} serves_whole_host"
            );
            assert_eq!(p.pins_version(), pins, "{pattern} pins_version");
        }
    }

    /// Every string over `alphabet` of at most `max` characters.
    fn strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn label_globs_agree_with_wildmatch_on_every_short_label() {
        // wildmatch shares no code with `label_matches`; labels hold no `?`, so its `?` never
        // comes up. Lowercase patterns (as parsed), texts in either case.
        let patterns = strings(&['a', 'b', '*'], 5);
        let texts = strings(&['a', 'b', 'A', 'B'], 4);
        for pattern in &patterns {
            let oracle = WildMatch::new(pattern);
            for text in &texts {
                assert_eq!(
                    label_matches(pattern.as_bytes(), text.as_bytes()),
                    oracle.matches(&text.to_ascii_lowercase()),
                    "{pattern:?} against {text:?}"
                );
            }
        }
    }
}
