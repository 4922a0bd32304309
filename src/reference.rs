//! Image references: parse and normalise `[DOMAIN/]REPOSITORY[:TAG][@DIGEST]`.
//!
//! The grammar is the one of `github.com/distribution/reference` (`regexp.go`,
//! `reference.go`), and normalisation follows its `ParseNormalizedNamed` / `TagNameOnly`: a name
//! without a registry host lives on `docker.io`, `index.docker.io` is `docker.io`, a one-component
//! Docker Hub name is an official image under `library/`, and a reference with neither tag nor
//! digest gets the tag `latest`. Patterns are matched against this normalised form.
//!
//! ```
//! use registry_auth::reference::ImageReference;
//!
//! let image = ImageReference::parse("ubuntu")?;
//! assert_eq!(image.as_str(), "docker.io/library/ubuntu:latest");
//! assert_eq!(image.repository(), "library/ubuntu");
//!
//! let image: ImageReference = "localhost:5000/team/app:v1".parse()?;
//! assert_eq!(image.host(), "localhost");
//! assert_eq!(image.port(), Some(5000));
//! assert_eq!(image.path_and_version(), "team/app:v1");
//!
//! let error = ImageReference::parse("example.com/Team/app").unwrap_err();
//! assert_eq!(error.position(), 12);
//! # Ok::<(), registry_auth::reference::ReferenceError>(())
//! ```
//!
//! Parsing is hand-written: no regular expressions, nothing allocated to parse into an
//! [`ImageRef`] (the normal form goes into a lent buffer, and only when it differs from the
//! input), and every input (including non-ASCII and control characters) either parses or yields
//! a [`ReferenceError`] that names the byte where a rule failed. A well-formed reference of up
//! to 128 bytes, the usual case, is checked sixteen bytes at a time with SIMD compares, the
//! grammar's rules applied to bit masks of byte classes; anything else (a malformed reference,
//! which needs the place where it breaks, an IPv6 host, a longer input) goes through a scan one
//! byte at a time that checks every rule in order. Wherever the first answers, the two give the
//! same answer, as the tests check.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

mod bulk;

/// Docker Hub's canonical domain (distribution's `defaultDomain`).
const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy domain, rewritten to [`DEFAULT_DOMAIN`] (`legacyDefaultDomain`).
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of official Docker Hub images (`officialRepoPrefix`).
const OFFICIAL_PREFIX: &str = "library/";
/// The tag a reference without tag or digest gets (`defaultTag`).
const DEFAULT_TAG: &str = "latest";
/// distribution's `RepositoryNameTotalLengthMax`. Since distribution/reference PR #9 (v0.6.0,
/// "Exclude domain from name length check") `Parse` compares it with `len(repo.path)` only, the
/// path *after* normalisation, so the implied `library/` counts and the domain does not.
const MAX_PATH_LEN: usize = 255;
/// `tag := [\w][\w.-]{0,127}`.
const MAX_TAG_LEN: usize = 128;
/// `digest-hex := [0-9a-fA-F]{32,}`.
const MIN_DIGEST_HEX: usize = 32;
/// Inputs longer than this are cut short in error messages.
const SHOWN_INPUT_MAX: usize = 100;

/// A parsed, normalised image reference such as `docker.io/library/ubuntu:latest`.
///
/// Holds one string, `DOMAIN/REPOSITORY[:TAG][@DIGEST]`, and the offsets of its parts; every
/// accessor returns a slice of it. Equality and hashing are those of the normalised string.
/// [`ImageRef`] is the same, borrowed: for lookups that allocate nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    full: String,
    layout: Layout,
}

/// Where the parts of a normalised reference end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Layout {
    /// End of the host (the domain without `:port`).
    host_end: usize,
    /// End of the domain; the next byte is the `/` before the repository.
    domain_end: usize,
    /// End of the repository (the name).
    name_end: usize,
    /// End of `:TAG`; equal to `name_end` when there is no tag. A digest follows at `tag_end + 1`.
    tag_end: usize,
    port: Option<u16>,
    /// The host holds no uppercase letter (a fact of the string, kept so that a case-folding
    /// look-up of the host can skip the folding).
    host_lowercase: bool,
}

impl ImageReference {
    /// Parses and normalises an image reference such as `registry.example.com:5000/team/app:v1`.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] naming the first rule the input breaks and the byte where it does.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let mut scratch = String::new();
        ImageRef::parse(input, &mut scratch).map(|image| image.to_owned())
    }

    /// The reference, borrowed.
    pub fn as_image_ref(&self) -> ImageRef<'_> {
        ImageRef {
            full: &self.full,
            layout: self.layout,
        }
    }

    /// The whole normalised reference: `docker.io/library/ubuntu:latest`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The registry domain with its port, if any: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        self.as_image_ref().domain()
    }

    /// The registry host without the port; an IPv6 host keeps its brackets: `[::1]`.
    pub fn host(&self) -> &str {
        self.as_image_ref().host()
    }

    /// The registry port, when the reference names one.
    pub fn port(&self) -> Option<u16> {
        self.layout.port
    }

    /// The repository path without the domain: `library/ubuntu`.
    pub fn repository(&self) -> &str {
        self.as_image_ref().repository()
    }

    /// The domain and the repository: `docker.io/library/ubuntu`.
    pub fn name(&self) -> &str {
        self.as_image_ref().name()
    }

    /// The tag: `latest` when none was written, `None` only for a digest-only reference.
    pub fn tag(&self) -> Option<&str> {
        self.as_image_ref().tag()
    }

    /// The digest, `ALGORITHM:HEX`, e.g. `sha256:` and 64 hex digits.
    pub fn digest(&self) -> Option<&str> {
        self.as_image_ref().digest()
    }

    /// Everything after `DOMAIN/`: `REPOSITORY[:TAG][@DIGEST]`.
    pub fn path_and_version(&self) -> &str {
        self.as_image_ref().path_and_version()
    }
}

/// A parsed, normalised image reference, borrowed: what [`ImageReference`] holds, without
/// owning it. Matching takes one, so a lookup from a string allocates nothing: when the input is
/// already in normal form (it names its registry and a tag or digest, as an ECR image does), the
/// reference *is* the input; otherwise the normal form is written into a buffer the caller lends,
/// whose capacity a loop reuses.
///
/// ```
/// use registry_auth::reference::ImageRef;
///
/// let mut scratch = String::new();
/// let image = ImageRef::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1", &mut scratch)?;
/// assert_eq!(image.repository(), "app");
/// assert!(scratch.is_empty(), "already normal: nothing was copied");
///
/// let image = ImageRef::parse("ubuntu", &mut scratch)?;
/// assert_eq!(image.as_str(), "docker.io/library/ubuntu:latest");
/// # Ok::<(), registry_auth::reference::ReferenceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageRef<'a> {
    full: &'a str,
    layout: Layout,
}

impl<'a> ImageRef<'a> {
    /// Parses and normalises `input`, writing the normal form into `scratch` (cleared first)
    /// only when it differs from the input.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] naming the first rule the input breaks and the byte where it does.
    pub fn parse(input: &'a str, scratch: &'a mut String) -> Result<Self, ReferenceError> {
        scan(input)
            .map(|parts| parts.into_image_ref(input, scratch))
            .map_err(|(position, kind)| ReferenceError {
                input: input.to_owned(),
                position,
                kind,
            })
    }

    /// The same reference, owned.
    pub fn to_owned(&self) -> ImageReference {
        ImageReference {
            full: self.full.to_owned(),
            layout: self.layout,
        }
    }

    /// The whole normalised reference: `docker.io/library/ubuntu:latest`.
    pub fn as_str(&self) -> &'a str {
        self.full
    }

    /// The registry domain with its port, if any: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &'a str {
        &self.full[..self.layout.domain_end]
    }

    /// The registry host without the port; an IPv6 host keeps its brackets: `[::1]`.
    pub fn host(&self) -> &'a str {
        &self.full[..self.layout.host_end]
    }

    /// The registry port, when the reference names one.
    pub fn port(&self) -> Option<u16> {
        self.layout.port
    }

    /// Whether the host holds no uppercase letter.
    pub(crate) fn host_is_lowercase(&self) -> bool {
        self.layout.host_lowercase
    }

    /// The repository path without the domain: `library/ubuntu`.
    pub fn repository(&self) -> &'a str {
        &self.full[self.layout.domain_end + 1..self.layout.name_end]
    }

    /// The domain and the repository: `docker.io/library/ubuntu`.
    pub fn name(&self) -> &'a str {
        &self.full[..self.layout.name_end]
    }

    /// The tag: `latest` when none was written, `None` only for a digest-only reference.
    pub fn tag(&self) -> Option<&'a str> {
        let Layout {
            name_end, tag_end, ..
        } = self.layout;
        (tag_end > name_end).then(|| &self.full[name_end + 1..tag_end])
    }

    /// The digest, `ALGORITHM:HEX`, e.g. `sha256:` and 64 hex digits.
    pub fn digest(&self) -> Option<&'a str> {
        self.full
            .get(self.layout.tag_end + 1..)
            .filter(|d| !d.is_empty())
    }

    /// Everything after `DOMAIN/`: `REPOSITORY[:TAG][@DIGEST]`.
    pub fn path_and_version(&self) -> &'a str {
        &self.full[self.layout.domain_end + 1..]
    }
}

impl<'a> From<&'a ImageReference> for ImageRef<'a> {
    fn from(image: &'a ImageReference) -> Self {
        image.as_image_ref()
    }
}

impl fmt::Display for ImageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.full)
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// An input that is not a valid image reference: the input, where a rule failed, and which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReferenceError {
    input: String,
    position: usize,
    kind: ReferenceErrorKind,
}

impl ReferenceError {
    /// The input exactly as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The byte offset in the input where the rule failed (its length when the input ended early).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Which rule failed.
    pub fn kind(&self) -> &ReferenceErrorKind {
        &self.kind
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render_error(&self.input, self.position, &self.kind, f)
    }
}

/// Which rule of the reference grammar an input broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceErrorKind {
    /// The input is empty.
    Empty,
    /// The input starts with a URL scheme such as `https://`.
    Scheme,
    /// The registry host is not dot-separated labels or a bracketed IPv6 address.
    InvalidDomain,
    /// The registry port is not decimal digits, or is above 65535.
    InvalidPort,
    /// A repository path component is empty or holds a character the grammar does not allow.
    InvalidPathComponent,
    /// The normalised repository path is longer than 255 characters.
    NameTooLong,
    /// The repository path contains an uppercase letter.
    Uppercase,
    /// The tag is empty, too long (over 128), or holds a character the grammar does not allow.
    InvalidTag,
    /// The digest is not `ALGORITHM:HEX` with the right number of lowercase hex digits.
    InvalidDigest,
    /// The digest algorithm is well formed but not sha256, sha384 or sha512.
    UnsupportedDigestAlgorithm,
    /// The whole input is 64 lowercase hex digits: an image ID, not a repository name.
    HexIdentifierAsName,
}

/// A failed rule: the byte offset and the kind.
type Failure = (usize, ReferenceErrorKind);

/// The parsed domain, as offsets into the input.
#[derive(Debug, PartialEq)]
struct DomainSpan {
    host_end: usize,
    end: usize,
    port: Option<u16>,
}

/// The checked parts of a reference, already normalised, borrowed from the input.
struct Parts<'a> {
    domain: &'a str,
    /// The domain is the input's own first component, not Docker Hub's implied or renamed one.
    domain_written: bool,
    host_end: usize,
    port: Option<u16>,
    host_lowercase: bool,
    prefix: &'static str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// The first component of a reference (up to its first '/' or '@'), read in one pass: the
/// separators in it, what distribution's domain test looks at, and whether it is a well-formed
/// `domain-name[:PORT]` (so the domain rules need not read it again).
struct FirstComponent {
    /// Where it ends: the first '/' or '@', else the input's end.
    end: usize,
    first_colon: Option<usize>,
    last_colon: Option<usize>,
    /// It holds a '.' or an uppercase letter.
    dot_or_upper: bool,
    /// It holds an uppercase letter.
    upper: bool,
    /// Up to its first ':' (or its end), it is a well-formed `domain-name`.
    name_ok: bool,
}

impl FirstComponent {
    fn read(bytes: &[u8]) -> Self {
        let mut first = FirstComponent {
            end: bytes.len(),
            first_colon: None,
            last_colon: None,
            dot_or_upper: false,
            upper: false,
            name_ok: true,
        };
        // The domain-name rules, checked on the way: no empty label, no label that starts
        // or ends with '-', nothing but letters, digits, '-' and '.'.
        let mut label_start = 0;
        let mut in_name = true;
        for (i, &b) in bytes.iter().enumerate() {
            if class(b) & (LOWER | DIGIT) != 0 {
                continue;
            }
            match b {
                b'/' | b'@' => {
                    first.end = i;
                    break;
                }
                b':' => {
                    if in_name {
                        in_name = false;
                        first.name_ok &= i > label_start && bytes[i - 1] != b'-';
                    }
                    first.first_colon = first.first_colon.or(Some(i));
                    first.last_colon = Some(i);
                }
                b'.' => {
                    first.dot_or_upper = true;
                    if in_name {
                        first.name_ok &= i > label_start && bytes[i - 1] != b'-';
                        label_start = i + 1;
                    }
                }
                b'-' => first.name_ok &= !in_name || i > label_start,
                b'A'..=b'Z' => {
                    first.dot_or_upper = true;
                    first.upper = true;
                }
                _ => first.name_ok &= !in_name,
            }
        }
        if in_name {
            let end = first.end;
            first.name_ok &= end > label_start && bytes[end - 1] != b'-';
        }
        first
    }

    /// distribution's `splitDockerDomain` test: `localhost`, or a `.` or `:`, or an uppercase
    /// letter.
    fn looks_like_domain(&self, bytes: &[u8]) -> bool {
        self.dot_or_upper || self.first_colon.is_some() || &bytes[..self.end] == b"localhost"
    }

    /// `domain := host [':' port]`: the whole component, which a '/' ends.
    fn domain(&self, bytes: &[u8]) -> Result<DomainSpan, Failure> {
        let end = self.end;
        if !self.name_ok {
            // An IPv6 host, or a malformed one: the rules read it again and say where it
            // breaks.
            return scan_domain(bytes, end);
        }
        match self.first_colon {
            None => Ok(DomainSpan {
                host_end: end,
                end,
                port: None,
            }),
            Some(colon) => Ok(DomainSpan {
                host_end: colon,
                end,
                port: Some(scan_port(bytes, colon + 1, end)?),
            }),
        }
    }
}

/// Checks every rule, left to right, so the first failure is the one reported.
fn scan(input: &str) -> Result<Parts<'_>, Failure> {
    use ReferenceErrorKind as K;
    let bytes = input.as_bytes();
    if input.is_empty() {
        return Err((0, K::Empty));
    }
    // distribution's ParseNormalizedNamed refuses exactly this (`^[a-f0-9]{64}$`), before all else.
    if bytes.len() == 64 && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err((0, K::HexIdentifierAsName));
    }
    // A well-formed reference is checked sixteen bytes at a time; anything else (a malformed
    // one, which needs the place where it breaks, an IPv6 host, a very long one) byte by byte.
    let split = match bulk::split(bytes) {
        Some(split) => split,
        None => split_bytewise(input)?,
    };
    finish(input, split)
}

/// Where a reference's parts lie, its domain and repository path already checked.
#[derive(Debug, PartialEq)]
struct Split {
    /// The written domain, when the first component is one.
    domain: Option<DomainSpan>,
    /// The first component holds no uppercase letter.
    first_lowercase: bool,
    /// Where the repository path starts: after the domain's `/`, else 0.
    path_start: usize,
    /// Where the repository path ends: its tag's `:`, its digest's `@`, or the input's end.
    name_end: usize,
    /// The `:` before the tag.
    tag_colon: Option<usize>,
    /// The `@` before the digest.
    at: Option<usize>,
}

/// Splits `input` and checks its domain and path, one byte at a time, left to right.
fn split_bytewise(input: &str) -> Result<Split, Failure> {
    use ReferenceErrorKind as K;
    let bytes = input.as_bytes();
    // One pass finds every separator the rules below need. Neither the name nor the tag may
    // hold '@', so the first one starts the digest; a tag is what follows the last ':' when no
    // '/' comes after it (else the ':' is a port's). The first component (up to the first '/')
    // is read once, for what it says as a domain too.
    let first = FirstComponent::read(bytes);
    let mut at = None;
    let (mut first_colon, mut last_colon) = (first.first_colon, first.last_colon);
    let (mut first_slash, mut last_slash) = (None, None);
    for (i, &b) in bytes.iter().enumerate().skip(first.end) {
        if class(b) & SEPARATOR == 0 {
            continue;
        }
        if b == b'@' {
            at = Some(i);
            break;
        } else if b == b':' {
            first_colon = first_colon.or(Some(i));
            last_colon = Some(i);
        } else {
            first_slash = first_slash.or(Some(i));
            last_slash = Some(i);
        }
    }
    // A scheme's ':' comes before any '@' (a name never holds one).
    if first_colon.is_some_and(|c| has_scheme(bytes, c)) {
        return Err((0, K::Scheme));
    }
    let tag_colon = match (last_colon, last_slash) {
        (Some(c), Some(s)) if c > s => Some(c),
        (Some(c), None) => Some(c),
        _ => None,
    };
    let name_end = tag_colon.or(at).unwrap_or(bytes.len());

    // splitDockerDomain: only a first component followed by '/' can be a domain.
    let first_slash = first_slash.filter(|&s| s < name_end);
    let (domain, path_start) = match first_slash {
        // The first '/' ends the first component.
        Some(slash) if first.looks_like_domain(bytes) => (Some(first.domain(bytes)?), slash + 1),
        _ => (None, 0),
    };
    scan_path(bytes, path_start, name_end)?;
    Ok(Split {
        domain,
        first_lowercase: !first.upper,
        path_start,
        name_end,
        tag_colon,
        at,
    })
}

/// The rest of the rules, on a split whose domain and path are checked: the name's length,
/// the tag and the digest; and the normalised parts.
fn finish(input: &str, split: Split) -> Result<Parts<'_>, Failure> {
    let bytes = input.as_bytes();
    let Split {
        domain,
        first_lowercase,
        path_start,
        name_end,
        tag_colon,
        at,
    } = split;
    let name_tag_end = at.unwrap_or(bytes.len());
    let (domain, domain_written, host_end, port, host_lowercase) = match domain {
        Some(d) if &input[..d.end] != LEGACY_DEFAULT_DOMAIN => {
            (&input[..d.end], true, d.host_end, d.port, first_lowercase)
        }
        _ => (DEFAULT_DOMAIN, false, DEFAULT_DOMAIN.len(), None, true),
    };
    let path = &input[path_start..name_end];
    let prefix = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        OFFICIAL_PREFIX
    } else {
        ""
    };
    if prefix.len() + path.len() > MAX_PATH_LEN {
        return Err((
            path_start + (MAX_PATH_LEN - prefix.len()),
            ReferenceErrorKind::NameTooLong,
        ));
    }

    if let Some(colon) = tag_colon {
        scan_tag(bytes, colon + 1, name_tag_end)?;
    }
    if let Some(at) = at {
        scan_digest(input, at + 1)?;
    }
    Ok(Parts {
        domain,
        domain_written,
        host_end,
        port,
        host_lowercase,
        prefix,
        path,
        tag: tag_colon.map(|colon| &input[colon + 1..name_tag_end]),
        digest: at.map(|at| &input[at + 1..]),
    })
}

/// Byte classes for the scans, one table lookup per byte.
const LOWER: u8 = 1;
const DIGIT: u8 = 2;
const UPPER: u8 = 4;
/// `[A-Za-z0-9_]`: a tag's word characters.
const WORD: u8 = 8;
/// `@`, `:` and `/`: where a reference's parts meet.
const SEPARATOR: u8 = 16;
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_lowercase() {
            LOWER | WORD
        } else if c.is_ascii_digit() {
            DIGIT | WORD
        } else if c.is_ascii_uppercase() {
            UPPER | WORD
        } else if c == b'_' {
            WORD
        } else if c == b'@' || c == b':' || c == b'/' {
            SEPARATOR
        } else {
            0
        };
        b += 1;
    }
    table
};

fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

impl<'a> Parts<'a> {
    /// The reference these parts make: `input` itself when it is already in normal form, else
    /// the normal form written into `scratch`, adding `:latest` when there is neither tag nor
    /// digest.
    fn into_image_ref(self, input: &'a str, scratch: &'a mut String) -> ImageRef<'a> {
        let tag = match (self.tag, self.digest) {
            (None, None) => Some(DEFAULT_TAG),
            (tag, _) => tag,
        };
        let domain_end = self.domain.len();
        let name_end = domain_end + 1 + self.prefix.len() + self.path.len();
        let tag_end = name_end + tag.map_or(0, |t| t.len() + 1);
        let layout = Layout {
            host_end: self.host_end,
            domain_end,
            name_end,
            tag_end,
            port: self.port,
            host_lowercase: self.host_lowercase,
        };
        // The input names its registry as is, needs no `library/`, and has a tag or digest:
        // normalisation adds nothing, so the input is the normal form.
        let already_normal = self.domain_written
            && self.prefix.is_empty()
            && (self.tag.is_some() || self.digest.is_some());
        if already_normal {
            return ImageRef {
                full: input,
                layout,
            };
        }
        scratch.clear();
        scratch.push_str(self.domain);
        scratch.push('/');
        scratch.push_str(self.prefix);
        scratch.push_str(self.path);
        if let Some(tag) = tag {
            scratch.push(':');
            scratch.push_str(tag);
        }
        if let Some(digest) = self.digest {
            scratch.push('@');
            scratch.push_str(digest);
        }
        ImageRef {
            full: scratch,
            layout,
        }
    }
}

/// Whether the input starts with `scheme://` (RFC 3986 scheme characters), `colon` being its
/// first `:`.
fn has_scheme(bytes: &[u8], colon: usize) -> bool {
    // The cheap test first: almost every reference's first ':' is a port's or a tag's.
    if !bytes[colon..].starts_with(b"://") {
        return false;
    }
    let scheme = &bytes[..colon];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `domain := host [':' port]` over `bytes[..end]`.
fn scan_domain(bytes: &[u8], end: usize) -> Result<DomainSpan, Failure> {
    let host_end = if bytes.first() == Some(&b'[') {
        scan_ipv6(bytes, end)?
    } else {
        scan_domain_name(bytes, end)?
    };
    if host_end == end {
        return Ok(DomainSpan {
            host_end,
            end,
            port: None,
        });
    }
    if bytes[host_end] != b':' {
        return Err((host_end, ReferenceErrorKind::InvalidDomain));
    }
    let port = scan_port(bytes, host_end + 1, end)?;
    Ok(DomainSpan {
        host_end,
        end,
        port: Some(port),
    })
}

/// `domain-name := domain-component ('.' domain-component)*` with
/// `domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]`, over `bytes[..end]`
/// up to its first `:` (where a port starts): returns where the name ends.
fn scan_domain_name(bytes: &[u8], end: usize) -> Result<usize, Failure> {
    let fail = |at| Err((at, ReferenceErrorKind::InvalidDomain));
    let mut label_start = 0;
    let mut name_end = end;
    for (i, &b) in bytes[..end].iter().enumerate() {
        if class(b) & (LOWER | DIGIT | UPPER) != 0 {
            continue;
        }
        match b {
            b':' => {
                name_end = i;
                break;
            }
            b'.' => {
                if i == label_start {
                    return fail(i);
                }
                if bytes[i - 1] == b'-' {
                    return fail(i - 1);
                }
                label_start = i + 1;
            }
            b'-' if i == label_start => return fail(i),
            b'-' => {}
            _ => return fail(i),
        }
    }
    // The last label: an empty one points at the trailing dot just before it.
    if name_end == label_start {
        return fail(name_end.saturating_sub(1));
    }
    if bytes[name_end - 1] == b'-' {
        return fail(name_end - 1);
    }
    Ok(name_end)
}

/// `'[' [a-fA-F0-9:]+ ']'` that is also a real IPv6 address; returns the end of the `]`.
fn scan_ipv6(bytes: &[u8], end: usize) -> Result<usize, Failure> {
    let fail = |at| Err((at, ReferenceErrorKind::InvalidDomain));
    let Some(close) = bytes[..end].iter().position(|&b| b == b']') else {
        return fail(0);
    };
    let inner = &bytes[1..close];
    if let Some(i) = inner
        .iter()
        .position(|&b| !(b.is_ascii_hexdigit() || b == b':'))
    {
        return fail(1 + i);
    }
    // distribution's character class alone takes `[:]` or `[abc]`; a host has to be an address.
    let is_address = std::str::from_utf8(inner)
        .ok()
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
        .is_some();
    if !is_address {
        return fail(0);
    }
    Ok(close + 1)
}

/// `port-number := [0-9]+`, and at most 65535, over `bytes[start..end]`.
fn scan_port(bytes: &[u8], start: usize, end: usize) -> Result<u16, Failure> {
    let fail = |at| Err((at, ReferenceErrorKind::InvalidPort));
    if start == end {
        return fail(start);
    }
    let mut value: u32 = 0;
    for (i, &b) in bytes.iter().enumerate().take(end).skip(start) {
        if !b.is_ascii_digit() {
            return fail(i);
        }
        value = value.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    u16::try_from(value).or_else(|_| fail(start))
}

/// `path-component ('/' path-component)*` with
/// `path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`, over `bytes[start..end]`.
fn scan_path(bytes: &[u8], start: usize, end: usize) -> Result<(), Failure> {
    let fail = |at: usize| {
        let kind = match bytes.get(at) {
            Some(b) if at < end && b.is_ascii_uppercase() => ReferenceErrorKind::Uppercase,
            _ => ReferenceErrorKind::InvalidPathComponent,
        };
        Err((at, kind))
    };
    let is_alnum = |b: u8| class(b) & (LOWER | DIGIT) != 0;
    let mut i = start;
    loop {
        // Here an alphanumeric run must begin: at a component's start or after a separator.
        if i >= end || !is_alnum(bytes[i]) {
            return fail(i);
        }
        while i < end && is_alnum(bytes[i]) {
            i += 1;
        }
        if i == end {
            return Ok(());
        }
        match bytes[i] {
            b'/' | b'.' => i += 1,
            b'_' => {
                i += if bytes.get(i + 1) == Some(&b'_') && i + 1 < end {
                    2
                } else {
                    1
                }
            }
            b'-' => {
                while i < end && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return fail(i),
        }
    }
}

/// `tag := [\w][\w.-]{0,127}` over `bytes[start..end]`.
fn scan_tag(bytes: &[u8], start: usize, end: usize) -> Result<(), Failure> {
    let fail = |at| Err((at, ReferenceErrorKind::InvalidTag));
    if start == end {
        return fail(start);
    }
    if class(bytes[start]) & WORD == 0 {
        return fail(start);
    }
    for (k, &b) in bytes[start + 1..end].iter().enumerate() {
        let i = start + 1 + k;
        if i - start == MAX_TAG_LEN || (class(b) & WORD == 0 && b != b'.' && b != b'-') {
            return fail(i);
        }
    }
    Ok(())
}

/// `digest := algorithm ':' hex` from `start` to the end of the input, then the supported set:
/// sha256, sha384 and sha512 with exactly 64, 96 and 128 lowercase hex digits (what go-digest's
/// `Validate` demands of its registered algorithms).
fn scan_digest(input: &str, start: usize) -> Result<(), Failure> {
    use ReferenceErrorKind as K;
    let bytes = input.as_bytes();
    let Some(colon) = bytes[start..]
        .iter()
        .position(|&b| b == b':')
        .map(|c| start + c)
    else {
        // No ':' at all: blame the first character that cannot belong to an algorithm name.
        let bad = bytes[start..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.')))
            .map_or(bytes.len(), |i| start + i);
        return Err((bad, K::InvalidDigest));
    };
    // algorithm := component ([-_+.] component)*, component := [A-Za-z][A-Za-z0-9]*
    let mut need_letter = true;
    for (i, &b) in bytes.iter().enumerate().take(colon).skip(start) {
        let ok = if need_letter {
            b.is_ascii_alphabetic()
        } else {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.')
        };
        if !ok {
            return Err((i, K::InvalidDigest));
        }
        need_letter = !b.is_ascii_alphanumeric();
    }
    if need_letter {
        return Err((colon, K::InvalidDigest));
    }
    let hex_start = colon + 1;
    if let Some(i) = bytes[hex_start..]
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
    {
        return Err((hex_start + i, K::InvalidDigest));
    }
    let hex_len = bytes.len() - hex_start;
    if hex_len < MIN_DIGEST_HEX {
        return Err((bytes.len(), K::InvalidDigest));
    }
    let expected = match &input[start..colon] {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err((start, K::UnsupportedDigestAlgorithm)),
    };
    if hex_len != expected {
        return Err((hex_start + hex_len.min(expected), K::InvalidDigest));
    }
    if let Some(i) = bytes[hex_start..].iter().position(u8::is_ascii_uppercase) {
        return Err((hex_start + i, K::InvalidDigest));
    }
    Ok(())
}

/// `invalid image reference "INPUT": RULE (at byte N, 'C'); FIX`.
fn render_error(
    input: &str,
    position: usize,
    kind: &ReferenceErrorKind,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let found = input.get(position..).and_then(|rest| rest.chars().next());
    write!(f, "invalid image reference {}: ", shown(input))?;
    write!(f, "{} (at byte {position}", rule(input, position, kind))?;
    match found {
        Some(c) => write!(f, ", {c:?}")?,
        None if !input.is_empty() => f.write_str(", end of input")?,
        None => {}
    }
    write!(f, "); {}", fix(input, position, found, kind))
}

/// The rule that failed, as a clause.
fn rule(input: &str, position: usize, kind: &ReferenceErrorKind) -> Cow<'static, str> {
    use ReferenceErrorKind as K;
    match kind {
        K::Empty => "the reference is empty".into(),
        K::Scheme => "an image reference has no URL scheme".into(),
        K::InvalidDomain => concat!(
            "a registry host is dot-separated labels of letters, digits and inner '-', ",
            "or an IPv6 address in brackets"
        )
        .into(),
        K::InvalidPort => "a registry port is decimal digits from 0 to 65535".into(),
        K::InvalidPathComponent => concat!(
            "a repository path is '/'-separated components of lowercase letters and digits, ",
            "joined inside a component by '.', '_', '__' or dashes"
        )
        .into(),
        K::NameTooLong => {
            format!("a repository path must not be more than {MAX_PATH_LEN} characters").into()
        }
        K::Uppercase => "repository name must be lowercase".into(),
        K::InvalidTag => format!(
            "a tag is 1 to {MAX_TAG_LEN} letters, digits, '_', '.' or '-', \
             and starts with a letter, digit or '_'"
        )
        .into(),
        K::InvalidDigest => concat!(
            "a digest is ALGORITHM:HEX, with 64 (sha256), 96 (sha384) ",
            "or 128 (sha512) lowercase hex digits"
        )
        .into(),
        K::UnsupportedDigestAlgorithm => {
            let rest = input.get(position..).unwrap_or_default();
            let algorithm = rest.split(':').next().unwrap_or_default();
            format!("digest algorithm {} is not supported", shown(algorithm)).into()
        }
        K::HexIdentifierAsName => {
            "a 64-character hex string is an image ID, not a repository name".into()
        }
    }
}

/// What to do about it, chosen by the rule and the character found where it failed.
fn fix(
    input: &str,
    position: usize,
    found: Option<char>,
    kind: &ReferenceErrorKind,
) -> Cow<'static, str> {
    use ReferenceErrorKind as K;
    if found.is_some_and(|c| c.is_whitespace() || c.is_control()) {
        return "remove the whitespace or control character".into();
    }
    match (kind, found) {
        (K::Empty, _) => {
            r#"name an image, e.g. "ubuntu" or "registry.example.com/team/app:v1""#.into()
        }
        (K::Scheme, _) => {
            let rest = input.find("://").map_or(input, |i| &input[i + 3..]);
            format!("drop the scheme and write {}", shown(rest)).into()
        }
        (K::InvalidDomain, Some('.')) => {
            "remove the empty label (a leading, doubled or trailing '.')".into()
        }
        (K::InvalidDomain, Some('-')) => "a host label cannot start or end with '-'".into(),
        (K::InvalidDomain, Some('[' | ']')) => {
            r#"write an IPv6 host as a full address in brackets, e.g. "[::1]:5000/repo""#.into()
        }
        (K::InvalidDomain, Some(':')) => "write the host name before the ':'".into(),
        (K::InvalidPort, Some('0'..='9')) => "use a port from 0 to 65535".into(),
        (K::InvalidPort, None | Some('/')) => {
            "write the port digits after the ':', or remove the ':'".into()
        }
        (K::InvalidPort, Some(_)) => {
            r#"a port is digits only, e.g. "registry.example.com:5000/repo""#.into()
        }
        (K::InvalidPathComponent, None | Some('/' | ':' | '@')) => concat!(
            "remove the empty path component (a leading, trailing or doubled '/'), ",
            "or write the missing name"
        )
        .into(),
        (K::InvalidPathComponent, Some('.' | '_' | '-')) => {
            "a separator ('.', '_', '__' or dashes) must stand between two letters or digits".into()
        }
        (K::NameTooLong, _) => concat!(
            "shorten the repository path (a Docker Hub name counts its implied ",
            "\"library/\" prefix; the domain never counts)"
        )
        .into(),
        (K::Uppercase, _) => {
            format!("write it as {}", shown(&lowercase_path(input, position))).into()
        }
        (K::InvalidTag, None | Some('@')) => "write a tag after the ':', or remove the ':'".into(),
        (K::InvalidTag, Some('.' | '-')) => "a tag cannot start with '.' or '-'".into(),
        (K::InvalidTag, Some(c)) if c.is_ascii_alphanumeric() || c == '_' => {
            format!("shorten the tag to {MAX_TAG_LEN} characters").into()
        }
        (K::InvalidDigest, Some('A'..='F')) => "write the hex digits in lowercase".into(),
        (K::InvalidDigest, _) => {
            r#"copy the digest as the registry printed it, e.g. "@sha256:" and 64 hex digits"#
                .into()
        }
        (K::UnsupportedDigestAlgorithm, _) => "use a sha256, sha384 or sha512 digest".into(),
        (K::HexIdentifierAsName, _) => {
            "to pin an image by content write REPOSITORY@sha256:<these 64 hex digits>".into()
        }
        (_, Some(c)) => format!("remove or replace {c:?}").into(),
        (_, None) => "complete the reference".into(),
    }
}

/// The input with the repository path lowercased from `position` to the tag or digest.
fn lowercase_path(input: &str, position: usize) -> String {
    let Some(rest) = input.get(position..) else {
        return input.to_owned();
    };
    let end = rest.find([':', '@']).map_or(input.len(), |i| position + i);
    let mut fixed = String::with_capacity(input.len());
    fixed.push_str(&input[..position]);
    fixed.push_str(&input[position..end].to_ascii_lowercase());
    fixed.push_str(&input[end..]);
    fixed
}

/// `s` quoted with `{:?}` (so control characters are escaped), cut short when long.
fn shown(s: &str) -> String {
    if s.len() <= SHOWN_INPUT_MAX {
        return format!("{s:?}");
    }
    let mut cut = SHOWN_INPUT_MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}... ({} bytes in all)", &s[..cut], s.len())
}

#[cfg(test)]
mod tests;
